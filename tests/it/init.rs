//! `POST /init` (spec §5.4, §6.2; R4, R5, R12).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::Envd;
use crate::support::process::start_req;
use serde_json::json;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Posts `body` as-is (no content type when empty, like Wrenn's host).
async fn init_raw(envd: &Envd, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = envd.http.post(envd.url("/init"));
    if !body.is_empty() {
        req = req
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(
        resp.headers()
            .get("x-envd-version")
            .map(|v| v.to_str().unwrap()),
        Some(VERSION),
        "every /init response carries X-Envd-Version"
    );
    resp
}

async fn init(envd: &Envd, body: serde_json::Value) -> u16 {
    init_raw(envd, &body.to_string(), &[])
        .await
        .status()
        .as_u16()
}

async fn envs(envd: &Envd, token: Option<&str>) -> serde_json::Value {
    let mut req = envd.http.get(envd.url("/envs"));
    if let Some(t) = token {
        req = req.header("x-access-token", t);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn stdout(envd: &Envd, req: serde_json::Value) -> String {
    let run = envd.run(req).await;
    assert_eq!(run.end_stream, json!({}), "{run:?}");
    String::from_utf8(run.output("stdout")).unwrap()
}

#[tokio::test]
async fn success_is_204_no_store_with_or_without_body() {
    let envd = Envd::start();
    for body in ["", "{}", "null", "{\"unknownField\": [1, 2]}"] {
        let resp = init_raw(&envd, body, &[]).await;
        assert_eq!(resp.status(), 204, "{body:?}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    let health: serde_json::Value = envd
        .http
        .get(envd.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["version"], VERSION);
}

#[tokio::test]
async fn invalid_bodies_are_400_and_change_nothing() {
    let envd = Envd::start();
    for body in [
        "{",
        "[]",
        "{\"envVars\": {\"A\": 1}}",
        "{\"timestamp\": \"not a time\"}",
        "{\"hyperloopIP\": \"events\"}",
        // Valid fields next to a bad one are not applied either.
        "{\"envVars\": {\"A\": \"1\"}, \"defaultUser\": 5}",
    ] {
        let resp = init_raw(&envd, body, &[]).await;
        assert_eq!(resp.status(), 400, "{body}");
    }
    assert_eq!(envs(&envd, None).await, json!({"WRENN_SANDBOX": "true"}));
}

/// `(body, headers, expected status, expected plain-text body)`.
type InitCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    u16,
    &'static str,
);

#[tokio::test]
async fn access_token_rules() {
    let envd = Envd::start();
    // Malformed tokens: 400 before anything else.
    for body in [
        r#"{"accessToken": ""}"#,
        r#"{"accessToken": "a\u0062c"}"#,
        r#"{"accessToken": "a\\b"}"#,
        r#"{"accessToken": 7}"#,
    ] {
        assert_eq!(init_raw(&envd, body, &[]).await.status(), 400, "{body}");
    }
    // No token set: anything goes; absent token clears (a no-op here).
    assert_eq!(init(&envd, json!({})).await, 204);
    assert_eq!(init(&envd, json!({"accessToken": null})).await, 204);
    assert_eq!(envs(&envd, None).await["WRENN_SANDBOX"], "true");
    // First-time setup.
    assert_eq!(init(&envd, json!({"accessToken": "secret-1"})).await, 204);
    let guarded = envd.http.get(envd.url("/envs")).send().await.unwrap();
    assert_eq!(guarded.status(), 401);

    let cases: &[InitCase] = &[
        ("{}", &[], 401, "access token reset not authorized"),
        ("", &[], 401, "access token reset not authorized"),
        // The header does not count: /init reads the body's token only.
        (
            "{}",
            &[("x-access-token", "secret-1")],
            401,
            "access token reset not authorized",
        ),
        (
            r#"{"accessToken": "wrong"}"#,
            &[],
            401,
            "access token validation failed",
        ),
        (
            r#"{"accessToken": "wrong", "envVars": {"LEAK": "1"}}"#,
            &[("x-access-token", "secret-1")],
            401,
            "access token validation failed",
        ),
        (
            r#"{"accessToken": "wrong", "timestamp": "2000-01-01T00:00:00Z"}"#,
            &[],
            401,
            "access token validation failed",
        ),
        (r#"{"accessToken": "secret-1"}"#, &[], 204, ""),
        (
            r#"{"accessToken": "secret-1", "envVars": {"OK": "1"}}"#,
            &[],
            204,
            "",
        ),
    ];
    for (body, headers, status, text) in cases {
        let resp = init_raw(&envd, body, headers).await;
        assert_eq!(resp.status().as_u16(), *status, "{body} {headers:?}");
        if *status == 401 {
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain")
            );
            assert_eq!(resp.text().await.unwrap(), *text);
        }
    }
    // Rejected requests changed nothing; the accepted one applied its data.
    let vars = envs(&envd, Some("secret-1")).await;
    assert_eq!(vars.get("LEAK"), None);
    assert_eq!(vars["OK"], "1");
}

#[tokio::test]
async fn timestamp_guard_skips_stale_data() {
    let envd = Envd::start();
    let step = |ts: Option<&str>, v: &str| {
        let mut body = json!({"envVars": {"V": v}});
        if let Some(ts) = ts {
            body["timestamp"] = json!(ts);
        }
        body
    };
    assert_eq!(
        init(&envd, step(Some("2030-01-01T00:00:00Z"), "1")).await,
        204
    );
    assert_eq!(envs(&envd, None).await["V"], "1");
    // Older, equal, and equal in another offset: skipped, still 204.
    for ts in [
        "2029-12-31T23:59:59.999Z",
        "2030-01-01T00:00:00Z",
        "2030-01-01T01:00:00+01:00",
    ] {
        assert_eq!(init(&envd, step(Some(ts), "stale")).await, 204, "{ts}");
        assert_eq!(envs(&envd, None).await["V"], "1", "{ts}");
    }
    // Stale requests skip every field, not only env vars.
    let stale = json!({"timestamp": "2001-01-01T00:00:00Z", "defaultWorkdir": "/tmp"});
    assert_eq!(init(&envd, stale).await, 204);
    assert_eq!(stdout(&envd, start_req("pwd", &[])).await, "/root\n");
    // Strictly newer (by a nanosecond): applied.
    assert_eq!(
        init(&envd, step(Some("2030-01-01T00:00:00.000000001Z"), "2")).await,
        204
    );
    assert_eq!(envs(&envd, None).await["V"], "2");
    // No timestamp: always applied, and the newest stays.
    assert_eq!(init(&envd, step(None, "3")).await, 204);
    assert_eq!(envs(&envd, None).await["V"], "3");
    assert_eq!(
        init(&envd, step(Some("2030-01-01T00:00:00Z"), "stale")).await,
        204
    );
    assert_eq!(envs(&envd, None).await["V"], "3");
}

/// A passwd user created for one test and deleted afterwards.
struct TestUser {
    name: String,
    home: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestUser {
    fn create() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("home");
        let name = format!(
            "envdt{}x{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                % 100_000
        );
        let status = Command::new("useradd")
            .args(["-M", "-d"])
            .arg(&home)
            .args(["-s", "/bin/sh", &name])
            .status()
            .expect("useradd");
        assert!(status.success(), "useradd {name}");
        let user = Self {
            name,
            home,
            _dir: dir,
        };
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, &user.name])
                .output()
                .unwrap();
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        for d in [user.home.clone(), user.home.join("sub")] {
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::chown(&d, Some(uid), Some(gid)).unwrap();
        }
        user
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

#[tokio::test]
async fn r4_default_user_applies_to_processes_and_paths() {
    let user = TestUser::create();
    let envd = Envd::start();
    assert_eq!(stdout(&envd, start_req("id", &["-un"])).await, "root\n");
    assert_eq!(init(&envd, json!({"defaultUser": user.name})).await, 204);
    assert_eq!(
        stdout(&envd, start_req("id", &["-un"])).await,
        format!("{}\n", user.name)
    );
    // Relative cwd resolves under the passwd home; no cwd means the home.
    let mut req = start_req("pwd", &[]);
    req["process"]["cwd"] = json!("sub");
    assert_eq!(
        stdout(&envd, req).await,
        format!("{}\n", user.home.join("sub").display())
    );
    assert_eq!(
        stdout(&envd, start_req("pwd", &[])).await,
        format!("{}\n", user.home.display())
    );
    assert_eq!(
        stdout(&envd, start_req("/bin/sh", &["-c", "printf %s \"$HOME\""])).await,
        user.home.display().to_string()
    );
    // An empty defaultUser keeps the current one.
    assert_eq!(init(&envd, json!({"defaultUser": ""})).await, 204);
    assert_eq!(
        stdout(&envd, start_req("id", &["-un"])).await,
        format!("{}\n", user.name)
    );
}

#[tokio::test]
async fn r5_default_workdir_applies_to_empty_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = std::fs::canonicalize(dir.path()).unwrap();
    let envd = Envd::start();
    assert_eq!(init(&envd, json!({"defaultWorkdir": workdir})).await, 204);
    assert_eq!(
        stdout(&envd, start_req("pwd", &[])).await,
        format!("{}\n", workdir.display())
    );
    // Relative paths stay relative to the home directory (spec §2.2).
    let mut req = start_req("pwd", &[]);
    req["process"]["cwd"] = json!(".");
    assert_eq!(stdout(&envd, req).await, "/root\n");
    // An empty defaultWorkdir keeps the current one.
    assert_eq!(init(&envd, json!({"defaultWorkdir": ""})).await, 204);
    assert_eq!(
        stdout(&envd, start_req("pwd", &[])).await,
        format!("{}\n", workdir.display())
    );
}

async fn wait_for_file(path: &Path, pred: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if pred(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never matched; last: {text:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn hyperloop_ip_rewrites_hosts_and_sets_events_address() {
    let envd = Envd::start();
    let hosts = envd.scratch().join("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.1\tlocalhost\n# keep this comment\n10.9.9.9 events.wrenn.local\n::1 ip6-localhost\n",
    )
    .unwrap();
    assert_eq!(init(&envd, json!({"hyperloopIP": "10.1.2.3"})).await, 204);
    let text = wait_for_file(&hosts, |t| t.contains("10.1.2.3\tevents.wrenn.local")).await;
    assert_eq!(
        text,
        "127.0.0.1\tlocalhost\n# keep this comment\n::1 ip6-localhost\n10.1.2.3\tevents.wrenn.local\n"
    );
    assert_eq!(
        envs(&envd, None).await["WRENN_EVENTS_ADDRESS"],
        "http://10.1.2.3"
    );
    assert_eq!(
        stdout(&envd, start_req("printenv", &["WRENN_EVENTS_ADDRESS"])).await,
        "http://10.1.2.3\n"
    );
    // A new address replaces the entry.
    assert_eq!(init(&envd, json!({"hyperloopIP": "10.1.2.4"})).await, 204);
    let text = wait_for_file(&hosts, |t| t.contains("10.1.2.4\tevents.wrenn.local")).await;
    assert!(!text.contains("10.1.2.3"), "{text}");
    assert_eq!(text.matches("events.wrenn.local").count(), 1, "{text}");
    assert_eq!(
        envs(&envd, None).await["WRENN_EVENTS_ADDRESS"],
        "http://10.1.2.4"
    );
}

#[tokio::test]
async fn hosts_file_flag_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("custom-hosts");
    let envd = Envd::start_with(&["--hosts-file", hosts.to_str().unwrap()]);
    assert_eq!(
        init(&envd, json!({"hyperloopIP": "192.168.7.7"})).await,
        204
    );
    wait_for_file(&hosts, |t| t == "192.168.7.7\tevents.wrenn.local\n").await;
}

/// E2B's NFS options (spec §5.4), as `mount` must receive them.
const NFS_OPTIONS: &str = "mountproto=tcp,mountport=2049,proto=tcp,port=2049,nfsvers=3,noacl,fg,hard,sync,rsize=1048576,wsize=1048576,noac,lookupcache=none";

/// A directory with fake `mount` and `umount` programs that log their
/// arguments to `log`; `mount` fails while `fail` exists and hangs while
/// `slow` exists. Nothing is really mounted.
struct FakeMount {
    dir: tempfile::TempDir,
}

impl FakeMount {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        for (name, body) in [
            (
                "mount",
                format!(
                    "[ -e {d}/slow ] && sleep 30\n[ -e {d}/fail ] && {{ echo 'mount.nfs: access denied by server' >&2; exit 32; }}\necho \"mount $*\" >> {d}/log\n"
                ),
            ),
            ("umount", format!("echo \"umount $*\" >> {d}/log\n")),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self { dir }
    }

    fn envd(&self, args: &[&str]) -> Envd {
        let path = format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap()
        );
        Envd::start_with_env(args, &[("PATH", &path)])
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn set(&self, flag: &str, on: bool) {
        let path = self.dir.path().join(flag);
        if on {
            std::fs::write(path, "").unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[tokio::test]
async fn volume_mounts_are_synchronous_and_keyed_by_lifecycle_id() {
    let fake = FakeMount::new();
    let envd = fake.envd(&[]);
    let point = envd.scratch().join("a/b/mnt");
    let mount_line = format!(
        "mount -t nfs -o {NFS_OPTIONS} 10.0.0.2:/export {}",
        point.display()
    );
    let body = |id: &str| json!({"lifecycleID": id, "volumeMounts": [{"nfs_target": "10.0.0.2:/export", "path": point}]});
    assert_eq!(init(&envd, body("L1")).await, 204);
    // Mounted before /init answered, mount point created first.
    assert!(point.is_dir());
    assert_eq!(fake.log(), vec![mount_line.clone()]);

    // Same lifecycle, same mounts: nothing to do.
    assert_eq!(init(&envd, body("L1")).await, 204);
    assert_eq!(fake.log().len(), 1);

    // A new lifecycle remounts.
    assert_eq!(init(&envd, body("L2")).await, 204);
    assert_eq!(
        fake.log(),
        vec![
            mount_line.clone(),
            format!("umount -l {}", point.display()),
            mount_line.clone()
        ]
    );

    // A failing mount is a 400 with mount's message as plain text.
    fake.set("fail", true);
    let resp = init_raw(&envd, &body("L3").to_string(), &[]).await;
    assert_eq!(resp.status(), 400);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    assert!(text.contains("access denied by server"), "{text}");
    // It left no key: the same /init retries once mount works.
    fake.set("fail", false);
    assert_eq!(init(&envd, body("L3")).await, 204);
    assert_eq!(fake.log().last(), Some(&mount_line));

    // A relative mount point is refused.
    let relative = json!({"volumeMounts": [{"nfs_target": "h:/x", "path": "rel/mnt"}]});
    assert_eq!(init(&envd, relative).await, 400);
    // envd still reaps its own processes normally afterwards.
    assert_eq!(stdout(&envd, start_req("echo", &["ok"])).await, "ok\n");
}

#[tokio::test]
async fn a_hanging_mount_times_out_with_400() {
    let fake = FakeMount::new();
    fake.set("slow", true);
    let envd = fake.envd(&["--mount-timeout", "500ms"]);
    let point = envd.scratch().join("mnt");
    let body = json!({"volumeMounts": [{"nfs_target": "10.0.0.2:/export", "path": point}]});
    let resp = init_raw(&envd, &body.to_string(), &[]).await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("timed out"), "{text}");
    assert!(fake.log().is_empty());
}

const PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBenvdTestOnlyNotARealCertificate\n-----END CERTIFICATE-----\n";

#[tokio::test]
async fn ca_bundle_is_appended_once_and_persisted() {
    let envd = Envd::start();
    let bundle = envd.scratch().join("ca-bundle.crt");
    let copy = envd.scratch().join("e2b-ca.crt");
    std::fs::write(&bundle, "# system bundle\n").unwrap();
    for _ in 0..2 {
        assert_eq!(init(&envd, json!({"caBundle": PEM})).await, 204);
        assert_eq!(
            std::fs::read_to_string(&bundle).unwrap(),
            format!("# system bundle\n{PEM}"),
            "appended exactly once"
        );
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), PEM);
    }
    let other = PEM.replace("envdTestOnly", "envdOtherTest");
    assert_eq!(init(&envd, json!({"caBundle": other})).await, 204);
    assert_eq!(
        std::fs::read_to_string(&bundle).unwrap(),
        format!("# system bundle\n{PEM}{other}")
    );
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), other);

    let resp = init_raw(
        &envd,
        &json!({"caBundle": "not a certificate"}).to_string(),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("caBundle"), "{text}");
}

#[tokio::test]
async fn every_response_carries_the_freeze_audit() {
    let envd = Envd::start();
    for body in ["{}", "{"] {
        let resp = init_raw(&envd, body, &[]).await;
        let audit: serde_json::Value =
            serde_json::from_str(resp.headers()["x-envd-freeze-audit"].to_str().unwrap()).unwrap();
        assert_eq!(
            audit,
            json!({"lastFreeze": null, "lastUnfreeze": null}),
            "{body}"
        );
    }
}

//! `POST /init` (spec §5.4, §6.2; R4, R5, R12).
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{Envd, start_req};

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

#[tokio::test]
async fn volume_mount_creates_the_mount_point_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let point = dir.path().join("a/b/mnt");
    let envd = Envd::start();
    // A target mount(8) rejects before any network activity.
    let body = json!({"volumeMounts": [{"nfs_target": "envd-test-invalid-target", "path": point}]});
    let started = std::time::Instant::now();
    assert_eq!(init(&envd, body).await, 204);
    assert!(started.elapsed() < Duration::from_secs(2));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !point.is_dir() {
        assert!(
            std::time::Instant::now() < deadline,
            "mount point not created"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // envd still reaps its own processes normally afterwards.
    assert_eq!(stdout(&envd, start_req("echo", &["ok"])).await, "ok\n");
}

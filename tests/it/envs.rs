//! `GET /envs` and the sandbox marker (spec §5.3, §8.2).

use std::os::unix::fs::PermissionsExt;

use crate::support::Envd;
use crate::support::process::start_req;
use serde_json::json;

async fn envs(envd: &Envd) -> serde_json::Value {
    let resp = envd.http.get(envd.url("/envs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    resp.json().await.unwrap()
}

async fn init(envd: &Envd, body: serde_json::Value) {
    let resp = envd
        .http
        .post(envd.url("/init"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn boot_defaults_and_marker() {
    let envd = Envd::start();
    assert_eq!(envs(&envd).await, json!({"WRENN_SANDBOX": "true"}));
    let marker = envd.scratch().join("run/.WRENN_SANDBOX");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "true");
    let mode = std::fs::metadata(&marker).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o444);
    let dir_mode = std::fs::metadata(envd.scratch().join("run"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o755);
}

#[tokio::test]
async fn run_dir_flag_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("nested/run");
    let envd = Envd::start_with(&["--run-dir", run.to_str().unwrap()]);
    // The marker is written before envd serves (the "listening" line only
    // means bound), so one answered request orders the read after it.
    let health = envd.http.get(envd.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        std::fs::read_to_string(run.join(".WRENN_SANDBOX")).unwrap(),
        "true"
    );
}

#[tokio::test]
async fn init_env_vars_merge_and_reach_processes() {
    let envd = Envd::start();
    init(&envd, json!({"envVars": {"A": "1", "B": "x"}})).await;
    init(&envd, json!({"envVars": {"B": "2", "C": "with space"}})).await;
    assert_eq!(
        envs(&envd).await,
        json!({"A": "1", "B": "2", "C": "with space", "WRENN_SANDBOX": "true"})
    );
    let run = envd
        .run(start_req(
            "/bin/sh",
            &[
                "-c",
                "printf '%s|%s|%s|%s' \"$A\" \"$B\" \"$C\" \"$WRENN_SANDBOX\"",
            ],
        ))
        .await;
    assert_eq!(
        String::from_utf8(run.output("stdout")).unwrap(),
        "1|2|with space|true"
    );
    // The request's own env still wins over the defaults (spec §2.4).
    let mut req = start_req("/bin/sh", &["-c", "printf %s \"$A\""]);
    req["process"]["envs"] = json!({"A": "request"});
    assert_eq!(envd.run(req).await.output("stdout"), b"request");
}

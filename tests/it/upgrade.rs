//! Live upgrade (spec §5.8 `POST /upgrade`): envd re-execs a new binary on
//! the same pid and keeps the listener, every process (pipes and PTYs),
//! the watchers with their undelivered events and the `/init` state; a
//! client reconnecting with `Connect` loses no output.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::frames::Frames;
use crate::support::fs::{CREATE_WATCHER, GET_WATCHER_EVENTS, name_and_type, scratch_dir};
use crate::support::process::{CONNECT, LIST, SEND_INPUT, START, b64, unb64};
use crate::support::{Envd, STEP, s};
use serde_json::{Value, json};

const TOKEN: &str = "upgrade-test-token";
const AUTH: (&str, &str) = ("x-access-token", TOKEN);
const PTY_SEND: &str = "envd.pty.v1.Pty/Send";
const PTY_LIST: &str = "envd.pty.v1.Pty/List";
const PTY_ATTACH: &str = "envd.pty.v1.Pty/Attach";

struct Setup {
    envd: Envd,
    next: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let next = dir.path().join("envd.next");
    let envd = Envd::start_with(&["--upgrade-bin", next.to_str().unwrap()]);
    Setup {
        envd,
        next,
        _dir: dir,
    }
}

async fn post_upgrade(
    envd: &Envd,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    let mut req = envd.http.post(envd.url("/upgrade")).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await
}

async fn reason_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (
        status,
        body["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn init(envd: &Envd) -> reqwest::Response {
    envd.http
        .post(envd.url("/init"))
        .header("content-type", "application/json")
        .body(json!({"accessToken": TOKEN, "envVars": {"UPGRADE_VAR": "kept"}}).to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refusals_leave_the_old_envd_serving() {
    let Setup { envd, next, _dir } = start();
    // Before the first /init.
    let resp = post_upgrade(&envd, &[], Vec::new()).await.unwrap();
    assert_eq!(
        reason_of(resp).await,
        (409, "ERROR_REASON_NOT_INITIALIZED".into())
    );
    assert_eq!(init(&envd).await.status().as_u16(), 204);
    // The token is required.
    let resp = post_upgrade(&envd, &[], Vec::new()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Another path.
    let resp = post_upgrade(
        &envd,
        &[AUTH, ("x-envd-upgrade-bin", "/bin/sh")],
        Vec::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        reason_of(resp).await,
        (400, "ERROR_REASON_INVALID_REQUEST".into())
    );
    // No body and nothing at the path.
    let resp = post_upgrade(&envd, &[AUTH], Vec::new()).await.unwrap();
    assert_eq!(
        reason_of(resp).await,
        (404, "ERROR_REASON_UPGRADE_BINARY_INVALID".into())
    );
    // A delivered binary that rejects the handover schema.
    let script = b"#!/bin/sh\necho \"no schema $2\" >&2\nexit 1\n".to_vec();
    let named = next.to_str().unwrap().to_owned();
    let resp = post_upgrade(
        &envd,
        &[AUTH, ("x-envd-upgrade-bin", &named)],
        script.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        reason_of(resp).await,
        (500, "ERROR_REASON_HANDOVER_SCHEMA_REJECTED".into())
    );
    assert_eq!(std::fs::read(&next).unwrap(), script);
    assert_eq!(
        std::fs::metadata(&next).unwrap().permissions().mode() & 0o777,
        0o755
    );
    // Still the old binary, still serving processes.
    let exe = std::fs::read_link(format!("/proc/{}/exe", envd.pid())).unwrap();
    assert_ne!(exe, next);
    let (status, _) = envd.unary_with(LIST, json!({}), &[AUTH]).await;
    assert_eq!(status, 200);
    let run = envd
        .stream(
            START,
            crate::support::process::start_req("/bin/echo", &["still-here"]),
            &[AUTH],
        )
        .await
        .collect(STEP)
        .await;
    assert_eq!(run.output("stdout"), b"still-here\n");
}

#[tokio::test]
async fn a_binary_over_256_mib_is_refused_and_not_kept() {
    let Setup { envd, next, _dir } = start();
    assert_eq!(init(&envd).await.status().as_u16(), 204);
    let chunk = bytes::Bytes::from(vec![0_u8; 1024 * 1024]);
    let body = futures::stream::iter((0..257).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let resp = envd
        .http
        .post(envd.url("/upgrade"))
        .header(AUTH.0, AUTH.1)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reason_of(resp).await,
        (413, "ERROR_REASON_PAYLOAD_TOO_LARGE".into())
    );
    assert!(!next.exists(), "a refused binary was kept");
    let leftovers: Vec<_> = std::fs::read_dir(next.parent().unwrap()).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (status, _) = envd.unary_with(LIST, json!({}), &[AUTH]).await;
    assert_eq!(status, 200);
}

/// Reads a Connect JSON stream's stdout/pty bytes into `sink` until the
/// stream ends or breaks (the upgrade drops the connection).
async fn drain_into(resp: reqwest::Response, field: &'static str, sink: Arc<Mutex<Vec<u8>>>) {
    let mut frames = Frames::of(resp);
    while let Some((_, payload)) = frames.next_raw_or_broken().await {
        let frame: Value = serde_json::from_slice(&payload).unwrap();
        if let Some(data) = frame["event"]["data"][field].as_str() {
            sink.lock().unwrap().extend(unb64(data));
        }
    }
}

async fn open_stream(envd: &Envd, method: &str, body: Value) -> reqwest::Response {
    let resp = envd
        .http
        .post(envd.url(&format!("/{method}")))
        .header("content-type", "application/connect+json")
        .header(AUTH.0, AUTH.1)
        .body(crate::support::connect::envelope(
            0,
            body.to_string().as_bytes(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp
}

fn numbers(bytes: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} not within {STEP:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn processes_watchers_and_init_survive_an_upgrade() {
    let Setup { envd, next, _dir } = start();
    assert_eq!(init(&envd).await.status().as_u16(), 204);
    let watched = scratch_dir();
    // An ended process, still answerable by Connect.
    let ended = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "exit 3"]}, "tag": "ended"}),
            &[AUTH],
        )
        .await
        .collect(STEP)
        .await;
    assert_eq!(ended.end().unwrap()["status"], "exit status 3");

    // A counter on a pipe, read by a client until the upgrade cuts it off.
    let counter = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.01; done";
    let resp = open_stream(
        &envd,
        START,
        json!({"process": {"cmd": "/bin/sh", "args": ["-c", counter]}, "tag": "counter"}),
    )
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = tokio::spawn(drain_into(resp, "stdout", seen.clone()));
    // A PTY shell.
    let resp = open_stream(
        &envd,
        START,
        json!({"process": {"cmd": "/bin/sh"}, "pty": {"size": {"cols": 80, "rows": 24}}, "tag": "shell"}),
    )
    .await;
    let pty_seen = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(drain_into(resp, "pty", pty_seen.clone()));
    // A polled watcher with an event nobody fetched; a second watcher on
    // the same directory shows when the kernel delivered it.
    let watcher = envd
        .call_with(CREATE_WATCHER, json!({"path": s(watched.path())}), &[AUTH])
        .await["watcherId"]
        .as_str()
        .unwrap()
        .to_owned();
    let probe = envd
        .call_with(CREATE_WATCHER, json!({"path": s(watched.path())}), &[AUTH])
        .await["watcherId"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(watched.path().join("before-upgrade"), b"x").unwrap();
    let envd_ref = &envd;
    let probe_ref = &probe;
    wait_for("the probe watcher's event", async || {
        let reply = envd_ref
            .call_with(GET_WATCHER_EVENTS, json!({"watcherId": probe_ref}), &[AUTH])
            .await;
        reply["events"].as_array().is_some_and(|e| !e.is_empty())
    })
    .await;
    // Terminal input batch 1 through envd.pty.v1, and where its output stands.
    let shell_pid = envd.call_with(LIST, json!({}), &[AUTH]).await["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["tag"] == "shell")
        .unwrap()["pid"]
        .as_u64()
        .unwrap();
    let batch = |seq: u64, text: &str| json!({"process": {"pid": shell_pid}, "seq": seq, "operations": [{"input": b64(text.as_bytes())}]});
    envd.call_with(PTY_SEND, batch(1, "echo before-$((1+1))\n"), &[AUTH])
        .await;
    let pty_ref = &pty_seen;
    wait_for("the PTY's answer to batch 1", async || {
        String::from_utf8_lossy(&pty_ref.lock().unwrap()).contains("before-2")
    })
    .await;
    let terminal_offset = |list: &Value| -> u64 {
        list["terminals"][0]["outputOffset"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let offset_before = terminal_offset(&envd.call_with(PTY_LIST, json!({}), &[AUTH]).await);
    assert!(offset_before > 0);
    let seen_ref = &seen;
    wait_for("counter output", async || {
        numbers(&seen_ref.lock().unwrap()).len() > 20
    })
    .await;

    // Upgrade to a copy of this binary, delivered in the body: no answer,
    // the connection drops.
    let binary = std::fs::read(env!("CARGO_BIN_EXE_envd")).unwrap();
    let named = next.to_str().unwrap().to_owned();
    let answer = post_upgrade(&envd, &[AUTH, ("x-envd-upgrade-bin", &named)], binary).await;
    assert!(
        answer.is_err(),
        "upgrade answered: {:?}",
        answer.map(|r| r.status())
    );
    tokio::time::timeout(STEP, reader).await.unwrap().unwrap();
    let before = numbers(&seen.lock().unwrap());
    let last = *before.last().unwrap();

    // The same pid now runs the new binary and serves.
    let envd_ref = &envd;
    wait_for("/health after the upgrade", async || {
        envd_ref
            .http
            .get(envd_ref.url("/health"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let exe = std::fs::read_link(format!("/proc/{}/exe", envd.pid())).unwrap();
    assert_eq!(exe, next, "envd pid {} was not re-exec'd", envd.pid());

    // The token is still required, and still accepted.
    let (status, _) = envd.unary(LIST, json!({})).await;
    assert_eq!(status, 401);
    let list = envd.call_with(LIST, json!({}), &[AUTH]).await;
    let tags: Vec<&str> = list["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["tag"].as_str())
        .collect();
    assert!(
        tags.contains(&"counter") && tags.contains(&"shell"),
        "{list}"
    );

    // Connect to the counter: everything after the last number the client
    // saw, without a gap.
    let resp = open_stream(&envd, CONNECT, json!({"process": {"tag": "counter"}})).await;
    let after = Arc::new(Mutex::new(Vec::new()));
    let connect = tokio::spawn(drain_into(resp, "stdout", after.clone()));
    let after_ref = &after;
    wait_for("counter output after the upgrade", async || {
        numbers(&after_ref.lock().unwrap())
            .iter()
            .any(|n| *n > last + 50)
    })
    .await;
    connect.abort();
    let after = numbers(&after.lock().unwrap());
    let first = after[0];
    assert!(
        first <= last + 1,
        "gap: client saw up to {last}, Connect began at {first}"
    );
    for pair in after.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "not contiguous after the upgrade: {after:?}"
        );
    }

    // The ended process's end event was kept.
    let kept = envd
        .stream(CONNECT, json!({"process": {"tag": "ended"}}), &[AUTH])
        .await
        .collect(STEP)
        .await;
    assert_eq!(kept.kinds(), ["start", "end"]);
    assert_eq!(kept.end().unwrap()["status"], "exit status 3");

    // The PTY still echoes.
    let pid = list["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["tag"] == "shell")
        .unwrap()["pid"]
        .as_u64()
        .unwrap();
    let resp = open_stream(&envd, CONNECT, json!({"process": {"pid": pid}})).await;
    let pty_after = Arc::new(Mutex::new(Vec::new()));
    let pty_reader = tokio::spawn(drain_into(resp, "pty", pty_after.clone()));
    envd.call_with(
        SEND_INPUT,
        json!({"process": {"pid": pid}, "input": {"pty": b64(b"echo upgraded-$((40+2))\n")}}),
        &[AUTH],
    )
    .await;
    let pty_ref = &pty_after;
    wait_for("the PTY echo", async || {
        String::from_utf8_lossy(&pty_ref.lock().unwrap()).contains("upgraded-42")
    })
    .await;
    pty_reader.abort();

    // Terminal offsets and batch numbers go on where they were: a replay
    // from the offset seen before the upgrade starts exactly there, a retry
    // of batch 1 is not typed again, and batch 2 is next.
    let terminals = envd.call_with(PTY_LIST, json!({}), &[AUTH]).await;
    assert_eq!(terminals["terminals"][0]["pid"], shell_pid, "{terminals}");
    assert_eq!(
        terminals["terminals"][0]["lastAppliedSeq"], "1",
        "{terminals}"
    );
    assert!(terminal_offset(&terminals) > offset_before);
    let mut attach = envd
        .stream(
            PTY_ATTACH,
            json!({"process": {"pid": shell_pid}, "offset": offset_before.to_string()}),
            &[AUTH],
        )
        .await;
    let started = attach.message().await;
    assert_eq!(
        started["event"]["started"]["lastAppliedSeq"], "1",
        "{started}"
    );
    let first = attach.message().await;
    assert_eq!(
        first["event"]["output"]["offset"],
        offset_before.to_string(),
        "{first}"
    );
    let retry = envd
        .call_with(PTY_SEND, batch(1, "echo twice\n"), &[AUTH])
        .await;
    assert_eq!(retry["lastAppliedSeq"], "1", "{retry}");
    let next = envd
        .call_with(PTY_SEND, batch(2, "echo after\n"), &[AUTH])
        .await;
    assert_eq!(next["lastAppliedSeq"], "2", "{next}");

    // The undelivered event.
    let reply = envd
        .call_with(GET_WATCHER_EVENTS, json!({"watcherId": watcher}), &[AUTH])
        .await;
    let events: Vec<_> = reply["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(name_and_type)
        .collect();
    assert!(
        events.contains(&("before-upgrade".to_owned(), "CREATE".to_owned())),
        "{events:?}"
    );

    // /init reports the handover and the env vars survived.
    let resp = init(&envd).await;
    assert_eq!(resp.status().as_u16(), 204);
    let handover: Value =
        serde_json::from_str(resp.headers()["x-envd-handover"].to_str().unwrap()).unwrap();
    assert_eq!(handover["schema"], 1, "{handover}");
    assert_eq!(handover["processes"], 2, "{handover}");
    assert_eq!(handover["watchers"], 2, "{handover}");
    assert_eq!(handover["ended"], 1, "{handover}");
    let envs: Value = envd
        .http
        .get(envd.url("/envs"))
        .header(AUTH.0, AUTH.1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(envs["UPGRADE_VAR"], "kept");

    for pid in envd.call_with(LIST, json!({}), &[AUTH]).await["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].clone())
    {
        envd.call_with(
            "process.Process/SendSignal",
            json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
            &[AUTH],
        )
        .await;
    }
}

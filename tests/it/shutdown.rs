//! SIGTERM ends envd gracefully — also when whoever read its stderr (the
//! supervisor's log pipe) has gone away, so log writes fail with EPIPE.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::process::{CONNECT, START, STREAM_INPUT};
use crate::support::{exit_within, sigterm};

/// Starts envd with its files in `scratch`, stderr piped, logging at info.
fn spawn(scratch: &std::path::Path) -> (Child, String) {
    let file = |name: &str| {
        scratch
            .join(name)
            .to_str()
            .expect("UTF-8 temp path")
            .to_owned()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_envd"))
        .args(["--addr", "127.0.0.1:0"])
        .args(["--run-dir", &file("run")])
        .args(["--hosts-file", &file("hosts")])
        .args(["--drop-caches", &file("drop_caches")])
        .env("ENVD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn envd");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .expect("first stdout line");
    assert!(line.contains("listening on"), "{line:?}");
    (child, line)
}

#[test]
fn sigterm_exits_cleanly() {
    let scratch = tempfile::tempdir().unwrap();
    let (mut child, _) = spawn(scratch.path());
    sigterm(&child);
    let status = exit_within(&mut child, Duration::from_secs(10));
    if status.is_none() {
        child.kill().unwrap();
    }
    assert!(status.expect("exited").success());
}

#[test]
fn sigterm_exits_even_when_stderr_is_gone() {
    let scratch = tempfile::tempdir().unwrap();
    let (mut child, _) = spawn(scratch.path());
    // The log reader goes away: every later log line hits EPIPE.
    drop(child.stderr.take());
    sigterm(&child);
    let status = exit_within(&mut child, Duration::from_secs(10));
    if status.is_none() {
        child.kill().unwrap();
    }
    assert!(
        status
            .expect("exited despite the broken log pipe")
            .success()
    );
}

/// Every kind of open RPC stream, each of which SIGTERM must end with a
/// clear `unavailable` rather than a reset after the drain window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_streams_with_unavailable() {
    use crate::support::STEP;
    use serde_json::json;

    let mut envd = crate::support::Envd::start();
    let dir = crate::support::fs::scratch_dir();
    let mut start = envd
        .stream(
            START,
            json!({"process": {"cmd": "sleep", "args": ["60"]}}),
            &[],
        )
        .await;
    let pid = start.start_pid().await;
    let mut connect = envd
        .stream(CONNECT, json!({"process": {"pid": pid}}), &[])
        .await;
    assert_eq!(connect.start_pid().await, pid);
    let watch = envd
        .watch(json!({"path": crate::support::s(dir.path())}), &[])
        .await;
    let input = envd.client_stream(STREAM_INPUT, &[]);
    input.send(&json!({"start": {"process": {"pid": pid}}}));
    // The input stream is being served once its first message was applied.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let began = Instant::now();
    let exit = tokio::task::block_in_place(|| envd.terminate(Duration::from_secs(8)));
    let waited = began.elapsed();

    let code = |end: &serde_json::Value| end["error"]["code"].as_str().unwrap_or("").to_owned();
    for (what, frames) in [
        ("Start", start),
        ("Connect", connect),
        ("WatchDir", watch.frames),
    ] {
        let end = frames.collect(STEP).await.end_stream;
        assert_eq!(code(&end), "unavailable", "{what}: {end}");
        assert_eq!(end["error"]["message"], "envd is shutting down", "{what}");
    }
    let (status, input) = input.response().await;
    assert_eq!(status, 200);
    assert_eq!(
        code(&input.end_stream),
        "unavailable",
        "{}",
        input.end_stream
    );

    // Ending the streams let the connections close: no drain-window wait.
    assert!(exit.expect("envd exited").success());
    assert!(waited < Duration::from_secs(5), "exit took {waited:?}");
    // The process outlives envd, as every process does.
    let sleeper = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
    nix::sys::signal::kill(sleeper, nix::sys::signal::Signal::SIGKILL).expect("sleep still ran");
}

/// An upload in flight at SIGTERM finishes within the drain window, and
/// no new connection is accepted meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_upload_in_flight_finish() {
    let mut envd = crate::support::Envd::start();
    let dir = crate::support::fs::scratch_dir();
    let target = dir.path().join("upload.bin");
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(1);
    let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), rx))
    }));
    let request = envd
        .http
        .post(envd.url("/files"))
        .query(&[("path", crate::support::s(&target))])
        .header("content-type", "application/octet-stream")
        .body(body);
    let upload = tokio::spawn(async move {
        let resp = request.send().await.expect("upload answered");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    });
    let chunk = bytes::Bytes::from(vec![7u8; 1 << 20]);
    tx.send(chunk.clone()).await.unwrap();
    // The first MiB is on its way before the signal.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let addr = envd.base.trim_start_matches("http://").to_owned();
    envd.sigterm();
    // Still draining: the rest of the upload arrives over a second.
    for _ in 0..9 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.send(chunk.clone()).await.unwrap();
    }
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "a draining envd accepts no new connection"
    );
    drop(tx);
    let (status, text) = upload.await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 10 << 20);
    let exit = tokio::task::spawn_blocking(move || envd.exit_within(Duration::from_secs(8)))
        .await
        .unwrap();
    assert!(exit.expect("envd exited").success());
}

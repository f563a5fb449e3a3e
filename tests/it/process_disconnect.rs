//! Dropping the Start stream does not affect the process: it keeps running,
//! is never blocked by unread output, and a later Connect sees its later
//! output and its end.

use serde_json::json;
use std::time::Duration;

use crate::support::process::{CONNECT, SEND_INPUT, START, b64, by_pid};
use crate::support::{Envd, STEP, eventually};

#[tokio::test]
async fn dropped_start_stream_leaves_the_process_running_for_connect() {
    let envd = Envd::start();
    let mut start = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "echo before; read x; echo got-$x; exit 7"]}}),
            &[],
        )
        .await;
    let pid = start.start_pid().await;
    start.until_output("stdout", b"before\n").await;
    drop(start);
    // The server notices the disconnect on its own time; the process stays.
    let mut connect = envd.stream(CONNECT, by_pid(pid), &[]).await;
    assert_eq!(connect.start_pid().await, pid);
    assert!(envd.live_pids().await.contains(&pid));
    envd.ok(
        SEND_INPUT,
        json!({"process": {"pid": pid}, "input": {"stdin": b64(b"1\n")}}),
    )
    .await;
    let rest = connect.collect(STEP).await;
    // No replay of "before": only what came after subscribing.
    assert_eq!(rest.output("stdout"), b"got-1\n");
    assert_eq!(rest.end().unwrap()["exitCode"], 7);
    assert_eq!(rest.end_stream, json!({}));
}

#[tokio::test]
async fn unread_output_never_blocks_a_process_nobody_watches() {
    let envd = Envd::start();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("written");
    let script = format!(
        "head -c 20000000 /dev/zero; touch {}; read x; echo done",
        marker.display()
    );
    let mut start = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", script]}}),
            &[],
        )
        .await;
    let pid = start.start_pid().await;
    drop(start);
    // 20 MB is far more than any pipe, queue or socket buffer holds: the
    // process only gets past `head` if envd keeps reading (and notices the
    // dropped subscriber) with nobody watching.
    eventually(
        Duration::from_secs(30),
        "process wrote all its output",
        || marker.exists().then_some(()),
    )
    .await;
    let mut connect = envd.stream(CONNECT, by_pid(pid), &[]).await;
    connect.start_pid().await;
    envd.ok(
        SEND_INPUT,
        json!({"process": {"pid": pid}, "input": {"stdin": b64(b"go\n")}}),
    )
    .await;
    let rest = connect.collect(STEP).await;
    assert_eq!(rest.output("stdout"), b"done\n");
    assert_eq!(rest.end().unwrap()["status"], "exit status 0");
}

#[tokio::test]
async fn process_with_no_subscriber_still_exits_and_leaves_the_table() {
    let envd = Envd::start();
    let mut start = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "read x; exit 3"]}}),
            &[],
        )
        .await;
    let pid = start.start_pid().await;
    drop(start);
    envd.ok(
        SEND_INPUT,
        json!({"process": {"pid": pid}, "input": {"stdin": b64(b"\n")}}),
    )
    .await;
    // The exit is processed with nobody watching: poll List (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while envd.live_pids().await.contains(&pid) {
        assert!(std::time::Instant::now() < deadline, "still listed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connected = envd
        .stream(CONNECT, by_pid(pid), &[])
        .await
        .collect(STEP)
        .await;
    assert_eq!(connected.kinds(), ["start", "end"]);
    assert_eq!(connected.end().unwrap()["exitCode"], 3);
}

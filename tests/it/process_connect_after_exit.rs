//! R3: Connect to a process that already exited answers at once with
//! `start{pid}` and the cached `end`, by pid and by tag; and Connect racing
//! the exit always terminates with an `end`.

use std::time::{Duration, Instant};

use crate::support::Envd;
use crate::support::frames::Collected;
use crate::support::process::{CONNECT, START, by_pid, by_tag, kind, pid_of};
use futures::StreamExt;
use serde_json::{Value, json};

fn assert_start_then_end(run: &Collected, pid: u32, end: &Value) {
    assert_eq!(run.kinds(), ["start", "end"], "{run:?}");
    assert_eq!(pid_of(&run.messages[0]), pid);
    assert_eq!(run.end().unwrap(), end);
    assert_eq!(run.end_stream, json!({}));
}

#[tokio::test]
async fn connect_after_exit_by_pid_and_tag_returns_start_and_cached_end() {
    let envd = Envd::start();
    let run = envd
        .run(json!({"process": {"cmd": "/bin/sh", "args": ["-c", "echo gone; exit 4"]}, "tag": "r3-tag", "stdin": false}))
        .await;
    let end = run.assert_complete().clone();
    assert_eq!(end["exitCode"], 4);
    let pid = run.pid();
    for selector in [by_pid(pid), by_tag("r3-tag")] {
        let began = Instant::now();
        let connected = envd
            .stream(CONNECT, selector.clone(), &[])
            .await
            .collect(Duration::from_secs(2))
            .await;
        assert!(began.elapsed() < Duration::from_secs(1), "{selector}");
        // No replay of the output, just the start and the stored end.
        assert_start_then_end(&connected, pid, &end);
    }
    // Exited processes are not live.
    assert!(!envd.live_pids().await.contains(&pid));
}

#[tokio::test]
async fn a_new_start_with_the_same_tag_replaces_the_retained_one() {
    let envd = Envd::start();
    let first = envd
        .run(json!({"process": {"cmd": "true"}, "tag": "reused", "stdin": false}))
        .await;
    first.assert_complete();
    let mut second = envd
        .stream(
            START,
            json!({"process": {"cmd": "sleep", "args": ["30"]}, "tag": "reused", "stdin": false}),
            &[],
        )
        .await;
    let pid = second.start_pid().await;
    assert_ne!(pid, first.pid());
    let mut connected = envd.stream(CONNECT, by_tag("reused"), &[]).await;
    assert_eq!(connected.start_pid().await, pid, "the live process wins");
    envd.ok(
        "process.Process/SendSignal",
        json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
    )
    .await;
    let rest = connected.collect(Duration::from_secs(5)).await;
    assert_eq!(rest.end().unwrap()["status"], "signal: killed");
}

/// Start `true`, and as soon as its start event arrives, Connect to it
/// while it exits. The Connect must always end with an `end` event.
async fn race_once(envd: &Envd) -> Result<(), String> {
    let mut start = envd
        .stream(
            START,
            json!({"process": {"cmd": "true"}, "stdin": false}),
            &[],
        )
        .await;
    let pid = start.start_pid().await;
    let (connected, started) = tokio::join!(
        async {
            envd.stream(CONNECT, by_pid(pid), &[])
                .await
                .collect(Duration::from_secs(10))
                .await
        },
        start.collect(Duration::from_secs(10)),
    );
    let expected = json!({"exited": true, "status": "exit status 0"});
    if started.end() != Some(&expected) {
        return Err(format!("start stream: {started:?}"));
    }
    let kinds = connected.kinds();
    let ok = kinds.first().map(String::as_str) == Some("start")
        && pid_of(&connected.messages[0]) == pid
        && kinds.last().map(String::as_str) == Some("end")
        && connected.messages[1..connected.messages.len() - 1]
            .iter()
            .all(|m| kind(m) == "keepalive")
        && connected.end() == Some(&expected)
        && connected.end_stream == json!({});
    if ok {
        Ok(())
    } else {
        Err(format!("connect stream for {pid}: {connected:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_racing_exit_ten_thousand_times_always_ends() {
    let envd = Envd::start();
    let began = Instant::now();
    let failures: Vec<String> = futures::stream::iter(0..10_000)
        .map(|_| race_once(&envd))
        .buffer_unordered(100)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    let took = began.elapsed();
    eprintln!("R3: 10000 Connect-vs-exit races (100 concurrent) took {took:?}");
    assert!(
        failures.is_empty(),
        "{} failures, first: {}",
        failures.len(),
        failures[0]
    );
}

//! R1: fast-exiting processes never lose events. Every one of 1000
//! `echo hi` runs yields `start`, stdout `hi\n` and `end{exitCode:0}`, in
//! pipe mode; 200 more in PTY mode.

use std::time::{Duration, Instant};

use crate::support::Envd;
use crate::support::frames::Collected;
use crate::support::process::{kind, start_req};
use futures::StreamExt;
use serde_json::json;

/// Runs `count` Starts of `request`, `concurrency` at a time.
async fn repeat(
    envd: &Envd,
    request: serde_json::Value,
    count: usize,
    concurrency: usize,
) -> Vec<Collected> {
    futures::stream::iter(0..count)
        .map(|_| envd.run(request.clone()))
        .buffer_unordered(concurrency)
        .collect()
        .await
}

fn assert_echo(run: &Collected, field: &str, expected: &[u8]) {
    let kinds = run.kinds();
    assert_eq!(kinds.first().map(String::as_str), Some("start"), "{run:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("end"), "{run:?}");
    assert!(
        kinds[1..kinds.len() - 1].iter().all(|k| k == "data"),
        "only data between start and end: {run:?}"
    );
    assert_eq!(run.output(field), expected, "{run:?}");
    assert_eq!(
        run.end().unwrap(),
        &json!({"exited": true, "status": "exit status 0"}),
        "exitCode 0 (omitted as default)"
    );
    assert_eq!(run.end_stream, json!({}));
    assert!(run.messages.iter().all(|m| kind(m) != "keepalive"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_echo_hi_runs_never_lose_events() {
    let envd = Envd::start();
    let began = Instant::now();
    let runs = repeat(&envd, start_req("echo", &["hi"]), 1000, 8).await;
    let took = began.elapsed();
    eprintln!("R1: 1000 x `echo hi` (8 concurrent) took {took:?}");
    assert_eq!(runs.len(), 1000);
    for run in &runs {
        assert_echo(run, "stdout", b"hi\n");
    }
    assert!(took < Duration::from_secs(120), "R1 took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_exit_in_pty_mode_never_loses_events() {
    let envd = Envd::start();
    let began = Instant::now();
    let request = json!({
        "process": {"cmd": "echo", "args": ["hi"]},
        "pty": {"size": {"cols": 80, "rows": 24}}
    });
    let runs = repeat(&envd, request, 200, 8).await;
    eprintln!("R1 (pty): 200 x `echo hi` took {:?}", began.elapsed());
    for run in &runs {
        // The terminal's output processing turns \n into \r\n.
        assert_echo(run, "pty", b"hi\r\n");
    }
}

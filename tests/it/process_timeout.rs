//! Connect-Timeout-Ms on Start bounds the process: at the deadline it is
//! killed with SIGKILL and the stream ends with `deadline_exceeded`. A
//! process without a deadline survives; a deadline on Connect only ends
//! that stream; 0 means no limit; the deadline never outlives its process.

use std::time::{Duration, Instant};

use crate::support::process::{CONNECT, SEND_SIGNAL, START, by_pid, start_req};
use crate::support::procfs::proc_state;
use crate::support::{Envd, STEP};
use serde_json::json;

/// Connect to `pid` (live or retained) and return its end event.
async fn end_of(envd: &Envd, pid: u32) -> serde_json::Value {
    let run = envd
        .stream(CONNECT, by_pid(pid), &[])
        .await
        .collect(STEP)
        .await;
    run.end()
        .cloned()
        .unwrap_or_else(|| panic!("no end: {run:?}"))
}

#[tokio::test]
async fn start_deadline_kills_with_sigkill_and_ends_deadline_exceeded() {
    let envd = Envd::start();
    let mut bounded = envd
        .stream(
            START,
            start_req("sleep", &["30"]),
            &[("connect-timeout-ms", "500")],
        )
        .await;
    let mut unbounded = envd.stream(START, start_req("sleep", &["30"]), &[]).await;
    let pid = bounded.start_pid().await;
    let survivor = unbounded.start_pid().await;
    let began = Instant::now();
    let rest = bounded.collect(Duration::from_secs(5)).await;
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "deadline stream took {took:?}"
    );
    assert_eq!(
        rest.error(),
        Some((
            "deadline_exceeded".into(),
            "request timeout exceeded".into()
        ))
    );
    // The process itself was SIGKILLed at its deadline.
    assert_eq!(
        end_of(&envd, pid).await,
        json!({"exitCode": -1, "status": "signal: killed", "error": "signal: killed"})
    );
    assert!(!envd.live_pids().await.contains(&pid));
    // The process without a deadline is untouched.
    assert!(envd.live_pids().await.contains(&survivor));
    assert!(proc_state(survivor).is_some_and(|(s, _)| s != 'Z'));
    envd.ok(
        SEND_SIGNAL,
        json!({"process": {"pid": survivor}, "signal": "SIGNAL_SIGKILL"}),
    )
    .await;
    unbounded.collect(STEP).await;
}

#[tokio::test]
async fn pty_start_deadline_kills_too() {
    let envd = Envd::start();
    let mut stream = envd
        .stream(
            START,
            json!({"process": {"cmd": "sleep", "args": ["30"]}, "pty": {"size": {"cols": 80, "rows": 24}}}),
            &[("connect-timeout-ms", "300")],
        )
        .await;
    let pid = stream.start_pid().await;
    let rest = stream.collect(Duration::from_secs(5)).await;
    assert_eq!(rest.error().unwrap().0, "deadline_exceeded");
    assert_eq!(end_of(&envd, pid).await["status"], "signal: killed");
}

#[tokio::test]
async fn a_process_that_finishes_in_time_ends_normally() {
    let envd = Envd::start();
    let run = envd
        .run_with(
            start_req("echo", &["quick"]),
            &[("connect-timeout-ms", "10000")],
        )
        .await;
    run.assert_complete();
    assert_eq!(run.output("stdout"), b"quick\n");
}

#[tokio::test]
async fn connect_deadline_ends_only_that_stream() {
    let envd = Envd::start();
    let mut start = envd.stream(START, start_req("sleep", &["30"]), &[]).await;
    let pid = start.start_pid().await;
    let connected = envd
        .stream(CONNECT, by_pid(pid), &[("connect-timeout-ms", "300")])
        .await
        .collect(Duration::from_secs(5))
        .await;
    assert_eq!(connected.kinds(), ["start"]);
    assert_eq!(connected.error().unwrap().0, "deadline_exceeded");
    assert!(envd.live_pids().await.contains(&pid), "process still runs");
    envd.ok(
        SEND_SIGNAL,
        json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
    )
    .await;
    start.collect(STEP).await;
}

#[tokio::test]
async fn zero_means_no_limit() {
    let envd = Envd::start();
    let run = envd
        .run_with(
            start_req("/bin/sh", &["-c", "sleep 0.3; echo done"]),
            &[("connect-timeout-ms", "0")],
        )
        .await;
    run.assert_complete();
    assert_eq!(run.output("stdout"), b"done\n");
}

/// Writes `/proc/sys/kernel/ns_last_pid` so the next fork gets `pid`.
/// Needs root (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), as `make test` runs.
fn next_pid_is(pid: u32) {
    if let Err(e) = std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()) {
        panic!(
            "this test forces a pid through /proc/sys/kernel/ns_last_pid and must run as root: {e}"
        );
    }
}

/// How often to try to hand the exited process's pid to a successor.
const ATTEMPTS: usize = 100;

#[tokio::test]
async fn deadline_of_an_exited_process_never_kills_a_successor_with_its_pid() {
    let envd = Envd::start();
    // A process with a 1.5 s deadline that exits at once...
    let first = envd
        .run_with(start_req("true", &[]), &[("connect-timeout-ms", "1500")])
        .await;
    first.assert_complete();
    let pid = first.pid();
    let deadline = Instant::now() + Duration::from_millis(1500);
    // ...and a successor that gets the same pid (forced via ns_last_pid;
    // other processes on the machine may take it first, so retry).
    let mut successor = None;
    for _ in 0..ATTEMPTS {
        next_pid_is(pid);
        let mut s = envd.stream(START, start_req("sleep", &["30"]), &[]).await;
        let got = s.start_pid().await;
        if got == pid {
            successor = Some(s);
            break;
        }
        envd.ok(
            SEND_SIGNAL,
            json!({"process": {"pid": got}, "signal": "SIGNAL_SIGKILL"}),
        )
        .await;
        s.collect(STEP).await;
    }
    let Some(mut successor) = successor else {
        panic!(
            "pid {pid} went to another process in each of {ATTEMPTS} attempts: the machine forks too often to run this test"
        );
    };
    // Past the first process's deadline the successor still runs.
    let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(700);
    let early = tokio::time::timeout(wait, successor.next()).await;
    assert!(early.is_err(), "successor got an event: {early:?}");
    assert!(
        envd.live_pids().await.contains(&pid),
        "successor was killed"
    );
    envd.ok(
        SEND_SIGNAL,
        json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGTERM"}),
    )
    .await;
    assert_eq!(
        successor.collect(STEP).await.end().unwrap()["status"],
        "signal: terminated"
    );
}

//! R2: streams terminate when the process exits, with all output written
//! before the exit delivered before `end`, for Start and for a Connect
//! that subscribed before the exit.

use std::time::{Duration, Instant};

use crate::support::Envd;
use crate::support::process::{CONNECT, SEND_INPUT, START, b64, by_pid, kind, start_req};
use serde_json::json;

#[tokio::test]
async fn start_stream_closes_within_a_second_with_data_before_end() {
    let envd = Envd::start();
    let began = Instant::now();
    let run = envd
        .run(start_req("/bin/sh", &["-c", "printf abc; exit 2"]))
        .await;
    let took = began.elapsed();
    assert!(took < Duration::from_secs(1), "stream took {took:?}");
    let kinds = run.kinds();
    assert_eq!(kinds.first().unwrap(), "start");
    assert_eq!(kinds.last().unwrap(), "end");
    assert_eq!(run.output("stdout"), b"abc");
    assert_eq!(
        run.end().unwrap(),
        &json!({"exitCode": 2, "exited": true, "status": "exit status 2", "error": "exit status 2"})
    );
    assert_eq!(run.end_stream, json!({}));
}

#[tokio::test]
async fn connect_subscribed_before_exit_gets_data_then_end() {
    let envd = Envd::start();
    let mut start = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "read x; printf abc; exit 2"]}}),
            &[],
        )
        .await;
    let pid = start.start_pid().await;
    let mut connect = envd.stream(CONNECT, by_pid(pid), &[]).await;
    assert_eq!(connect.start_pid().await, pid);
    envd.ok(
        SEND_INPUT,
        json!({"process": {"pid": pid}, "input": {"stdin": b64(b"go\n")}}),
    )
    .await;
    let began = Instant::now();
    let run = connect.collect(Duration::from_secs(5)).await;
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "connect stream took {took:?}"
    );
    assert_eq!(run.output("stdout"), b"abc");
    assert_eq!(kind(run.messages.last().unwrap()), "end");
    assert_eq!(run.end().unwrap()["exitCode"], 2);
    assert_eq!(run.end_stream, json!({}));
    let start = start.collect(Duration::from_secs(5)).await;
    assert_eq!(start.output("stdout"), b"abc");
    assert_eq!(start.end().unwrap()["exitCode"], 2);
}

#[tokio::test]
async fn large_output_written_just_before_exit_is_all_delivered() {
    let envd = Envd::start();
    let run = envd
        .run(start_req(
            "/bin/sh",
            &["-c", "head -c 3000000 /dev/zero; printf tail; exit 5"],
        ))
        .await;
    run.assert_complete();
    let out = run.output("stdout");
    assert_eq!(out.len(), 3_000_004);
    assert!(out[..3_000_000].iter().all(|&b| b == 0));
    assert_eq!(&out[3_000_000..], b"tail");
    assert_eq!(run.end().unwrap()["exitCode"], 5);
}

#[tokio::test]
async fn background_child_holding_stdout_does_not_hold_the_stream_open() {
    let envd = Envd::start();
    let began = Instant::now();
    // The orphaned sleep keeps the stdout pipe open for 20 s; the stream
    // still ends within the drain grace period after the main process
    // exits, with everything written before the exit.
    let run = envd
        .run(start_req(
            "/bin/sh",
            &["-c", "sleep 20 & echo $!; printf abc; exit 3"],
        ))
        .await;
    let took = began.elapsed();
    assert!(took < Duration::from_secs(3), "stream took {took:?}");
    let out = String::from_utf8(run.output("stdout")).unwrap();
    let (sleeper, rest) = out.split_once('\n').unwrap();
    assert_eq!(rest, "abc");
    assert_eq!(run.end().unwrap()["exitCode"], 3);
    assert_eq!(run.end_stream, json!({}));
    // Clean up the orphan.
    let _ = std::process::Command::new("kill").arg(sleeper).status();
}

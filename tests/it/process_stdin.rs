//! Stdin: SendInput, StreamInput and CloseStdin on a pipe process; stdin
//! disabled means `/dev/null`; data before start is refused.

use crate::support::process::{
    CLOSE_STDIN, SEND_INPUT, START, STREAM_INPUT, b64, by_pid, start_req,
};
use crate::support::{Envd, STEP};
use serde_json::json;

fn stdin(pid: u32, data: &[u8]) -> serde_json::Value {
    json!({"process": {"pid": pid}, "input": {"stdin": b64(data)}})
}

#[tokio::test]
async fn send_input_then_close_stdin_reaches_cat_verbatim() {
    let envd = Envd::start();
    // `stdin` absent means enabled.
    let mut cat = envd
        .stream(START, json!({"process": {"cmd": "cat"}}), &[])
        .await;
    let pid = cat.start_pid().await;
    envd.ok(SEND_INPUT, stdin(pid, b"hello\n")).await;
    cat.until_output("stdout", b"hello\n").await;
    envd.ok(SEND_INPUT, stdin(pid, b"\x00\xffbinary")).await;
    envd.ok(CLOSE_STDIN, by_pid(pid)).await;
    let rest = cat.collect(STEP).await;
    assert_eq!(rest.output("stdout"), b"\x00\xffbinary");
    assert_eq!(
        rest.end().unwrap(),
        &json!({"exited": true, "status": "exit status 0"})
    );
}

#[tokio::test]
async fn close_stdin_is_idempotent() {
    let envd = Envd::start();
    let mut child = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "cat; echo eof; exec sleep 60"]}}),
            &[],
        )
        .await;
    let pid = child.start_pid().await;
    envd.ok(CLOSE_STDIN, by_pid(pid)).await;
    child.until_output("stdout", b"eof\n").await;
    // Still running, stdin already closed: closing again succeeds.
    envd.ok(CLOSE_STDIN, by_pid(pid)).await;
    envd.ok(
        crate::support::process::SEND_SIGNAL,
        json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
    )
    .await;
    assert_eq!(
        child.collect(STEP).await.end().unwrap()["status"],
        "signal: killed"
    );
}

#[tokio::test]
async fn stream_input_writes_in_order_and_ignores_keepalives() {
    let envd = Envd::start();
    let mut cat = envd
        .stream(
            START,
            json!({"process": {"cmd": "cat"}, "stdin": true, "tag": "in"}),
            &[],
        )
        .await;
    let pid = cat.start_pid().await;
    let input = envd.client_stream(STREAM_INPUT, &[]);
    input.send(&json!({"start": {"process": {"tag": "in"}}}));
    for part in ["one ", "two ", "three"] {
        input.send(&json!({"data": {"input": {"stdin": b64(part.as_bytes())}}}));
        input.send(&json!({"keepalive": {}}));
    }
    cat.until_output("stdout", b"one two three").await;
    let (status, reply) = input.close().await;
    assert_eq!(status, 200);
    assert_eq!(reply.messages, [json!({})], "one empty response");
    assert_eq!(reply.end_stream, json!({}));
    envd.ok(CLOSE_STDIN, by_pid(pid)).await;
    let rest = cat.collect(STEP).await;
    assert_eq!(rest.end().unwrap()["status"], "exit status 0");
}

#[tokio::test]
async fn a_later_start_retargets_the_input_stream() {
    let envd = Envd::start();
    let mut a = envd
        .stream(START, json!({"process": {"cmd": "cat"}}), &[])
        .await;
    let mut b = envd
        .stream(START, json!({"process": {"cmd": "cat"}}), &[])
        .await;
    let (pa, pb) = (a.start_pid().await, b.start_pid().await);
    let input = envd.client_stream(STREAM_INPUT, &[]);
    input.send(&json!({"start": {"process": {"pid": pa}}}));
    input.send(&json!({"data": {"input": {"stdin": b64(b"to-a")}}}));
    input.send(&json!({"start": {"process": {"pid": pb}}}));
    input.send(&json!({"data": {"input": {"stdin": b64(b"to-b")}}}));
    let (status, reply) = input.close().await;
    assert_eq!((status, reply.end_stream), (200, json!({})));
    for pid in [pa, pb] {
        envd.ok(CLOSE_STDIN, by_pid(pid)).await;
    }
    assert_eq!(a.collect(STEP).await.output("stdout"), b"to-a");
    assert_eq!(b.collect(STEP).await.output("stdout"), b"to-b");
}

#[tokio::test]
async fn disabled_stdin_is_dev_null_and_refuses_input() {
    let envd = Envd::start();
    let run = envd.run(start_req("readlink", &["/proc/self/fd/0"])).await;
    run.assert_complete();
    assert_eq!(run.output("stdout"), b"/dev/null\n");
    // `cat` on /dev/null exits at once with nothing.
    let run = envd.run(start_req("cat", &[])).await;
    assert_eq!(run.output("stdout"), b"");
    assert_eq!(run.end().unwrap()["status"], "exit status 0");

    let mut sleeper = envd
        .stream(
            START,
            json!({"process": {"cmd": "sleep", "args": ["60"]}, "stdin": false}),
            &[],
        )
        .await;
    let pid = sleeper.start_pid().await;
    assert_eq!(
        envd.fails(SEND_INPUT, stdin(pid, b"x"), &[]).await,
        (
            500,
            "internal".into(),
            "error writing to stdin: stdin not enabled or closed".into()
        )
    );
    // Closing a disabled stdin is a successful no-op.
    envd.ok(CLOSE_STDIN, by_pid(pid)).await;
    // Enabled stdin is a pipe.
    let mut piped = envd
        .stream(
            START,
            json!({"process": {"cmd": "readlink", "args": ["/proc/self/fd/0"]}, "stdin": true}),
            &[],
        )
        .await;
    piped.start_pid().await;
    let rest = piped.collect(STEP).await;
    assert!(rest.output("stdout").starts_with(b"pipe:["), "{rest:?}");
    envd.kill(pid).await;
}

#[tokio::test]
async fn stream_input_data_before_start_fails_and_writes_nothing() {
    let envd = Envd::start();
    let mut cat = envd
        .stream(START, json!({"process": {"cmd": "cat"}, "tag": "t"}), &[])
        .await;
    let pid = cat.start_pid().await;
    let input = envd.client_stream(STREAM_INPUT, &[]);
    input.send(&json!({"data": {"input": {"stdin": b64(b"early")}}}));
    input.send(&json!({"start": {"process": {"tag": "t"}}}));
    input.send(&json!({"data": {"input": {"stdin": b64(b"late")}}}));
    let (status, reply) = input.close().await;
    assert_eq!(status, 200);
    assert_eq!(
        reply.error(),
        Some((
            "failed_precondition".into(),
            "stream input: data received before start".into()
        ))
    );
    envd.ok(CLOSE_STDIN, by_pid(pid)).await;
    assert_eq!(
        cat.collect(STEP).await.output("stdout"),
        b"",
        "nothing written"
    );
}

#[tokio::test]
async fn input_after_exit_is_not_found() {
    let envd = Envd::start();
    let mut cat = envd
        .stream(START, json!({"process": {"cmd": "cat"}}), &[])
        .await;
    let pid = cat.start_pid().await;
    envd.ok(CLOSE_STDIN, by_pid(pid)).await;
    cat.collect(STEP).await;
    assert_eq!(
        envd.fails(SEND_INPUT, stdin(pid, b"x"), &[]).await,
        (
            404,
            "not_found".into(),
            format!("process with pid {pid} not found")
        )
    );
}

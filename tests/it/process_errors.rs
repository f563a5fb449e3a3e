//! Every row of spec §3.6: the Connect code (and HTTP status for unary
//! calls) and the exact message of each process-service error.

use crate::support::Envd;
use crate::support::process::{
    CLOSE_STDIN, CONNECT, SEND_INPUT, SEND_SIGNAL, START, STREAM_INPUT, UPDATE, b64, basic, by_pid,
    by_tag, start_req,
};
use serde_json::{Value, json};

const MISSING_PID: u32 = 999_999_999;

/// Starts a long-running process (a PTY one when `pty`) and returns its pid.
async fn sleeper(envd: &Envd, pty: bool) -> (u32, crate::support::frames::Frames) {
    let mut req = json!({"process": {"cmd": "sleep", "args": ["60"]}});
    if pty {
        req["pty"] = json!({"size": {"cols": 80, "rows": 24}});
    }
    let mut stream = envd.stream(START, req, &[]).await;
    (stream.start_pid().await, stream)
}

/// A server stream that fails before any event: HTTP 200, no messages, and
/// the error in the end-of-stream frame.
async fn stream_error(
    envd: &Envd,
    method: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (String, String) {
    let run = envd
        .stream(method, body, headers)
        .await
        .collect(crate::support::STEP)
        .await;
    assert!(
        run.messages.is_empty(),
        "no events before the error: {run:?}"
    );
    run.error().expect("an error")
}

fn not_found(pid: u32) -> (u16, String, String) {
    (
        404,
        "not_found".into(),
        format!("process with pid {pid} not found"),
    )
}

#[tokio::test]
async fn unknown_pid_or_tag_is_not_found_on_every_rpc() {
    let envd = Envd::start();
    let missing = by_pid(MISSING_PID);
    let unary: [(&str, Value); 4] = [
        (
            UPDATE,
            json!({"process": {"pid": MISSING_PID}, "pty": {"size": {"cols": 80, "rows": 24}}}),
        ),
        (
            SEND_INPUT,
            json!({"process": {"pid": MISSING_PID}, "input": {"stdin": b64(b"x")}}),
        ),
        (
            SEND_SIGNAL,
            json!({"process": {"pid": MISSING_PID}, "signal": "SIGNAL_SIGKILL"}),
        ),
        (CLOSE_STDIN, missing.clone()),
    ];
    for (method, body) in unary {
        assert_eq!(
            envd.fails(method, body, &[]).await,
            not_found(MISSING_PID),
            "{method}"
        );
    }
    assert_eq!(
        envd.fails(
            SEND_SIGNAL,
            json!({"process": {"tag": "nope"}, "signal": "SIGNAL_SIGTERM"}),
            &[]
        )
        .await,
        (
            404,
            "not_found".into(),
            "process with tag nope not found".into()
        )
    );
    assert_eq!(
        stream_error(&envd, CONNECT, missing, &[]).await,
        (
            "not_found".into(),
            format!("process with pid {MISSING_PID} not found")
        )
    );
    assert_eq!(
        stream_error(&envd, CONNECT, by_tag("nope"), &[]).await,
        ("not_found".into(), "process with tag nope not found".into())
    );
    let input = envd.client_stream(STREAM_INPUT, &[]);
    input.send(&json!({"start": {"process": {"pid": MISSING_PID}}}));
    let (status, run) = input.close().await;
    assert_eq!(status, 200);
    assert_eq!(
        run.error(),
        Some((
            "not_found".into(),
            format!("process with pid {MISSING_PID} not found")
        ))
    );
}

#[tokio::test]
async fn missing_selector_is_invalid_argument() {
    let envd = Envd::start();
    let expected = (
        400,
        "invalid_argument".to_owned(),
        "process selector is required".to_owned(),
    );
    for method in [UPDATE, SEND_INPUT, SEND_SIGNAL, CLOSE_STDIN] {
        assert_eq!(
            envd.fails(method, json!({}), &[]).await,
            expected,
            "{method}"
        );
        assert_eq!(
            envd.fails(method, json!({"process": {}}), &[]).await,
            expected,
            "{method}"
        );
    }
    assert_eq!(
        stream_error(&envd, CONNECT, json!({}), &[]).await,
        (
            "invalid_argument".into(),
            "process selector is required".into()
        )
    );
}

#[tokio::test]
async fn start_with_missing_cwd_or_other_users_home_is_invalid_argument() {
    let envd = Envd::start();
    let start = |cwd: &str| json!({"process": {"cmd": "true", "cwd": cwd}, "stdin": false});
    assert_eq!(
        stream_error(&envd, START, start("/does/not/exist"), &[]).await,
        (
            "invalid_argument".into(),
            "cwd '/does/not/exist' does not exist".into()
        )
    );
    // A relative cwd resolves under the home directory.
    assert_eq!(
        stream_error(&envd, START, start("no-such-dir"), &[]).await,
        (
            "invalid_argument".into(),
            "cwd '/root/no-such-dir' does not exist".into()
        )
    );
    // A file is not a usable cwd either.
    assert_eq!(
        stream_error(&envd, START, start("/etc/hostname"), &[]).await,
        (
            "invalid_argument".into(),
            "cwd '/etc/hostname' does not exist".into()
        )
    );
    assert_eq!(
        stream_error(&envd, START, start("~root/x"), &[]).await,
        (
            "invalid_argument".into(),
            "cannot expand user-specific home dir: ~root/x".into()
        )
    );
    assert!(envd.live_pids().await.is_empty(), "nothing was started");
}

#[tokio::test]
async fn bad_connect_timeout_header_is_invalid_argument() {
    let envd = Envd::start();
    let (code, message) = stream_error(
        &envd,
        START,
        start_req("true", &[]),
        &[("connect-timeout-ms", "soon")],
    )
    .await;
    assert_eq!(code, "invalid_argument");
    assert_eq!(message, "parse timeout: invalid digit found in string");
    assert!(envd.live_pids().await.is_empty(), "nothing was started");
}

#[tokio::test]
async fn unknown_user_is_unauthenticated() {
    let envd = Envd::start();
    let auth = basic("no-such-user-envd");
    let headers = [("authorization", auth.as_str())];
    let expected_message = "invalid username: 'no-such-user-envd'";
    assert_eq!(
        stream_error(&envd, START, start_req("true", &[]), &headers).await,
        ("unauthenticated".into(), expected_message.into())
    );
    let (pid, _keep) = sleeper(&envd, false).await;
    assert_eq!(
        stream_error(&envd, CONNECT, by_pid(pid), &headers).await,
        ("unauthenticated".into(), expected_message.into())
    );
    assert_eq!(
        envd.fails(CLOSE_STDIN, by_pid(pid), &headers).await,
        (401, "unauthenticated".into(), expected_message.into())
    );
    assert_eq!(
        envd.fails(crate::support::process::LIST, json!({}), &headers)
            .await,
        (401, "unauthenticated".into(), expected_message.into())
    );
    // Malformed credentials are rejected the same way.
    assert_eq!(
        envd.fails(CLOSE_STDIN, by_pid(pid), &[("authorization", "Bearer abc")])
            .await
            .1,
        "unauthenticated"
    );
    assert_eq!(envd.live_pids().await, [pid], "only the sleeper runs");
    envd.kill(pid).await;
}

#[tokio::test]
async fn spawn_failure_is_invalid_argument() {
    let envd = Envd::start();
    assert_eq!(
        stream_error(&envd, START, start_req("bad\u{0}cmd", &[]), &[]).await,
        (
            "invalid_argument".into(),
            "error starting process: nul byte found in provided data".into()
        )
    );
}

#[tokio::test]
async fn input_on_the_wrong_channel_or_closed_stdin_is_internal() {
    let envd = Envd::start();
    let (pipe, _p) = sleeper(&envd, false).await;
    let (pty, _t) = sleeper(&envd, true).await;
    let input =
        |pid: u32, channel: &str| json!({"process": {"pid": pid}, "input": {channel: b64(b"x")}});
    assert_eq!(
        envd.fails(SEND_INPUT, input(pty, "stdin"), &[]).await,
        (
            500,
            "internal".into(),
            "input should be written to the pty, not the stdin".into()
        )
    );
    assert_eq!(
        envd.fails(SEND_INPUT, input(pipe, "pty"), &[]).await,
        (500, "internal".into(), "tty not assigned to process".into())
    );
    envd.ok(CLOSE_STDIN, by_pid(pipe)).await;
    assert_eq!(
        envd.fails(SEND_INPUT, input(pipe, "stdin"), &[]).await,
        (
            500,
            "internal".into(),
            "error writing to stdin: stdin not enabled or closed".into()
        )
    );
    // An input message without input is rejected, not ignored.
    assert_eq!(
        envd.fails(SEND_INPUT, by_pid(pipe), &[]).await,
        (400, "invalid_argument".into(), "input is required".into())
    );
    envd.kill(pipe).await;
    envd.kill(pty).await;
}

#[tokio::test]
async fn unsupported_signal_is_unimplemented() {
    let envd = Envd::start();
    let (pid, _keep) = sleeper(&envd, false).await;
    for signal in [json!("SIGNAL_UNSPECIFIED"), json!(0)] {
        assert_eq!(
            envd.fails(
                SEND_SIGNAL,
                json!({"process": {"pid": pid}, "signal": signal}),
                &[]
            )
            .await,
            (501, "unimplemented".into(), "invalid signal: 0".into()),
            "{signal}"
        );
    }
    // Numbers outside the enum (SIGINT) only survive the binary codec; the
    // JSON codec rejects them while decoding.
    let request = envd_proto::process::SendSignalRequest {
        process: Some(envd_proto::process::ProcessSelector {
            selector: Some(envd_proto::process::process_selector::Selector::Pid(pid)),
        }),
        signal: 2,
    };
    let (status, body) = envd
        .unary_proto(SEND_SIGNAL, prost::Message::encode_to_vec(&request))
        .await;
    assert_eq!(status, 501);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "unimplemented", "{body}");
    assert_eq!(body["message"], "invalid signal: 2", "{body}");
    assert_eq!(envd.live_pids().await, [pid], "still running");
    envd.kill(pid).await;
}

#[tokio::test]
async fn close_stdin_on_a_pty_is_unknown() {
    let envd = Envd::start();
    let (pty, _keep) = sleeper(&envd, true).await;
    assert_eq!(
        envd.fails(CLOSE_STDIN, by_pid(pty), &[]).await,
        (
            500,
            "unknown".into(),
            "error closing stdin: cannot close stdin for PTY process — send Ctrl+D (0x04) instead"
                .into()
        )
    );
    envd.kill(pty).await;
}

#[tokio::test]
async fn update_on_a_pipe_process_is_internal() {
    let envd = Envd::start();
    let (pipe, _keep) = sleeper(&envd, false).await;
    assert_eq!(
        envd.fails(
            UPDATE,
            json!({"process": {"pid": pipe}, "pty": {"size": {"cols": 100, "rows": 40}}}),
            &[]
        )
        .await,
        (500, "internal".into(), "tty not assigned to process".into())
    );
    // Without `pty` Update is a no-op, even for a pipe process.
    envd.ok(UPDATE, by_pid(pipe)).await;
    envd.kill(pipe).await;
}

#[tokio::test]
async fn stream_input_data_before_start_is_failed_precondition() {
    let envd = Envd::start();
    let input = envd.client_stream(STREAM_INPUT, &[]);
    input.send(&json!({"data": {"input": {"stdin": b64(b"early")}}}));
    // The error arrives while the request body is still open.
    let (status, run) = input.response().await;
    assert_eq!(status, 200);
    assert!(run.messages.is_empty());
    assert_eq!(
        run.error(),
        Some((
            "failed_precondition".into(),
            "stream input: data received before start".into()
        ))
    );
}

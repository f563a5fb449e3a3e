//! PTY mode: requested size, resize via Update, input via SendInput pty
//! bytes, Ctrl-D, no TERM from envd, size validation, byte-exact multibyte
//! output and output drained to EIO before the end.

use crate::support::process::{SEND_INPUT, START, UPDATE, b64, unb64};
use crate::support::{Envd, STEP};
use serde_json::{Value, json};

fn pty_start(cmd: &str, args: &[&str], cols: u32, rows: u32) -> Value {
    json!({"process": {"cmd": cmd, "args": args}, "pty": {"size": {"cols": cols, "rows": rows}}})
}

fn pty_input(pid: u32, data: &[u8]) -> Value {
    json!({"process": {"pid": pid}, "input": {"pty": b64(data)}})
}

fn resize(pid: u32, cols: u32, rows: u32) -> Value {
    json!({"process": {"pid": pid}, "pty": {"size": {"cols": cols, "rows": rows}}})
}

#[tokio::test]
async fn starts_with_the_requested_size() {
    let envd = Envd::start();
    let run = envd.run(pty_start("stty", &["size"], 123, 45)).await;
    run.assert_complete();
    assert_eq!(run.output("pty"), b"45 123\r\n");
    assert_eq!(run.output("stdout"), b"");
    assert_eq!(run.end().unwrap()["status"], "exit status 0");
}

#[tokio::test]
async fn update_resizes_the_terminal() {
    let envd = Envd::start();
    let mut stream = envd
        .stream(
            START,
            pty_start(
                "/bin/sh",
                &[
                    "-c",
                    "stty -echo; echo ready; read a; stty size; read b; stty size",
                ],
                80,
                24,
            ),
            &[],
        )
        .await;
    let pid = stream.start_pid().await;
    stream.until_output("pty", b"ready\r\n").await;
    envd.ok(UPDATE, resize(pid, 120, 40)).await;
    envd.ok(SEND_INPUT, pty_input(pid, b"\n")).await;
    stream.until_output("pty", b"40 120\r\n").await;
    envd.ok(UPDATE, resize(pid, 1, 4096)).await;
    envd.ok(SEND_INPUT, pty_input(pid, b"\n")).await;
    stream.until_output("pty", b"4096 1\r\n").await;
    let rest = stream.collect(STEP).await;
    assert_eq!(rest.end().unwrap()["status"], "exit status 0");
}

#[tokio::test]
async fn input_is_echoed_and_ctrl_d_ends_cat() {
    let envd = Envd::start();
    // stdin=false is ignored for a terminal.
    let mut req = pty_start("cat", &[], 80, 24);
    req["stdin"] = json!(false);
    let mut stream = envd.stream(START, req, &[]).await;
    let pid = stream.start_pid().await;
    envd.ok(SEND_INPUT, pty_input(pid, b"hello\n")).await;
    // The line discipline echoes the input, then cat writes it back.
    let seen = stream.until_output("pty", b"hello\r\nhello\r\n").await;
    envd.ok(SEND_INPUT, pty_input(pid, b"\x04")).await;
    let rest = stream.collect(STEP).await;
    let mut all = crate::support::process::output(&seen, "pty");
    all.extend(rest.output("pty"));
    assert_eq!(all, b"hello\r\nhello\r\n");
    assert_eq!(
        rest.end().unwrap(),
        &json!({"exited": true, "status": "exit status 0"})
    );
}

#[tokio::test]
async fn ctrl_c_is_passed_through_to_the_terminal() {
    let envd = Envd::start();
    let mut stream = envd
        .stream(START, pty_start("sleep", &["60"], 80, 24), &[])
        .await;
    let pid = stream.start_pid().await;
    envd.ok(SEND_INPUT, pty_input(pid, b"\x03")).await;
    let rest = stream.collect(STEP).await;
    assert_eq!(rest.end().unwrap()["status"], "signal: interrupt");
}

#[tokio::test]
async fn envd_sets_no_term_but_passes_the_clients() {
    let envd = Envd::start();
    let run = envd
        .run(pty_start(
            "/bin/sh",
            &["-c", "echo TERM=${TERM-unset}"],
            80,
            24,
        ))
        .await;
    assert_eq!(run.output("pty"), b"TERM=unset\r\n");
    let run = envd
        .run(json!({
            "process": {"cmd": "/bin/sh", "args": ["-c", "echo TERM=${TERM-unset}"], "envs": {"TERM": "xterm-256color"}},
            "pty": {"size": {"cols": 80, "rows": 24}}
        }))
        .await;
    assert_eq!(run.output("pty"), b"TERM=xterm-256color\r\n");
}

#[tokio::test]
async fn sizes_outside_1_to_4096_are_invalid_argument() {
    let envd = Envd::start();
    for (cols, rows) in [(0, 24), (80, 0), (4097, 24), (80, 4097)] {
        let run = envd.run(pty_start("true", &[], cols, rows)).await;
        assert!(run.messages.is_empty());
        assert_eq!(
            run.error(),
            Some((
                "invalid_argument".into(),
                format!(
                    "invalid pty size {cols}x{rows}: each dimension must be between 1 and 4096"
                )
            ))
        );
    }
    // A pty without a size is 0x0, also refused.
    let run = envd
        .run(json!({"process": {"cmd": "true"}, "pty": {}}))
        .await;
    assert_eq!(run.error().unwrap().0, "invalid_argument");
    assert!(envd.live_pids().await.is_empty());

    let mut stream = envd
        .stream(START, pty_start("sleep", &["60"], 80, 24), &[])
        .await;
    let pid = stream.start_pid().await;
    for (cols, rows) in [(0, 10), (10, 4097)] {
        assert_eq!(
            envd.fails(UPDATE, resize(pid, cols, rows), &[]).await,
            (
                400,
                "invalid_argument".into(),
                format!(
                    "invalid pty size {cols}x{rows}: each dimension must be between 1 and 4096"
                )
            )
        );
    }
    envd.ok(
        crate::support::process::SEND_SIGNAL,
        json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
    )
    .await;
    stream.collect(STEP).await;
}

#[tokio::test]
async fn multibyte_output_split_across_chunks_arrives_byte_exact() {
    let envd = Envd::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("utf8.txt");
    // 3- and 4-byte characters with no newline (which the terminal would
    // rewrite), far longer than one 32 KiB event.
    let text: String = "€ü😀ж".repeat(20_000);
    std::fs::write(&file, &text).unwrap();
    let run = envd
        .run(pty_start("cat", &[file.to_str().unwrap()], 80, 24))
        .await;
    run.assert_complete();
    let chunks: Vec<Vec<u8>> = run
        .messages
        .iter()
        .filter_map(|m| m["event"]["data"]["pty"].as_str())
        .map(unb64)
        .collect();
    assert!(chunks.len() > 1, "output came in one piece");
    assert!(
        chunks.iter().all(|c| c.len() <= 32 * 1024),
        "pty chunks are at most 32 KiB"
    );
    let split = chunks
        .iter()
        .filter(|c| std::str::from_utf8(c).is_err())
        .count();
    assert!(split > 0, "no chunk boundary fell inside a character");
    assert_eq!(chunks.concat(), text.as_bytes());
}

#[tokio::test]
async fn output_is_drained_to_eio_before_the_end() {
    let envd = Envd::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big");
    let data: Vec<u8> = (0..500_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let script = format!("cat {}; exit 3", file.display());
    let run = envd
        .run(pty_start("/bin/sh", &["-c", &script], 80, 24))
        .await;
    run.assert_complete();
    assert_eq!(run.output("pty"), data);
    assert_eq!(run.end().unwrap()["exitCode"], 3);
}

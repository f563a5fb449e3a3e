//! Output through sdk-rs handles is not kept: streaming N bytes through a
//! command handle and a terminal session grows this process's RSS by far
//! less than N. N is 64 MiB by default (CI); `make test-memory` sets
//! `ENVD_MEMORY_TEST_BYTES=1073741824` for the full GiB.
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a helper is a failed test"
)]

mod support;

use envd_sdk::{Command, CommandEvent, TerminalEvent, TerminalOptions};
use futures::StreamExt;
use support::Envd;

/// RSS growth allowed whatever the size streamed.
const BOUND: u64 = 64 * 1024 * 1024;

fn bytes() -> u64 {
    std::env::var("ENVD_MEMORY_TEST_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 * 1024 * 1024)
}

/// This process's resident set size, from /proc/self/status.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test]
async fn streaming_through_a_command_handle_keeps_rss_bounded() {
    let envd = Envd::start().await;
    let n = bytes();
    let script = format!("head -c {n} /dev/zero");
    let before = rss();
    let mut handle = envd
        .client()
        .commands()
        .spawn(Command::shell(script))
        .await
        .unwrap();
    let (mut seen, mut peak) = (0_u64, before);
    while let Some(event) = handle.events().next().await {
        match event.unwrap() {
            CommandEvent::Stdout(b) => seen += b.len() as u64,
            CommandEvent::Exit(exit) => assert!(exit.success(), "{exit:?}"),
            other => panic!("{other:?}"),
        }
        peak = peak.max(rss());
    }
    assert_eq!(seen, n);
    eprintln!(
        "command handle: {n} bytes, RSS growth {} KiB",
        (peak - before) / 1024
    );
    assert!(peak - before < BOUND, "RSS grew {} bytes", peak - before);
}

#[tokio::test]
async fn streaming_through_a_terminal_session_keeps_rss_bounded() {
    let envd = Envd::start().await;
    let n = bytes();
    let options = TerminalOptions::new(80, 24).command(
        "/bin/sh",
        ["-c", &format!("stty raw -echo; head -c {n} /dev/zero")],
    );
    let before = rss();
    let mut session = envd.client().terminals().create(options).await.unwrap();
    let (mut seen, mut peak) = (0_u64, before);
    while let Some(event) = session.next_output().await {
        match event.unwrap() {
            TerminalEvent::Output { data, .. } => seen += data.len() as u64,
            TerminalEvent::Exit(exit) => assert_eq!(exit.exit_code, 0, "{exit:?}"),
            other => panic!("{other:?}"),
        }
        peak = peak.max(rss());
    }
    assert!(seen >= n, "{seen} < {n}");
    eprintln!(
        "terminal session: {seen} bytes, RSS growth {} KiB",
        (peak - before) / 1024
    );
    assert!(peak - before < BOUND, "RSS grew {} bytes", peak - before);
}

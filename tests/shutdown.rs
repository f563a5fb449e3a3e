//! SIGTERM ends envd gracefully — also when whoever read its stderr (the
//! supervisor's log pipe) has gone away, so log writes fail with EPIPE.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Polls for the exit status for up to `limit`.
fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait for envd") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
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

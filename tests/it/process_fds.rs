//! R7: a child gets exactly fds 0, 1 and 2: no PTY master, no other
//! process's pipes or terminals, no envd sockets, in PTY and pipe mode,
//! while other processes with pipes and terminals are running.

use crate::support::frames::Frames;
use crate::support::process::{SEND_SIGNAL, START};
use crate::support::{Envd, STEP};
use serde_json::{Value, json};

/// `(fd, target)` pairs of an `ls -l /proc/self/fd` listing.
fn fds(listing: &str) -> Vec<(u32, String)> {
    listing
        .lines()
        .filter(|l| l.contains(" -> "))
        .map(|l| {
            let (left, target) = l.trim_end_matches('\r').split_once(" -> ").unwrap();
            let fd = left.rsplit(' ').next().unwrap().parse().unwrap();
            (fd, target.to_owned())
        })
        .collect()
}

fn assert_clean(listing: &str, mode: &str) {
    let fds = fds(listing);
    let numbers: Vec<u32> = fds.iter().map(|(fd, _)| *fd).collect();
    assert_eq!(numbers, [0, 1, 2, 3], "{mode}: {listing}");
    // fd 3 is ls's own directory handle.
    assert!(
        fds[3].1.starts_with("/proc/") && fds[3].1.ends_with("/fd"),
        "{mode}: {listing}"
    );
    for (fd, target) in &fds {
        assert!(!target.contains("ptmx"), "{mode}: fd {fd} is a pty master");
        assert!(
            !target.starts_with("socket:"),
            "{mode}: fd {fd} is a socket"
        );
    }
}

/// Keeps other processes (with stdin pipes and a terminal) alive meanwhile.
async fn neighbours(envd: &Envd) -> Vec<(u32, Frames)> {
    let mut out = Vec::new();
    for req in [
        json!({"process": {"cmd": "sleep", "args": ["60"]}, "stdin": true}),
        json!({"process": {"cmd": "sleep", "args": ["60"]}, "pty": {"size": {"cols": 80, "rows": 24}}}),
    ] {
        let mut stream = envd.stream(START, req, &[]).await;
        out.push((stream.start_pid().await, stream));
    }
    out
}

async fn stop(envd: &Envd, running: Vec<(u32, Frames)>) {
    for (pid, stream) in running {
        envd.ok(
            SEND_SIGNAL,
            json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
        )
        .await;
        stream.collect(STEP).await;
    }
}

fn ls_fds(pty: bool) -> Value {
    let mut req = json!({"process": {"cmd": "ls", "args": ["-l", "/proc/self/fd"]}, "stdin": true});
    if pty {
        req["pty"] = json!({"size": {"cols": 200, "rows": 24}});
    }
    req
}

#[tokio::test]
async fn pty_child_sees_only_its_terminal() {
    let envd = Envd::start();
    let running = neighbours(&envd).await;
    let run = envd.run(ls_fds(true)).await;
    run.assert_complete();
    let listing = String::from_utf8(run.output("pty")).unwrap();
    assert_clean(&listing, "pty");
    let fds = fds(&listing);
    assert!(
        fds[..3].iter().all(|(_, t)| t.starts_with("/dev/pts/")),
        "{listing}"
    );
    assert!(
        fds[..3].iter().all(|(_, t)| t == &fds[0].1),
        "one terminal: {listing}"
    );
    stop(&envd, running).await;
}

#[tokio::test]
async fn pipe_child_sees_only_its_pipes() {
    let envd = Envd::start();
    let running = neighbours(&envd).await;
    let run = envd.run(ls_fds(false)).await;
    run.assert_complete();
    let listing = String::from_utf8(run.output("stdout")).unwrap();
    assert_clean(&listing, "pipe");
    let fds = fds(&listing);
    assert!(
        fds[..3].iter().all(|(_, t)| t.starts_with("pipe:[")),
        "{listing}"
    );
    stop(&envd, running).await;
}

/// envd's own open descriptors, by kind (`pipe`, `socket`, `/dev/ptmx`…).
fn envd_fds(envd: &Envd, kind: &str) -> usize {
    crate::support::procfs::fd_targets(envd.pid())
        .iter()
        .filter(|t| t.contains(kind))
        .count()
}

/// An ended process stays retained for `Connect` (60 s by default) but
/// holds none of its pipes or its terminal meanwhile: before, each retained
/// process pinned two or three descriptors, and 10 000 short commands in a
/// minute exhausted envd's descriptor limit (EMFILE on every later start).
#[tokio::test]
async fn ended_processes_hold_no_descriptors() {
    let envd = Envd::start();
    let pipes = envd_fds(&envd, "pipe:");
    let masters = envd_fds(&envd, "ptmx");
    for i in 0..20 {
        let mut req = json!({"process": {"cmd": "true"}, "stdin": true});
        if i % 2 == 1 {
            req["pty"] = json!({"size": {"cols": 80, "rows": 24}});
        }
        envd.run(req).await.assert_complete();
    }
    // Released right after the end is published, which the client may see first.
    let deadline = std::time::Instant::now() + STEP;
    while (envd_fds(&envd, "pipe:") > pipes || envd_fds(&envd, "ptmx") > masters)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(envd_fds(&envd, "pipe:"), pipes, "pipes of ended processes");
    assert_eq!(
        envd_fds(&envd, "ptmx"),
        masters,
        "terminals of ended processes"
    );
}

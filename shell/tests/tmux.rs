//! envd-shell in a real terminal (tmux) against a real envd: prompt, window
//! size and resize, exit status, re-attach across cut connections.

mod support;

use std::time::Duration;

use support::{CutProxy, Envd, Tmux, exit_status, wrapper};

const SHELL: &str = "-- /bin/bash --norc --noprofile -i";

#[tokio::test]
async fn prompt_window_size_resize_and_exit_status() {
    let envd = Envd::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let (out, status) = (scratch.path().join("out"), scratch.path().join("status"));
    let tmux = Tmux::start(
        "basic",
        &wrapper(&format!("{} {SHELL}", envd.url), &out, &status),
    );
    tmux.wait_for("bash-").await;
    let (cols, rows) = tmux.pane_size();
    tmux.type_line("stty size");
    tmux.wait_for(&format!("{rows} {cols}")).await;
    tmux.run(&["resize-window", "-t", "t", "-x", "120", "-y", "40"]);
    let (cols, rows) = tmux.pane_size();
    assert_eq!((cols, rows), (120, 40));
    tmux.type_line("clear; stty size");
    tmux.wait_for("40 120").await;
    tmux.type_line("exit 3");
    assert_eq!(exit_status(&status).await, 3);
}

#[tokio::test]
async fn cut_connections_reattach_with_output_intact() {
    let envd = Envd::start().await;
    let proxy = CutProxy::start(&envd.addr).await;
    let scratch = tempfile::tempdir().unwrap();
    let (out, status) = (scratch.path().join("out"), scratch.path().join("status"));
    let tmux = Tmux::start(
        "cut",
        &wrapper(&format!("{} {SHELL}", proxy.url), &out, &status),
    );
    tmux.wait_for("bash-").await;
    tmux.type_line("echo before-$((1+1))");
    tmux.wait_for("before-2").await;
    proxy.cut(Duration::from_millis(300)).await;
    // Typed while envd is unreachable: queued, then sent once.
    tmux.type_line("echo after-$((2+2))");
    tmux.wait_for("after-4").await;
    // Output flowing while connections are cut, twice.
    tmux.type_line(
        "for i in $(seq 1 3000); do echo line-$i; sleep 0.001; done; echo done-$((3*3))",
    );
    let log = || std::fs::read_to_string(&out).unwrap_or_default();
    for mark in ["line-500\r\n", "line-1500\r\n"] {
        for _ in 0..300 {
            if log().contains(mark) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        proxy.cut(Duration::from_millis(200)).await;
    }
    tmux.wait_for("done-9").await;
    tmux.type_line("exit 0");
    assert_eq!(exit_status(&status).await, 0);
    let log = log();
    let lines: String = (1..=3000).map(|i| format!("line-{i}\r\n")).collect();
    assert_eq!(
        log.matches(&lines).count(),
        1,
        "every line once, in order:\n{log}"
    );
    assert_eq!(log.matches("before-2\r\n").count(), 1, "{log}");
    assert_eq!(log.matches("after-4\r\n").count(), 1, "{log}");
}

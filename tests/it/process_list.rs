//! List: every live process with pid, tag and the config exactly as given
//! at Start; exited processes leave the list.

use crate::support::process::{SEND_SIGNAL, START};
use crate::support::{Envd, STEP};
use serde_json::json;

#[tokio::test]
async fn list_echoes_config_as_requested_and_drops_exited_processes() {
    let envd = Envd::start();
    assert_eq!(
        envd.unary(crate::support::process::LIST, json!({})).await,
        (200, json!({}))
    );
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_str().unwrap().to_owned();
    let mut a = envd
        .stream(
            START,
            json!({
                "process": {"cmd": "sleep", "args": ["60"], "envs": {"A": "1", "B": "two"}, "cwd": cwd},
                "tag": "with-tag",
                "stdin": false
            }),
            &[],
        )
        .await;
    // cwd absent stays absent, no envs stays empty, no tag: no tag.
    let mut b = envd
        .stream(
            START,
            json!({"process": {"cmd": "sleep", "args": ["61"]}}),
            &[],
        )
        .await;
    let mut c = envd
        .stream(
            START,
            json!({"process": {"cmd": "sleep", "args": ["62"], "cwd": "~"}, "pty": {"size": {"cols": 80, "rows": 24}}}),
            &[],
        )
        .await;
    let (pa, pb, pc) = (
        a.start_pid().await,
        b.start_pid().await,
        c.start_pid().await,
    );
    let mut listed = envd.list().await;
    listed.sort_by_key(|p| p["pid"].as_u64());
    let mut expected = vec![
        json!({"pid": pa, "tag": "with-tag", "config": {"cmd": "sleep", "args": ["60"], "envs": {"A": "1", "B": "two"}, "cwd": cwd}}),
        json!({"pid": pb, "config": {"cmd": "sleep", "args": ["61"]}}),
        json!({"pid": pc, "config": {"cmd": "sleep", "args": ["62"], "cwd": "~"}}),
    ];
    expected.sort_by_key(|p| p["pid"].as_u64());
    assert_eq!(listed, expected);

    envd.ok(
        SEND_SIGNAL,
        json!({"process": {"pid": pb}, "signal": "SIGNAL_SIGKILL"}),
    )
    .await;
    b.collect(STEP).await;
    // The end event is only sent after the process left the live table.
    let mut pids = envd.live_pids().await;
    pids.sort_unstable();
    let mut remaining = vec![pa, pc];
    remaining.sort_unstable();
    assert_eq!(pids, remaining);

    for (pid, stream) in [(pa, a), (pc, c)] {
        envd.ok(
            SEND_SIGNAL,
            json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
        )
        .await;
        stream.collect(STEP).await;
    }
    assert_eq!(envd.list().await, Vec::<serde_json::Value>::new());
}

//! SendSignal: SIGTERM and SIGKILL end events (Go wording, exitCode -1),
//! selection by tag, delivery to the whole process group, and prompt ends.

use crate::support::frames::Frames;
use crate::support::process::{SEND_SIGNAL, START};
use crate::support::procfs::proc_state;
use crate::support::{Envd, STEP};
use serde_json::json;

async fn start_sleeper(envd: &Envd, tag: &str) -> (u32, Frames) {
    let mut stream = envd
        .stream(
            START,
            json!({"process": {"cmd": "sleep", "args": ["60"]}, "tag": tag, "stdin": false}),
            &[],
        )
        .await;
    (stream.start_pid().await, stream)
}

fn signal(selector: &serde_json::Value, name: &str) -> serde_json::Value {
    json!({"process": selector, "signal": name})
}

#[tokio::test]
async fn sigterm_ends_with_signal_terminated() {
    let envd = Envd::start();
    let (pid, stream) = start_sleeper(&envd, "term").await;
    envd.ok(SEND_SIGNAL, signal(&json!({"pid": pid}), "SIGNAL_SIGTERM"))
        .await;
    let rest = stream.collect(STEP).await;
    // exitCode -1 and exited false; `exited` is omitted as a default.
    assert_eq!(
        rest.end().unwrap(),
        &json!({"exitCode": -1, "status": "signal: terminated", "error": "signal: terminated"})
    );
    assert_eq!(rest.end_stream, json!({}));
}

#[tokio::test]
async fn sigkill_by_tag_ends_with_signal_killed() {
    let envd = Envd::start();
    let (pid, stream) = start_sleeper(&envd, "kill-me").await;
    envd.ok(
        SEND_SIGNAL,
        signal(&json!({"tag": "kill-me"}), "SIGNAL_SIGKILL"),
    )
    .await;
    let rest = stream.collect(STEP).await;
    assert_eq!(
        rest.end().unwrap(),
        &json!({"exitCode": -1, "status": "signal: killed", "error": "signal: killed"})
    );
    // Signalling it again: it is gone.
    assert_eq!(
        envd.fails(
            SEND_SIGNAL,
            signal(&json!({"pid": pid}), "SIGNAL_SIGKILL"),
            &[]
        )
        .await,
        (
            404,
            "not_found".into(),
            format!("process with pid {pid} not found")
        )
    );
}

#[tokio::test]
async fn numeric_enum_values_are_accepted() {
    let envd = Envd::start();
    let (pid, stream) = start_sleeper(&envd, "n").await;
    envd.ok(SEND_SIGNAL, json!({"process": {"pid": pid}, "signal": 15}))
        .await;
    assert_eq!(
        stream.collect(STEP).await.end().unwrap()["status"],
        "signal: terminated"
    );
}

#[tokio::test]
async fn signal_goes_to_the_whole_process_group() {
    let envd = Envd::start();
    let mut stream = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "sleep 60 >/dev/null 2>&1 & echo $!; wait"]}, "stdin": false}),
            &[],
        )
        .await;
    let pid = stream.start_pid().await;
    let seen = stream.until_output("stdout", b"\n").await;
    let child: u32 = String::from_utf8(crate::support::process::output(&seen, "stdout"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    envd.ok(SEND_SIGNAL, signal(&json!({"pid": pid}), "SIGNAL_SIGTERM"))
        .await;
    let rest = stream.collect(STEP).await;
    assert_eq!(rest.end().unwrap()["status"], "signal: terminated");
    // The background sleep (same group) got the signal too.
    crate::support::eventually(STEP, "background child terminated", || {
        proc_state(child)
            .is_none_or(|(state, _)| state == 'Z')
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn sigkill_ends_the_stream_even_when_a_grandchild_holds_stdout() {
    let envd = Envd::start();
    let mut stream = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "sleep 30 & echo $!; wait"]}, "stdin": false}),
            &[],
        )
        .await;
    let pid = stream.start_pid().await;
    let seen = stream.until_output("stdout", b"\n").await;
    let grandchild = String::from_utf8(crate::support::process::output(&seen, "stdout"))
        .unwrap()
        .trim()
        .to_owned();
    let began = std::time::Instant::now();
    envd.ok(SEND_SIGNAL, signal(&json!({"pid": pid}), "SIGNAL_SIGKILL"))
        .await;
    let rest = stream.collect(STEP).await;
    let took = began.elapsed();
    assert_eq!(rest.end().unwrap()["status"], "signal: killed");
    assert!(
        took < std::time::Duration::from_secs(3),
        "end took {took:?}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-9", &grandchild])
        .status();
}

#[tokio::test]
async fn process_killing_itself_reports_the_signal_name() {
    let envd = Envd::start();
    for (sig, name) in [
        ("HUP", "hangup"),
        ("INT", "interrupt"),
        ("SEGV", "segmentation fault"),
    ] {
        let run = envd
            .run(json!({"process": {"cmd": "/bin/sh", "args": ["-c", format!("kill -{sig} $$")]}, "stdin": false}))
            .await;
        let end = run.assert_complete();
        assert_eq!(end["exitCode"], -1, "{sig}");
        let status = end["status"].as_str().unwrap();
        // A core dump may or may not be written depending on ulimit -c.
        assert!(
            status == format!("signal: {name}")
                || status == format!("signal: {name} (core dumped)"),
            "{sig}: {status}"
        );
        assert_eq!(end["error"], end["status"]);
    }
}

/// Signals envd ignores are not passed on: started under `nohup` (SIGHUP
/// ignored), envd's commands still get default dispositions, so `kill -HUP
/// $$` ends one (it survived when dispositions leaked through exec).
#[tokio::test]
async fn commands_do_not_inherit_signals_envd_ignores() {
    let envd = Envd::start_under("nohup");
    let run = envd
        .run(json!({"process": {"cmd": "/bin/sh", "args": ["-c", "kill -HUP $$; echo survived"]}, "stdin": false}))
        .await;
    let end = run.assert_complete();
    assert_eq!(end["status"], "signal: hangup", "{end}");
    assert_eq!(
        crate::support::process::output(&run.messages, "stdout"),
        b"",
        "{end}"
    );
}

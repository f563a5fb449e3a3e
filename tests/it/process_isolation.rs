//! Process isolation (issue 11 item 1): every command leads its own process
//! group, so `kill 0` inside a command reaches only that command's
//! processes — never envd, never another command — and SendSignal reaches
//! the command's whole group, backgrounded grandchildren included.

use crate::support::frames::Frames;
use crate::support::process::{SEND_SIGNAL, START, basic};
use crate::support::procfs::proc_state;
use crate::support::users::TestUser;
use crate::support::{Envd, STEP, eventually};
use serde_json::json;

/// Starts a long sleeper as `headers`' user and returns its pid and stream.
async fn sleeper(envd: &Envd, headers: &[(&str, &str)]) -> (u32, Frames) {
    let mut stream = envd
        .stream(
            START,
            json!({"process": {"cmd": "sleep", "args": ["1000"]}, "stdin": false}),
            headers,
        )
        .await;
    (stream.start_pid().await, stream)
}

/// Runs each group-killing idiom as the user of `headers` while a sleeper
/// (as the same user) runs, then checks envd and the sleeper survived.
async fn group_kill_stays_inside_the_command(headers: &[(&str, &str)]) {
    let envd = Envd::start();
    let (other, _other_stream) = sleeper(&envd, headers).await;
    for script in [
        "trap 'kill 0' EXIT; sleep 1000 & echo started",
        "sleep 1000 & kill -TERM 0",
    ] {
        let run = envd
            .run_with(
                json!({"process": {"cmd": "/bin/sh", "args": ["-c", script]}, "stdin": false}),
                headers,
            )
            .await;
        // The command itself ended (it killed its own group) …
        assert!(run.end().is_some(), "{script}: {run:?}");
        // … envd still serves and the other command still runs.
        assert!(
            envd.live_pids().await.contains(&other),
            "{script}: the other command was killed"
        );
        let state = proc_state(other).expect("other command exists");
        assert_ne!(state.0, 'Z', "{script}: other command is a zombie");
        assert!(
            proc_state(envd.pid()).is_some(),
            "{script}: envd itself died"
        );
    }
    let echo = envd
        .run_with(
            json!({"process": {"cmd": "echo", "args": ["alive"]}, "stdin": false}),
            headers,
        )
        .await;
    echo.assert_complete();
    assert_eq!(echo.output("stdout"), b"alive\n");
    envd.kill(other).await;
}

#[tokio::test]
async fn kill_zero_as_root_reaches_neither_envd_nor_other_commands() {
    group_kill_stays_inside_the_command(&[]).await;
}

#[tokio::test]
async fn kill_zero_as_a_user_reaches_neither_envd_nor_its_other_commands() {
    let user = TestUser::create();
    let auth = basic(&user.name);
    group_kill_stays_inside_the_command(&[("authorization", auth.as_str())]).await;
}

#[tokio::test]
async fn each_command_leads_its_own_process_group_and_keeps_its_pid() {
    let envd = Envd::start();
    let run = envd
        .run(json!({"process": {"cmd": "/bin/sh", "args": ["-c", "echo $$; cut -d' ' -f5 /proc/$$/stat"]}, "stdin": false}))
        .await;
    run.assert_complete();
    let pid = run.pid();
    let out = String::from_utf8(run.output("stdout")).unwrap();
    let mut lines = out.lines().map(|l| l.trim().parse::<u32>().unwrap());
    assert_eq!(lines.next(), Some(pid), "reported pid is the command's");
    assert_eq!(lines.next(), Some(pid), "the command leads its own group");
}

#[tokio::test]
async fn sigkill_also_kills_backgrounded_grandchildren() {
    let envd = Envd::start();
    let mut stream = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "sleep 1000 & echo $!; sleep 1000 & echo $!; wait"]}, "stdin": false}),
            &[],
        )
        .await;
    let pid = stream.start_pid().await;
    let mut seen = Vec::new();
    let grandchildren: Vec<u32> = loop {
        seen.extend(stream.until_output("stdout", b"\n").await);
        let text = String::from_utf8(crate::support::process::output(&seen, "stdout")).unwrap();
        if text.lines().count() >= 2 {
            break text.lines().map(|l| l.trim().parse().unwrap()).collect();
        }
    };
    for &g in &grandchildren {
        assert!(
            proc_state(g).is_some(),
            "grandchild {g} runs before the kill"
        );
    }
    envd.ok(
        SEND_SIGNAL,
        json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
    )
    .await;
    let rest = stream.collect(STEP).await;
    assert_eq!(rest.end().unwrap()["status"], "signal: killed");
    for g in grandchildren {
        // Gone, or a zombie about to be reaped by envd (the subreaper).
        eventually(STEP, "grandchild killed and reaped", || {
            proc_state(g)
                .is_none_or(|(state, _)| state == 'Z')
                .then_some(())
        })
        .await;
        eventually(STEP, "grandchild reaped", || {
            proc_state(g).is_none().then_some(())
        })
        .await;
    }
}

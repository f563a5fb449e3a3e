//! `commands`: run, spawn, connect, list, stdin and signals against a real envd.

mod support;

use std::time::Duration;

use envd_sdk::{Code, Command, CommandEvent, ProcessSelector, Signal};
use futures::StreamExt;
use support::Envd;

#[tokio::test]
async fn run_collects_output_and_a_non_zero_exit_is_a_result() {
    let envd = Envd::start().await;
    let out = envd
        .client()
        .commands()
        .run(Command::new("/bin/sh").args(["-c", "echo out; echo err >&2; exit 3"]))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "out\n");
    assert_eq!(out.stderr_text(), "err\n");
    assert_eq!(out.exit_code(), 3);
    assert!(out.exit.exited);
    assert!(!out.exit.success());
    assert_eq!(out.exit.status, "exit status 3");
    assert!(out.pid > 0);
}

#[tokio::test]
async fn run_passes_env_cwd_and_stdin() {
    let envd = Envd::start().await;
    let scratch = support::Scratch::new();
    let out = envd
        .client()
        .commands()
        .run(
            Command::shell("echo \"$GREETING\"; pwd; cat")
                .env("GREETING", "hi there")
                .cwd(scratch.root())
                .stdin("from stdin"),
        )
        .await
        .unwrap();
    assert!(out.exit.success(), "{out:?}");
    assert_eq!(
        out.stdout_text(),
        format!("hi there\n{}\nfrom stdin", scratch.root())
    );
}

#[tokio::test]
async fn run_timeout_kills_the_process_and_fails_with_deadline_exceeded() {
    let envd = Envd::start().await;
    let started = std::time::Instant::now();
    let error = envd
        .client()
        .commands()
        .run(
            Command::new("/bin/sleep")
                .arg("30")
                .timeout(Duration::from_millis(500)),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn spawn_streams_events_and_takes_stdin() {
    let envd = Envd::start().await;
    let client = envd.client();
    let mut handle = client
        .commands()
        .spawn(Command::new("/bin/cat").keep_stdin_open())
        .await
        .unwrap();
    handle.send_stdin("ping\n").await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), handle.events().next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event, CommandEvent::Stdout("ping\n".into()));
    handle.close_stdin().await.unwrap();
    let out = handle.wait().await.unwrap();
    assert!(out.exit.success());
    assert!(out.stdout.is_empty(), "already consumed: {out:?}");
}

#[tokio::test]
async fn connect_by_tag_sees_new_output_and_kill_reports_whether_it_existed() {
    let envd = Envd::start().await;
    let commands = envd.client().commands();
    let spawned = commands
        .spawn(
            Command::new("/bin/sh")
                .args(["-c", "while read line; do echo \"got $line\"; done"])
                .tag("sdk-test-tag")
                .keep_stdin_open(),
        )
        .await
        .unwrap();
    let pid = spawned.pid();
    spawned.disconnect();

    let listed = commands.list().await.unwrap();
    let info = listed.iter().find(|p| p.pid == pid).expect("listed");
    assert_eq!(info.tag.as_deref(), Some("sdk-test-tag"));
    assert_eq!(info.cmd, "/bin/sh");

    let mut attached = commands.connect("sdk-test-tag").await.unwrap();
    assert_eq!(attached.pid(), pid);
    commands
        .send_stdin(ProcessSelector::Tag("sdk-test-tag".into()), "x\n")
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), attached.events().next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event, CommandEvent::Stdout("got x\n".into()));

    assert!(commands.kill(pid).await.unwrap());
    let out = attached.wait().await.unwrap();
    assert_eq!(out.exit.exit_code, -1);
    assert_eq!(out.exit.status, "signal: killed");
    // Gone now (or only cached): a second kill reports false.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!commands.kill(pid).await.unwrap());
}

#[tokio::test]
async fn sigterm_and_errors_carry_typed_codes() {
    let envd = Envd::start().await;
    let commands = envd.client().commands();
    let handle = commands
        .spawn(Command::new("/bin/sleep").arg("30"))
        .await
        .unwrap();
    handle.signal(Signal::Term).await.unwrap();
    let out = handle.wait().await.unwrap();
    assert_eq!(out.exit.status, "signal: terminated");

    let error = commands.connect(4_000_000_u32).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(error.http_status(), None);
    let error = commands
        .run(Command::new("/bin/true").cwd("/nonexistent/envd-sdk"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
}

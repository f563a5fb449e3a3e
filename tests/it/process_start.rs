//! Start: event order, exact output, end-event wording, pid, environment,
//! cwd resolution, priority settings and concurrent subscribers.

use crate::support::Envd;
use crate::support::process::{CONNECT, START, by_pid, kind, start_req};
use serde_json::json;

#[tokio::test]
async fn echo_yields_start_exact_stdout_and_end() {
    let envd = Envd::start();
    let run = envd.run(start_req("echo", &["hello", "world"])).await;
    let end = run.assert_complete();
    assert!(run.pid() > 1);
    assert_eq!(run.output("stdout"), b"hello world\n");
    assert_eq!(run.output("stderr"), b"");
    // Default values are omitted in JSON: exited is true, error absent.
    assert_eq!(end, &json!({"exited": true, "status": "exit status 0"}));
}

#[tokio::test]
async fn end_event_follows_go_wording_for_exit_codes() {
    let envd = Envd::start();
    for code in [1, 3, 127, 255] {
        let run = envd
            .run(start_req("/bin/sh", &["-c", &format!("exit {code}")]))
            .await;
        let status = format!("exit status {code}");
        assert_eq!(
            run.assert_complete(),
            &json!({"exitCode": code, "exited": true, "status": status, "error": status})
        );
    }
}

#[tokio::test]
async fn missing_command_is_exit_127_not_a_start_error() {
    let envd = Envd::start();
    let run = envd.run(start_req("no-such-command-xyz", &[])).await;
    let end = run.assert_complete();
    assert_eq!(end["exitCode"], 127);
    let stderr = String::from_utf8(run.output("stderr")).unwrap();
    assert!(stderr.contains("no-such-command-xyz"), "{stderr:?}");
    assert!(stderr.contains("not found"), "{stderr:?}");
}

#[tokio::test]
async fn pid_is_the_user_command_after_the_wrapper_execs() {
    let envd = Envd::start();
    let run = envd.run(start_req("/bin/sh", &["-c", "echo $$"])).await;
    run.assert_complete();
    assert_eq!(run.output("stdout"), format!("{}\n", run.pid()).as_bytes());
}

#[tokio::test]
async fn child_runs_with_oom_score_adj_100_and_nice_0() {
    // Whatever envd's own priority (E2B runs it at nice -20; here `nice`
    // starts it at +10), children run at nice 0 and best-effort I/O 4.
    for envd in [Envd::start(), Envd::start_under("nice")] {
        let run = envd
            .run(start_req(
                "/bin/sh",
                &["-c", "cat /proc/self/oom_score_adj; nice; ionice"],
            ))
            .await;
        run.assert_complete();
        assert_eq!(
            String::from_utf8_lossy(&run.output("stdout")),
            "100\n0\nbest-effort: prio 4\n"
        );
    }
}

#[tokio::test]
async fn environment_precedence_and_nothing_else_inherited() {
    let envd = Envd::start();
    let run = envd
        .run(json!({
            "process": {"cmd": "env", "envs": {"FOO": "bar baz", "USER": "override"}},
            "stdin": false
        }))
        .await;
    run.assert_complete();
    let stdout = String::from_utf8(run.output("stdout")).unwrap();
    let mut vars: Vec<&str> = stdout.lines().collect();
    vars.sort_unstable();
    let names: Vec<&str> = vars.iter().map(|v| v.split('=').next().unwrap()).collect();
    // The wrapper shell may export PWD and envd adds its sandbox marker;
    // nothing else from envd's own environment (TERM, LANG, SHELL,
    // ENVD_LOG...) reaches the child.
    let mut expected = vec!["FOO", "HOME", "LOGNAME", "PATH", "USER", "WRENN_SANDBOX"];
    if names.contains(&"PWD") {
        expected.push("PWD");
    }
    expected.sort_unstable();
    assert_eq!(names, expected, "{stdout}");
    assert!(vars.contains(&"WRENN_SANDBOX=true"));
    assert!(vars.contains(&"FOO=bar baz"));
    assert!(vars.contains(&"HOME=/root"));
    assert!(vars.contains(&"LOGNAME=root"));
    assert!(vars.contains(&"USER=override"), "request env wins");
}

#[tokio::test]
async fn cwd_absolute_relative_and_tilde() {
    let envd = Envd::start();
    let dir = tempfile::tempdir().unwrap();
    let abs = dir.path().to_str().unwrap();
    let cases = [
        (Some(abs.to_owned()), format!("{abs}\n")),
        (None, "/root\n".to_owned()),
        (Some("~".to_owned()), "/root\n".to_owned()),
        (Some(".".to_owned()), "/root\n".to_owned()),
        (Some("../tmp".to_owned()), "/tmp\n".to_owned()),
        (Some("~/../tmp".to_owned()), "/tmp\n".to_owned()),
    ];
    for (cwd, expected) in cases {
        let mut process = json!({"cmd": "pwd"});
        if let Some(cwd) = &cwd {
            process["cwd"] = json!(cwd);
        }
        let run = envd.run(json!({"process": process, "stdin": false})).await;
        run.assert_complete();
        assert_eq!(
            String::from_utf8(run.output("stdout")).unwrap(),
            expected,
            "cwd {cwd:?}"
        );
    }
}

#[tokio::test]
async fn stdout_and_stderr_are_separate_and_binary_safe() {
    let envd = Envd::start();
    let run = envd
        .run(start_req(
            "/bin/sh",
            &["-c", r"printf '\377\000\376out'; printf '\001err' >&2"],
        ))
        .await;
    run.assert_complete();
    assert_eq!(run.output("stdout"), b"\xff\x00\xfeout");
    assert_eq!(run.output("stderr"), b"\x01err");
}

#[tokio::test]
async fn every_subscriber_sees_every_later_event() {
    let envd = Envd::start();
    let mut start = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "read x; echo got-$x"]}}),
            &[],
        )
        .await;
    let pid = start.start_pid().await;
    let connects = [
        envd.stream(CONNECT, by_pid(pid), &[]).await,
        envd.stream(CONNECT, by_pid(pid), &[]).await,
    ];
    let mut connected = Vec::new();
    for mut c in connects {
        assert_eq!(c.start_pid().await, pid);
        connected.push(c);
    }
    envd.ok(
        "process.Process/SendInput",
        json!({"process": {"pid": pid}, "input": {"stdin": crate::support::process::b64(b"1\n")}}),
    )
    .await;
    let mut all = vec![start.collect(crate::support::STEP).await];
    for c in connected {
        all.push(c.collect(crate::support::STEP).await);
    }
    for run in &all {
        assert_eq!(run.output("stdout"), b"got-1\n");
        assert_eq!(kind(run.messages.last().unwrap()), "end");
        assert_eq!(run.end().unwrap()["status"], "exit status 0");
        assert_eq!(run.end_stream, json!({}));
    }
}

#[tokio::test]
async fn hundred_parallel_starts_each_get_their_own_output() {
    let envd = Envd::start();
    let runs = futures::future::join_all((0..100).map(|i| {
        let envd = &envd;
        async move {
            let run = envd
                .run(start_req("/bin/sh", &["-c", &format!("echo run-{i}")]))
                .await;
            (i, run)
        }
    }))
    .await;
    let mut pids = std::collections::HashSet::new();
    for (i, run) in runs {
        run.assert_complete();
        assert_eq!(run.output("stdout"), format!("run-{i}\n").as_bytes());
        assert!(
            pids.insert(run.pid()),
            "pids are distinct among live processes"
        );
    }
}

//! R6 and credentials: the home directory comes from passwd (root's is
//! /root), a Basic-auth user runs with its uid, gid and supplementary
//! groups in its passwd home, and an unknown user is rejected.

use crate::support::Envd;
use crate::support::frames::Collected;
use crate::support::process::basic;
use crate::support::users::TestUser;
use serde_json::json;

fn stdout_of(run: &Collected) -> String {
    run.assert_complete();
    assert_eq!(run.end().unwrap()["status"], "exit status 0", "{run:?}");
    String::from_utf8(run.output("stdout")).unwrap()
}

#[tokio::test]
async fn root_without_cwd_runs_in_root_home_in_pipe_and_pty_mode() {
    let envd = Envd::start();
    let pipe = envd
        .run(json!({"process": {"cmd": "/bin/sh", "args": ["-c", "pwd; echo $HOME"]}, "stdin": false}))
        .await;
    assert_eq!(stdout_of(&pipe), "/root\n/root\n");
    let pty = envd
        .run(json!({"process": {"cmd": "pwd"}, "pty": {"size": {"cols": 80, "rows": 24}}}))
        .await;
    pty.assert_complete();
    assert_eq!(pty.output("pty"), b"/root\r\n");
}

#[tokio::test]
async fn basic_auth_user_runs_with_its_credentials_groups_and_passwd_home() {
    let user = TestUser::create();
    let envd = Envd::start();
    let auth = basic(&user.name);
    let headers = [("authorization", auth.as_str())];
    let home = user.home.to_str().unwrap().to_owned();
    assert!(home.starts_with("/opt/"), "passwd home is not /home/<name>");

    let run = envd
        .run_with(
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "id -un; id -u; pwd; echo $HOME $USER $LOGNAME"]}, "stdin": false}),
            &headers,
        )
        .await;
    assert_eq!(
        stdout_of(&run),
        format!("{0}\n{1}\n{home}\n{home} {0} {0}\n", user.name, user.uid())
    );

    // Supplementary groups: the user's own group plus the one it was added to.
    let run = envd
        .run_with(
            json!({"process": {"cmd": "id", "args": ["-G"]}, "stdin": false}),
            &headers,
        )
        .await;
    let groups: Vec<u32> = stdout_of(&run)
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    assert!(
        groups.contains(&user.group_gid),
        "{groups:?} lacks {}",
        user.group_gid
    );
    assert!(
        !groups.contains(&0),
        "root's groups must not leak: {groups:?}"
    );
    assert_eq!(groups.len(), 2, "{groups:?}");

    // Relative and tilde cwds resolve under the passwd home.
    std::fs::create_dir(user.home.join("sub")).unwrap();
    for cwd in ["sub", "~/sub"] {
        let run = envd
            .run_with(
                json!({"process": {"cmd": "pwd", "cwd": cwd}, "stdin": false}),
                &headers,
            )
            .await;
        assert_eq!(stdout_of(&run), format!("{home}/sub\n"), "{cwd}");
    }

    // The same user in a PTY.
    let run = envd
        .run_with(
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "id -un; pwd"]}, "pty": {"size": {"cols": 80, "rows": 24}}}),
            &headers,
        )
        .await;
    run.assert_complete();
    assert_eq!(
        run.output("pty"),
        format!("{}\r\n{home}\r\n", user.name).as_bytes()
    );
}

#[tokio::test]
async fn unknown_basic_user_is_unauthenticated_and_nothing_runs() {
    let envd = Envd::start();
    let auth = basic("envd-nobody-here");
    let run = envd
        .run_with(
            json!({"process": {"cmd": "true"}, "stdin": false}),
            &[("authorization", auth.as_str())],
        )
        .await;
    assert!(run.messages.is_empty(), "{run:?}");
    assert_eq!(
        run.error(),
        Some((
            "unauthenticated".into(),
            "invalid username: 'envd-nobody-here'".into()
        ))
    );
    assert!(envd.live_pids().await.is_empty());
}

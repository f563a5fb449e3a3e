//! The user boundary for processes (issue 11 item 2): the child becomes the
//! user before it enters its cwd, so a cwd the user may not enter — behind a
//! 0700 root-owned directory, through a symlink into one, or via `..` —
//! fails the start with `invalid_argument` (Go's envd: the spawn error)
//! instead of handing the user a view into it. Root keeps full rights.

use std::os::unix::fs::PermissionsExt;

use crate::support::Envd;
use crate::support::process::basic;
use crate::support::users::TestUser;
use serde_json::json;

/// A root-owned 0700 directory `secret` with a file in it, inside the
/// user's home (so everything up to it is traversable by the user), plus a
/// symlink `link` to it.
fn guarded(user: &TestUser) -> std::path::PathBuf {
    let secret = user.home.join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("file"), "top secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&secret, user.home.join("link")).unwrap();
    secret
}

#[tokio::test]
async fn a_cwd_the_user_cannot_enter_fails_the_start() {
    let user = TestUser::create();
    let secret = guarded(&user);
    let envd = Envd::start();
    let auth = basic(&user.name);
    let headers = [("authorization", auth.as_str())];
    let home = user.home.to_str().unwrap();
    let cwds = [
        secret.to_str().unwrap().to_owned(),
        "~/link".to_owned(),
        format!("{home}/link"),
        format!("{home}/../{}/secret", user.name),
        "secret".to_owned(),
    ];
    for cwd in &cwds {
        let run = envd
            .run_with(
                json!({"process": {"cmd": "cat", "args": ["file"], "cwd": cwd}, "stdin": false}),
                &headers,
            )
            .await;
        assert!(run.messages.is_empty(), "{cwd}: no start event: {run:?}");
        let err = &run.end_stream["error"];
        assert_eq!(err["code"], "invalid_argument", "{cwd}: {run:?}");
        let message = err["message"].as_str().unwrap();
        assert!(
            message.contains("is not accessible to user") && message.contains("ermission denied"),
            "{cwd}: {message}"
        );
        assert!(!message.contains("top secret"), "{message}");
    }
    // The user cannot read the file by path either …
    let run = envd
        .run_with(
            json!({"process": {"cmd": "cat", "args": [secret.join("file")]}, "stdin": false}),
            &headers,
        )
        .await;
    let end = run.assert_complete();
    assert_ne!(end["exitCode"], 0, "{run:?}");
    assert!(run.output("stdout").is_empty());
    // … while root keeps full rights.
    let run = envd
        .run(json!({"process": {"cmd": "cat", "args": ["file"], "cwd": secret}, "stdin": false}))
        .await;
    run.assert_complete();
    assert_eq!(run.output("stdout"), b"top secret\n");
    // And the user still starts in a directory it may enter.
    let run = envd
        .run_with(
            json!({"process": {"cmd": "pwd", "cwd": home}, "stdin": false}),
            &headers,
        )
        .await;
    run.assert_complete();
    assert_eq!(run.output("stdout"), format!("{home}\n").as_bytes());
}

#[tokio::test]
async fn a_pty_cwd_the_user_cannot_enter_fails_the_start_too() {
    let user = TestUser::create();
    let secret = guarded(&user);
    let envd = Envd::start();
    let auth = basic(&user.name);
    let run = envd
        .run_with(
            json!({"process": {"cmd": "pwd", "cwd": secret}, "pty": {"size": {"cols": 80, "rows": 24}}}),
            &[("authorization", auth.as_str())],
        )
        .await;
    assert!(run.messages.is_empty(), "{run:?}");
    assert_eq!(
        run.end_stream["error"]["code"], "invalid_argument",
        "{run:?}"
    );
}

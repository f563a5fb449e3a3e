//! envd-shell's one-line errors and exit statuses when it cannot start.

mod support;

use std::process::Stdio;

use support::{Envd, shell_bin};

async fn run(args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(shell_bin())
        .args(args)
        .env_remove("ENVD_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("envd-shell runs");
    (
        out.status.code().expect("an exit code, not a signal"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn unreachable_envd_exits_2_with_one_line() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, stderr) = run(&[&format!("http://127.0.0.1:{port}")]).await;
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("envd-shell: cannot reach envd at"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_wrong_token_exits_1_naming_the_token() {
    let envd = Envd::start().await;
    let client = envd_sdk::Client::connect(envd.url.clone()).unwrap();
    client
        .init(&envd_sdk::InitOptions::new().access_token("right-token"))
        .await
        .unwrap();
    let (code, stderr) = run(&[&envd.url, "--token", "wrong-token"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refused the access token"), "{stderr}");
    let (code, stderr) = run(&[
        &envd.url,
        "--token",
        "right-token",
        "--",
        "/bin/sh",
        "-c",
        "exit 5",
    ])
    .await;
    assert_eq!(code, 5, "{stderr}");
}

#[tokio::test]
async fn usage_errors_exit_64_and_help_exits_0() {
    let (code, stderr) = run(&["--bogus"]).await;
    assert_eq!(code, 64, "{stderr}");
    let out = std::process::Command::new(shell_bin())
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("usage: envd-shell"));
}

//! PTY sessions: size, output, write, resize, kill.

mod support;

use std::time::Duration;

use envd_sdk::{CommandEvent, PtyOptions};
use futures::StreamExt;
use support::Envd;

/// Reads PTY output until it contains `needle`.
async fn read_until(session: &mut envd_sdk::PtySession, seen: &mut Vec<u8>, needle: &str) {
    tokio::time::timeout(Duration::from_secs(15), async {
        while !String::from_utf8_lossy(seen).contains(needle) {
            match session.events().next().await {
                Some(Ok(CommandEvent::Pty(b))) => seen.extend_from_slice(&b),
                other => panic!("unexpected {other:?} while waiting for {needle:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", String::from_utf8_lossy(seen)));
}

#[tokio::test]
async fn create_write_resize_kill() {
    let envd = Envd::start().await;
    let mut session = envd
        .client()
        .pty()
        .create(PtyOptions::new(80, 24).command("/bin/sh", Vec::<String>::new()))
        .await
        .unwrap();
    let mut seen = Vec::new();
    session
        .write("stty size; echo \"T=$TERM\"\n")
        .await
        .unwrap();
    read_until(&mut session, &mut seen, "24 80").await;
    read_until(&mut session, &mut seen, "T=xterm-256color").await;
    session.resize(132, 43).await.unwrap();
    session.write("stty size\n").await.unwrap();
    read_until(&mut session, &mut seen, "43 132").await;
    session.kill().await.unwrap();
    let exit = session.wait().await.unwrap();
    assert_eq!(exit.exit.status, "signal: killed");
    assert!(!exit.exit.exited);
}

#[tokio::test]
async fn the_shell_exit_code_is_reported() {
    let envd = Envd::start().await;
    let session = envd
        .client()
        .pty()
        .create(PtyOptions::new(80, 24).command("/bin/sh", Vec::<String>::new()))
        .await
        .unwrap();
    session.write("exit 7\n").await.unwrap();
    let exit = session.wait().await.unwrap();
    assert_eq!(exit.exit.exit_code, 7);
}

//! Streams never hang silently: they ask for keepalives and fail with
//! `Unavailable` after 3x the interval without any message.

mod support;

use std::time::{Duration, Instant};

use envd_sdk::{Client, Code, Command, CommandEvent, ErrorReason};
use futures::StreamExt;
use support::{Envd, Scratch, proxy::StallProxy};

fn client(url: &str) -> Client {
    Client::builder(url)
        .keepalive_interval(Duration::from_secs(1))
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_quiet_process_stays_alive_on_keepalives() {
    let envd = Envd::start().await;
    // Silent for 5 s: without the 1 s keepalive header envd would use its
    // 90 s default and the 3 s watchdog would fire.
    let out = client(&envd.url)
        .commands()
        .run(Command::shell("sleep 5; echo done"))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "done\n");
}

#[tokio::test]
async fn a_stalled_process_stream_fails_with_unavailable() {
    let envd = Envd::start().await;
    let proxy = StallProxy::start(&envd.url).await;
    let client = client(&proxy.url);
    let mut handle = client
        .commands()
        .spawn(Command::shell("while true; do echo tick; sleep 0.2; done"))
        .await
        .unwrap();
    let pid = handle.pid();
    let first = handle.events().next().await.unwrap().unwrap();
    assert_eq!(first, CommandEvent::Stdout("tick\n".into()));
    proxy.freeze();
    let frozen_at = Instant::now();
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(15), handle.events().next())
            .await
            .expect("the stream hung instead of failing")
        {
            Some(Ok(_)) => continue, // data already in flight before the freeze
            Some(Err(error)) => break error,
            None => panic!("stream ended without an error"),
        }
    };
    let waited = frozen_at.elapsed();
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert_eq!(error.reason(), Some(ErrorReason::StreamStalled), "{error}");
    assert!(error.message().contains("keepalive"), "{error}");
    assert!(
        waited >= Duration::from_millis(2500),
        "failed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(8),
        "failed too late: {waited:?}"
    );
    assert!(envd.client().commands().kill(pid).await.unwrap());
}

#[tokio::test]
async fn a_stalled_watch_fails_with_unavailable() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let proxy = StallProxy::start(&envd.url).await;
    let mut watch = client(&proxy.url)
        .files()
        .watch(&scratch.root(), false)
        .await
        .unwrap();
    proxy.freeze();
    let error = tokio::time::timeout(Duration::from_secs(15), watch.next())
        .await
        .expect("the watch hung instead of failing")
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(error.reason(), Some(ErrorReason::StreamStalled), "{error}");
    assert!(error.message().contains("keepalive"), "{error}");
}

#[tokio::test]
async fn a_stalled_unary_call_fails_after_the_request_timeout() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let proxy = StallProxy::start(&envd.url).await;
    let client = Client::builder(&proxy.url)
        .request_timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    assert!(client.files().exists(&scratch.root()).await.unwrap());
    proxy.freeze();
    let started = Instant::now();
    let error = client.files().stat(&scratch.root()).await.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let error = client.health().await.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
}

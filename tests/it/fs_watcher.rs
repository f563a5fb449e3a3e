//! Polled watchers (spec §4.3): CreateWatcher, GetWatcherEvents and
//! RemoveWatcher, their errors, the bounded event buffer and inotify
//! descriptors released on removal.

use std::time::{Duration, Instant};

use crate::support::fs::{
    CREATE_WATCHER, GET_WATCHER_EVENTS, REMOVE_WATCHER, inotify_fds_become, name_and_type,
    scratch_dir,
};
use crate::support::{Envd, STEP, s};
use serde_json::{Value, json};

async fn create(envd: &Envd, request: Value) -> String {
    let reply = envd.call(CREATE_WATCHER, request).await;
    reply["watcherId"].as_str().expect("watcherId").to_owned()
}

async fn events(envd: &Envd, id: &str) -> Vec<(String, String)> {
    let reply = envd
        .call(GET_WATCHER_EVENTS, json!({"watcherId": id}))
        .await;
    reply
        .get("events")
        .and_then(Value::as_array)
        .map(|events| events.iter().map(name_and_type).collect())
        .unwrap_or_default()
}

/// Polls GetWatcherEvents (the API has nothing to wait on) until `count`
/// events accumulated; fails after [`STEP`].
async fn poll_events(envd: &Envd, id: &str, count: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + STEP;
    let mut all = Vec::new();
    while all.len() < count {
        all.extend(events(envd, id).await);
        assert!(Instant::now() < deadline, "only {all:?} after {STEP:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    all
}

#[tokio::test]
async fn lifecycle_fifo_events_and_removal() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let id = create(&envd, json!({"path": s(dir.path())})).await;
    assert_eq!(id.len(), 21, "{id}");
    assert!(id.starts_with('w'), "{id}");
    assert!(
        id[1..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(envd.inotify_fds(), 1);
    assert!(events(&envd, &id).await.is_empty());

    for name in ["one", "two", "three"] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let got = poll_events(&envd, &id, 3).await;
    let creates: Vec<&str> = got
        .iter()
        .filter(|(_, kind)| kind == "CREATE")
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(creates, ["one", "two", "three"], "FIFO order: {got:?}");
    // Fetched events are gone.
    assert!(events(&envd, &id).await.is_empty());

    assert_eq!(
        envd.call(REMOVE_WATCHER, json!({"watcherId": id})).await,
        json!({})
    );
    inotify_fds_become(&envd, 0).await;
    for method in [GET_WATCHER_EVENTS, REMOVE_WATCHER] {
        let (status, code, message) = envd.fails(method, json!({"watcherId": id}), &[]).await;
        assert_eq!((status, code.as_str()), (404, "not_found"), "{method}");
        assert_eq!(message, format!("watcher with id {id} not found"));
    }
}

#[tokio::test]
async fn recursive_watcher_with_entries() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let id = create(
        &envd,
        json!({"path": s(dir.path()), "recursive": true, "includeEntry": true}),
    )
    .await;
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/inside"), b"x").unwrap();
    let deadline = Instant::now() + STEP;
    let mut seen = Vec::new();
    while !seen.iter().any(|e: &Value| e["name"] == "sub/inside") {
        let reply = envd
            .call(GET_WATCHER_EVENTS, json!({"watcherId": id}))
            .await;
        seen.extend(reply["events"].as_array().cloned().unwrap_or_default());
        assert!(Instant::now() < deadline, "no sub/inside in {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let inside = seen.iter().find(|e| e["name"] == "sub/inside").unwrap();
    assert_eq!(inside["type"], "EVENT_TYPE_CREATE");
    assert_eq!(inside["entry"]["path"], s(&dir.path().join("sub/inside")));
    envd.call(REMOVE_WATCHER, json!({"watcherId": id})).await;
}

#[tokio::test]
async fn create_watcher_validates_like_watch_dir() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let missing = dir.path().join("missing");
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let (status, code, message) = envd
        .fails(CREATE_WATCHER, json!({"path": s(&missing)}), &[])
        .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert_eq!(message, format!("path {} not found", s(&missing)));
    let (status, code, message) = envd
        .fails(CREATE_WATCHER, json!({"path": s(&file)}), &[])
        .await;
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert_eq!(message, format!("path {} not a directory", s(&file)));
    assert_eq!(envd.inotify_fds(), 0, "failed creations hold nothing");
}

#[tokio::test]
async fn unfetched_events_are_bounded_and_become_the_watchers_error() {
    // More events than the watcher's buffer (65 536) holds.
    const FILES: usize = 70_000;
    let envd = Envd::start();
    let dir = scratch_dir();
    let id = create(&envd, json!({"path": s(dir.path())})).await;
    let root = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        for i in 0..FILES {
            std::fs::File::create(root.join(format!("f{i:05}"))).unwrap();
        }
    })
    .await
    .unwrap();
    // Either envd's buffer or the kernel's queue overflowed; both are
    // reported, never silently dropped. The failed watcher holds no fd.
    let deadline = Instant::now() + STEP;
    let (status, code, message) = loop {
        let (status, reply) = envd
            .unary(GET_WATCHER_EVENTS, json!({"watcherId": id}))
            .await;
        if status != 200 {
            let (code, message) = crate::support::connect::connect_error(&reply);
            break (status, code, message);
        }
        assert!(Instant::now() < deadline, "no overflow error");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("overflow: {code} {message:?}");
    assert_eq!((status, code.as_str()), (500, "internal"));
    assert!(message.starts_with("watcher error: "), "{message}");
    inotify_fds_become(&envd, 0).await;
    // The error stays until the watcher is removed.
    let (_, code, _) = envd
        .fails(GET_WATCHER_EVENTS, json!({"watcherId": id}), &[])
        .await;
    assert_eq!(code, "internal");
    envd.call(REMOVE_WATCHER, json!({"watcherId": id})).await;
}

/// Polled watchers report uploads exactly as WatchDir does: `CREATE,
/// CHMOD, WRITE` for a new file, `CHMOD, WRITE, WRITE` for an overwrite,
/// never the temporary file.
async fn check_polled_upload_events(recursive: bool, target: &str) {
    let envd = Envd::start();
    let dir = scratch_dir();
    if let Some(parent) = std::path::Path::new(target).parent() {
        std::fs::create_dir_all(dir.path().join(parent)).expect("parent dirs");
    }
    let id = create(
        &envd,
        json!({"path": s(dir.path()), "recursive": recursive}),
    )
    .await;
    let path = dir.path().join(target);
    let octet = [("content-type", "application/octet-stream")];
    for (round, want) in [
        ("new", ["CREATE", "CHMOD", "WRITE"]),
        ("overwrite", ["CHMOD", "WRITE", "WRITE"]),
    ] {
        let reply = crate::support::files::upload(
            &envd,
            &[("path", s(&path))],
            &octet,
            round.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(reply.status, 200, "{round}");
        let marker = format!("marker-{round}");
        std::fs::write(dir.path().join(&marker), b"").expect("marker");
        let mut seen = Vec::new();
        let deadline = Instant::now() + STEP;
        while !seen.contains(&(marker.clone(), "CREATE".to_owned())) {
            seen.extend(events(&envd, &id).await);
            assert!(Instant::now() < deadline, "{round}: only {seen:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut expected: Vec<(String, String)> = want
            .iter()
            .map(|op| (target.to_owned(), (*op).to_owned()))
            .collect();
        expected.push((marker, "CREATE".to_owned()));
        assert_eq!(seen, expected, "{round}, recursive {recursive}");
    }
    envd.call(REMOVE_WATCHER, json!({"watcherId": id})).await;
}

#[tokio::test]
async fn polled_upload_events_are_exact_in_a_watched_directory() {
    check_polled_upload_events(false, "up.txt").await;
}

#[tokio::test]
async fn polled_upload_events_are_exact_when_recursive() {
    check_polled_upload_events(true, "up.txt").await;
    check_polled_upload_events(true, "sub/up.txt").await;
}

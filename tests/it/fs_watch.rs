//! WatchDir (spec §4.3): `start` first, names relative to the watched
//! directory, op expansion and order, moves, recursive and non-recursive
//! watches, keepalives, `include_entry`, bursts, validation errors and
//! inotify descriptors released when streams end.

use std::collections::HashSet;
use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::files::upload;
use crate::support::fs::{inotify_fds_become, pairs, scratch_dir};
use crate::support::{Envd, s};
use serde_json::json;

fn watch_request(path: &std::path::Path, recursive: bool) -> serde_json::Value {
    json!({"path": s(path), "recursive": recursive})
}

#[tokio::test]
async fn start_first_then_relative_events_in_op_order() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let mut watch = envd.watch(watch_request(dir.path(), false), &[]).await;
    let file = dir.path().join("a.txt");

    let mut handle = std::fs::File::create(&file).unwrap();
    assert_eq!(watch.next().await, ("a.txt".into(), "CREATE".into()));
    // One write(2) without truncation: exactly one WRITE.
    handle.write_all(b"data").unwrap();
    assert_eq!(watch.next().await, ("a.txt".into(), "WRITE".into()));
    std::fs::set_permissions(&file, Permissions::from_mode(0o600)).unwrap();
    assert_eq!(watch.next().await, ("a.txt".into(), "CHMOD".into()));
    std::fs::remove_file(&file).unwrap();
    // Unlinking changes the link count (CHMOD), then REMOVE.
    let seen = watch.until("a.txt", "REMOVE").await;
    assert!(
        seen == pairs(&[("a.txt", "REMOVE")])
            || seen == pairs(&[("a.txt", "CHMOD"), ("a.txt", "REMOVE")]),
        "{seen:?}"
    );
}

/// Uploads land through a temporary file and a rename; watchers see what
/// E2B's clients see for the Go envd's in-place write — `CREATE, CHMOD,
/// WRITE` for a new file, `CHMOD, WRITE, WRITE` for an overwrite — under
/// the file's own name, never the temporary. `target` is relative to the
/// watched directory.
async fn upload_events_are_exact(recursive: bool, target: &str) {
    let envd = Envd::start();
    let dir = scratch_dir();
    if let Some(parent) = std::path::Path::new(target).parent() {
        std::fs::create_dir_all(dir.path().join(parent)).expect("parent dirs");
    }
    let mut watch = envd.watch(watch_request(dir.path(), recursive), &[]).await;
    let path = dir.path().join(target);
    let octet = [("content-type", "application/octet-stream")];
    let ct = crate::support::files::multipart_type();
    let multipart = [("content-type", ct.as_str())];
    let rounds = [
        ("new", &octet, &["CREATE", "CHMOD", "WRITE"]),
        ("overwrite", &octet, &["CHMOD", "WRITE", "WRITE"]),
        (
            "multipart-overwrite",
            &multipart,
            &["CHMOD", "WRITE", "WRITE"],
        ),
    ];
    for (round, headers, want) in rounds {
        let body = if round.starts_with("multipart") {
            crate::support::files::multipart(&[("file", Some(s(&path)), round.as_bytes())])
        } else {
            round.as_bytes().to_vec()
        };
        let reply = upload(&envd, &[("path", s(&path))], headers.as_slice(), body).await;
        assert_eq!(reply.status, 200, "{round}");
        let marker = format!("marker-{round}");
        std::fs::write(dir.path().join(&marker), b"").expect("marker");
        let seen = watch.until(&marker, "CREATE").await;
        let mut expected: Vec<(&str, &str)> = want.iter().map(|op| (target, *op)).collect();
        expected.push((&marker, "CREATE"));
        assert_eq!(seen, pairs(&expected), "{round}, recursive {recursive}");
    }
    assert_eq!(
        std::fs::read(&path).expect("uploaded file"),
        b"multipart-overwrite"
    );
}

#[tokio::test]
async fn upload_events_are_exact_in_a_watched_directory() {
    upload_events_are_exact(false, "up.txt").await;
}

#[tokio::test]
async fn upload_events_are_exact_in_a_recursive_watch() {
    upload_events_are_exact(true, "up.txt").await;
}

#[tokio::test]
async fn upload_events_are_exact_in_a_subdirectory_of_a_recursive_watch() {
    upload_events_are_exact(true, "sub/deeper/up.txt").await;
}

/// A non-recursive watch reports nothing of an upload into a subdirectory.
#[tokio::test]
async fn non_recursive_watch_sees_nothing_of_an_upload_below_it() {
    let envd = Envd::start();
    let dir = scratch_dir();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let mut watch = envd.watch(watch_request(dir.path(), false), &[]).await;
    let path = dir.path().join("sub/below.txt");
    let octet = [("content-type", "application/octet-stream")];
    for round in ["new", "overwrite"] {
        let reply = upload(
            &envd,
            &[("path", s(&path))],
            &octet,
            round.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(reply.status, 200);
    }
    std::fs::write(dir.path().join("marker"), b"").unwrap();
    assert_eq!(
        watch.until("marker", "CREATE").await,
        pairs(&[("marker", "CREATE")])
    );
}

#[tokio::test]
async fn renames_and_moves_in_and_out() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let outside = scratch_dir();
    let watched = dir.path();
    std::fs::write(watched.join("old"), b"").unwrap();
    std::fs::write(outside.path().join("incoming"), b"").unwrap();
    let mut watch = envd.watch(watch_request(watched, false), &[]).await;

    std::fs::rename(watched.join("old"), watched.join("new")).unwrap();
    assert_eq!(watch.next().await, ("old".into(), "RENAME".into()));
    assert_eq!(watch.next().await, ("new".into(), "CREATE".into()));

    // Moved in: CREATE.
    std::fs::rename(outside.path().join("incoming"), watched.join("incoming")).unwrap();
    assert_eq!(watch.next().await, ("incoming".into(), "CREATE".into()));

    // Moved out: RENAME only.
    std::fs::rename(watched.join("new"), outside.path().join("gone")).unwrap();
    assert_eq!(watch.next().await, ("new".into(), "RENAME".into()));
    std::fs::write(watched.join("marker"), b"").unwrap();
    assert_eq!(watch.next().await, ("marker".into(), "CREATE".into()));
}

#[tokio::test]
async fn recursive_watch_follows_new_subdirectories() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let d = dir.path();
    std::fs::create_dir(d.join("existing")).unwrap();
    let mut watch = envd.watch(watch_request(d, true), &[]).await;

    // Existing subdirectories are watched from the start.
    std::fs::write(d.join("existing/e.txt"), b"").unwrap();
    assert_eq!(
        watch.next().await,
        ("existing/e.txt".into(), "CREATE".into())
    );

    // A new tree, filled before envd can have added its watches: every
    // entry must still be reported.
    std::fs::create_dir_all(d.join("new/deeper/deepest")).unwrap();
    std::fs::write(d.join("new/f.txt"), b"").unwrap();
    std::fs::write(d.join("new/deeper/deepest/g.txt"), b"").unwrap();
    let mut created = HashSet::new();
    let wanted: HashSet<String> = [
        "new",
        "new/deeper",
        "new/f.txt",
        "new/deeper/deepest",
        "new/deeper/deepest/g.txt",
    ]
    .map(String::from)
    .into();
    while !wanted.is_subset(&created) {
        let (name, kind) = watch.next().await;
        if kind == "CREATE" {
            created.insert(name);
        }
    }

    // And the new directories are watched afterwards.
    std::fs::write(d.join("new/deeper/deepest/g.txt"), b"more").unwrap();
    watch.until("new/deeper/deepest/g.txt", "WRITE").await;
}

#[tokio::test]
async fn recursive_watch_tracks_renamed_subdirectories() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let outside = scratch_dir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("before/inner")).unwrap();
    let mut watch = envd.watch(watch_request(d, true), &[]).await;

    std::fs::rename(d.join("before"), d.join("after")).unwrap();
    assert_eq!(watch.next().await, ("before".into(), "RENAME".into()));
    assert_eq!(watch.next().await, ("after".into(), "CREATE".into()));
    // Events inside now carry the new name.
    std::fs::write(d.join("after/inner/x"), b"").unwrap();
    watch.until("after/inner/x", "CREATE").await;

    // Moved out of the tree: no longer watched.
    std::fs::rename(d.join("after"), outside.path().join("away")).unwrap();
    watch.until("after", "RENAME").await;
    std::fs::write(outside.path().join("away/inner/y"), b"").unwrap();
    std::fs::write(d.join("marker"), b"").unwrap();
    assert_eq!(watch.next().await, ("marker".into(), "CREATE".into()));
}

#[tokio::test]
async fn non_recursive_watch_ignores_subdirectory_contents() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let d = dir.path();
    let mut watch = envd.watch(watch_request(d, false), &[]).await;
    std::fs::create_dir(d.join("sub")).unwrap();
    assert_eq!(watch.next().await, ("sub".into(), "CREATE".into()));
    std::fs::write(d.join("sub/inner.txt"), b"x").unwrap();
    std::fs::write(d.join("marker"), b"").unwrap();
    // The next event is the top-level marker: nothing from sub/ came first.
    // (Writing into sub/ may touch sub's own mtime, which inotify does not
    // report to the parent's watch.)
    assert_eq!(watch.next().await, ("marker".into(), "CREATE".into()));
}

#[tokio::test]
async fn keepalive_after_the_interval() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let mut watch = envd
        .watch(
            watch_request(dir.path(), false),
            &[("keepalive-ping-interval", "1")],
        )
        .await;
    let started = Instant::now();
    let message = watch.message_within(Duration::from_secs(5)).await;
    assert_eq!(message, json!({"keepalive": {}}));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "keepalive after {waited:?}"
    );
    // Events restart the timer; a later quiet second yields another one.
    std::fs::write(dir.path().join("f"), b"").unwrap();
    assert_eq!(watch.next().await, ("f".into(), "CREATE".into()));
    let message = watch.message_within(Duration::from_secs(5)).await;
    assert_eq!(message, json!({"keepalive": {}}));
}

#[tokio::test]
async fn include_entry_for_create_write_chmod_only() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let file = dir.path().join("e.txt");
    let mut watch = envd
        .watch(json!({"path": s(dir.path()), "includeEntry": true}), &[])
        .await;
    let mut handle = std::fs::File::create(&file).unwrap();
    let event = watch.event().await;
    assert_eq!(event["type"], "EVENT_TYPE_CREATE");
    assert_eq!(event["entry"]["name"], "e.txt");
    assert_eq!(event["entry"]["path"], s(&file));
    assert_eq!(event["entry"]["type"], "FILE_TYPE_FILE");

    handle.write_all(b"12345").unwrap();
    let event = watch.event().await;
    assert_eq!(event["type"], "EVENT_TYPE_WRITE");
    assert_eq!(event["entry"]["size"], "5", "{event}");

    std::fs::set_permissions(&file, Permissions::from_mode(0o640)).unwrap();
    let event = watch.event().await;
    assert_eq!(event["type"], "EVENT_TYPE_CHMOD");
    assert_eq!(event["entry"]["mode"], 0o640);
    assert_eq!(event["entry"]["size"], "5");

    std::fs::rename(&file, dir.path().join("renamed")).unwrap();
    let event = watch.event().await;
    assert_eq!(event["type"], "EVENT_TYPE_RENAME");
    assert!(event.get("entry").is_none(), "{event}");
    watch.until("renamed", "CREATE").await;
    std::fs::remove_file(dir.path().join("renamed")).unwrap();
    let event = loop {
        let event = watch.event().await;
        if event["type"] == "EVENT_TYPE_REMOVE" {
            break event;
        }
    };
    assert!(event.get("entry").is_none(), "{event}");
}

#[tokio::test]
async fn burst_of_10000_files_is_complete_or_an_explicit_error() {
    const FILES: usize = 10_000;
    let envd = Envd::start();
    let dir = scratch_dir();
    let root = dir.path().to_owned();
    let mut watch = envd.watch(watch_request(&root, false), &[]).await;

    let started = Instant::now();
    let writer = tokio::task::spawn_blocking(move || {
        for i in 0..FILES {
            std::fs::File::create(root.join(format!("f{i:05}"))).unwrap();
        }
    });
    let mut created = HashSet::new();
    let outcome = loop {
        let frame = watch
            .frames
            .next_within(Duration::from_secs(30))
            .await
            .expect("stream ended without end-of-stream frame");
        if frame.flags & 0x02 != 0 {
            break Err(crate::support::connect::connect_error(&frame.json));
        }
        if let Some(event) = frame.json.get("filesystem") {
            assert_eq!(event["type"], "EVENT_TYPE_CREATE", "{event}");
            created.insert(event["name"].as_str().unwrap().to_owned());
            if created.len() == FILES {
                break Ok(());
            }
        }
    };
    writer.await.unwrap();
    let elapsed = started.elapsed();
    match outcome {
        Ok(()) => eprintln!("burst: all {FILES} CREATE events in {elapsed:?}"),
        Err((code, message)) => {
            eprintln!(
                "burst: {code} {message:?} after {} events in {elapsed:?}",
                created.len()
            );
            assert_eq!(code, "internal");
            assert!(message.starts_with("watcher error: "), "{message}");
        }
    }
}

#[tokio::test]
async fn validation_errors_end_the_stream() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let missing = dir.path().join("missing");
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let cases = [
        (
            json!({"path": s(&missing)}),
            "not_found",
            format!("path {} not found", s(&missing)),
        ),
        (
            json!({"path": s(&file)}),
            "invalid_argument",
            format!("path {} not a directory", s(&file)),
        ),
        (
            json!({"path": "~nobody"}),
            "invalid_argument",
            "cannot expand user-specific home dir: ~nobody".to_owned(),
        ),
    ];
    for (request, want_code, want_message) in cases {
        let collected = envd
            .stream(crate::support::fs::WATCH_DIR, request.clone(), &[])
            .await
            .collect(Duration::from_secs(10))
            .await;
        assert!(collected.messages.is_empty(), "{request}: {collected:?}");
        let (code, message) = crate::support::connect::connect_error(&collected.end_stream);
        assert_eq!(
            (code.as_str(), message),
            (want_code, want_message),
            "{request}"
        );
    }
    // Allowed network mounts still need a directory.
    let collected = envd
        .stream(
            crate::support::fs::WATCH_DIR,
            json!({"path": s(&missing), "allowNetworkMounts": true}),
            &[],
        )
        .await
        .collect(Duration::from_secs(10))
        .await;
    assert_eq!(
        crate::support::connect::connect_error(&collected.end_stream).0,
        "not_found"
    );
}

#[tokio::test]
async fn inotify_fds_are_released_when_streams_end() {
    let envd = Envd::start();
    let dir = scratch_dir();
    std::fs::create_dir_all(dir.path().join("a/b/c")).unwrap();
    assert_eq!(envd.inotify_fds(), 0);

    let plain = envd.watch(watch_request(dir.path(), false), &[]).await;
    let recursive = envd.watch(watch_request(dir.path(), true), &[]).await;
    assert_eq!(envd.inotify_fds(), 2);
    drop(plain);
    inotify_fds_become(&envd, 1).await;
    drop(recursive);
    inotify_fds_become(&envd, 0).await;

    // A deadline ends the stream with deadline_exceeded and frees the fd.
    let mut watch = envd
        .watch(
            watch_request(dir.path(), true),
            &[("connect-timeout-ms", "300")],
        )
        .await;
    let (_, (code, _)) = watch.error_within(Duration::from_secs(5)).await;
    assert_eq!(code, "deadline_exceeded");
    inotify_fds_become(&envd, 0).await;
}

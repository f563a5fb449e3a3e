//! File metadata (spec §4.2, §5.7): `X-Metadata-<key>` headers on
//! `POST /files` become `user.e2b.<key>` extended attributes, replace the
//! whole set on overwrite, are validated before anything is written, and
//! come back in the upload response, Stat, ListDir, watch entries and
//! after a rename.
//!
//! Safety: every upload names an absolute target inside a temporary
//! directory (or a tmpfs/ramfs) this test created.

use std::collections::BTreeMap;

use crate::support::files::{multipart, multipart_type, set_user_xattr, upload, user_xattrs};
use crate::support::fs::{MOVE, scratch_dir};
use crate::support::mounts::{Ramfs, Tmpfs};
use crate::support::{Envd, s};
use serde_json::json;

const OCTET: (&str, &str) = ("content-type", "application/octet-stream");

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The `user.e2b.*` attributes of `path` as metadata (prefix stripped).
fn stored(path: &std::path::Path) -> BTreeMap<String, String> {
    user_xattrs(path)
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("user.e2b.")?.to_owned(), v)))
        .collect()
}

#[tokio::test]
async fn octet_stream_headers_become_xattrs_and_show_everywhere() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let target = dir.path().join("doc.txt");
    let r = upload(
        &envd,
        &[("path", s(&target))],
        &[
            OCTET,
            ("X-Metadata-Owner", "Alice Smith"),
            ("x-metadata-Project-ID", "p-42"),
            ("X-Metadata-", "empty keys are dropped"),
            ("X-Metadata-Empty", ""),
        ],
        b"content".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let want = map(&[
        ("owner", "Alice Smith"),
        ("project-id", "p-42"),
        ("empty", ""),
    ]);
    assert_eq!(
        r.json(),
        json!([{"path": s(&target), "name": "doc.txt", "type": "file", "metadata": want}])
    );
    assert_eq!(stored(&target), want);
    assert_eq!(std::fs::read(&target).unwrap(), b"content");

    let entry = envd.stat(s(&target)).await;
    assert_eq!(entry["metadata"], json!(want));
    let listed = envd.list_dir(s(dir.path()), 1).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["metadata"], json!(want));

    // A rename keeps it.
    let moved = dir.path().join("moved.txt");
    let reply = envd
        .call(
            MOVE,
            json!({"source": s(&target), "destination": s(&moved)}),
        )
        .await;
    assert_eq!(reply["entry"]["metadata"], json!(want));
    assert_eq!(envd.stat(s(&moved)).await["metadata"], json!(want));
}

#[tokio::test]
async fn without_headers_the_response_has_no_metadata_field() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let target = dir.path().join("plain.txt");
    let r = upload(&envd, &[("path", s(&target))], &[OCTET], b"x".to_vec()).await;
    assert_eq!(
        r.json(),
        json!([{"path": s(&target), "name": "plain.txt", "type": "file"}])
    );
    assert!(stored(&target).is_empty());
    assert!(envd.stat(s(&target)).await.get("metadata").is_none());
}

#[tokio::test]
async fn every_file_of_a_multipart_upload_gets_the_same_set() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("sub/b.txt");
    let body = multipart(&[("file", Some(s(&a)), b"A"), ("file", Some(s(&b)), b"B")]);
    let ct = multipart_type();
    let r = upload(
        &envd,
        &[],
        &[("content-type", &ct), ("X-Metadata-Batch", "7")],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let want = map(&[("batch", "7")]);
    let entries = r.json();
    assert_eq!(entries.as_array().unwrap().len(), 2);
    for (entry, path) in entries.as_array().unwrap().iter().zip([&a, &b]) {
        assert_eq!(entry["path"], s(path));
        assert_eq!(entry["metadata"], json!(want));
        assert_eq!(stored(path), want, "{}", path.display());
    }
}

#[tokio::test]
async fn overwrite_replaces_the_whole_set_and_keeps_other_attributes() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let target = dir.path().join("f.txt");
    let send = |headers: Vec<(&'static str, &'static str)>| {
        let mut all = vec![OCTET];
        all.extend(headers);
        let envd = &envd;
        let target = target.clone();
        async move {
            let r = upload(envd, &[("path", s(&target))], &all, b"v".to_vec()).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
    };
    send(vec![("X-Metadata-A", "1"), ("X-Metadata-B", "2")]).await;
    set_user_xattr(&target, "user.other", "kept");
    send(vec![("X-Metadata-B", "3"), ("X-Metadata-C", "4")]).await;
    assert_eq!(stored(&target), map(&[("b", "3"), ("c", "4")]));
    // No headers at all: the old set is cleared too.
    send(vec![]).await;
    assert!(stored(&target).is_empty());
    assert_eq!(
        user_xattrs(&target).get("user.other").map(String::as_str),
        Some("kept"),
        "attributes that are not metadata survive an overwrite"
    );
}

#[tokio::test]
async fn invalid_metadata_is_400_and_writes_nothing() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let target = dir.path().join("never.txt");
    let long_key = format!("X-Metadata-{}", "k".repeat(247));
    let fits_key = format!("X-Metadata-{}", "k".repeat(246));
    let big = "v".repeat(4087);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("X-Metadata-Tab", "a\tb")], "value of key \"tab\""),
        (
            vec![("X-Metadata-Accent", "caf\u{e9}")],
            "value of key \"accent\"",
        ),
        (vec![(&long_key, "v")], "is 247 bytes long, more than 246"),
        // 9 + 1 + 4087 = 4097 bytes.
        (vec![("X-Metadata-A", &big)], "4097 bytes"),
        // Split over two keys: 2 × (9 + 1) + 2040 + 2040 = 4100.
        (
            vec![
                ("X-Metadata-A", &big[..2040]),
                ("X-Metadata-B", &big[..2040]),
            ],
            "4100 bytes",
        ),
    ];
    for (headers, needle) in cases {
        let mut all = vec![OCTET];
        all.extend(headers.iter().copied());
        let r = upload(&envd, &[("path", s(&target))], &all, b"x".to_vec()).await;
        let message = r.error(400);
        assert!(
            message.starts_with("invalid metadata: ") && message.contains(needle),
            "{message:?} lacks {needle:?}"
        );
        assert!(!target.exists(), "written despite {message}");
    }
    // The limits themselves are allowed (on tmpfs: ext4 keeps all of a
    // file's attributes in one block, which 4096 bytes of them overflow).
    let fs = Tmpfs::mount("size=1m");
    let target = fs.path().join("limits.txt");
    let exact = "v".repeat(4086);
    for headers in [
        vec![(fits_key.as_str(), "v")],
        vec![("X-Metadata-A", exact.as_str())],
    ] {
        let mut all = vec![OCTET];
        all.extend(headers);
        let r = upload(&envd, &[("path", s(&target))], &all, b"x".to_vec()).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    assert_eq!(stored(&target), map(&[("a", &exact)]));
}

#[tokio::test]
async fn metadata_is_checked_after_the_user_and_before_the_content_type() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let target = dir.path().join("order.txt");
    // Leading and trailing whitespace is not part of a header value.
    let bad = ("X-Metadata-Bad", "a\tb");
    let r = upload(
        &envd,
        &[("path", s(&target)), ("username", "no-such-user-envd")],
        &[OCTET, bad],
        b"x".to_vec(),
    )
    .await;
    r.error(401);
    let r = upload(
        &envd,
        &[("path", s(&target))],
        &[("content-type", "text/plain"), bad],
        b"x".to_vec(),
    )
    .await;
    assert!(r.error(400).starts_with("invalid metadata: "));
    let r = upload(
        &envd,
        &[("path", s(&target))],
        &[OCTET, ("content-encoding", "br"), bad],
        b"x".to_vec(),
    )
    .await;
    assert!(r.error(400).contains("unsupported Content-Encoding"));
}

#[tokio::test]
async fn watch_entries_carry_the_final_metadata() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let mut watch = envd
        .watch(json!({"path": s(dir.path()), "includeEntry": true}), &[])
        .await;
    let target = dir.path().join("w.txt");
    for (round, value) in [("new", "1"), ("overwrite", "2")] {
        let r = upload(
            &envd,
            &[("path", s(&target))],
            &[OCTET, ("X-Metadata-Round", value)],
            round.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(r.status, 200);
        for _ in 0..3 {
            let event = watch.event().await;
            assert_eq!(event["name"], "w.txt", "{event}");
            assert_eq!(
                event["entry"]["metadata"],
                json!({"round": value}),
                "{round}: {event}"
            );
        }
    }
}

#[tokio::test]
async fn a_filesystem_without_user_xattrs_is_not_an_error() {
    let envd = Envd::start();
    let fs = Ramfs::mount();
    let target = fs.path().join("r.txt");
    let r = upload(
        &envd,
        &[("path", s(&target))],
        &[OCTET, ("X-Metadata-K", "v")],
        b"ram".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()[0]["metadata"], json!({"k": "v"}));
    assert_eq!(std::fs::read(&target).unwrap(), b"ram");
    assert!(envd.stat(s(&target)).await.get("metadata").is_none());
}

#[tokio::test]
async fn no_room_for_the_attributes_is_507_and_leaves_nothing_behind() {
    let envd = Envd::start();
    // tmpfs charges user xattrs to its inode space: with three inodes a
    // 1000-byte value does not fit (the file itself does).
    let fs = Tmpfs::mount("size=1m,nr_inodes=3");
    let target = fs.path().join("full.txt");
    let value = "v".repeat(1000);
    let r = upload(
        &envd,
        &[("path", s(&target))],
        &[OCTET, ("X-Metadata-Big", &value)],
        b"x".to_vec(),
    )
    .await;
    assert!(
        r.error(507)
            .starts_with("not enough disk space available to store metadata: "),
        "{:?}",
        r.body
    );
    assert!(fs.entries().is_empty(), "left behind: {:?}", fs.entries());
}

#[tokio::test]
async fn a_hard_linked_file_written_in_place_gets_the_new_set_too() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let target = dir.path().join("linked.txt");
    let other = dir.path().join("other-name.txt");
    std::fs::write(&target, b"old").unwrap();
    std::fs::hard_link(&target, &other).unwrap();
    set_user_xattr(&target, "user.e2b.stale", "x");
    let r = upload(
        &envd,
        &[("path", s(&target))],
        &[OCTET, ("X-Metadata-Fresh", "y")],
        b"new".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(std::fs::read(&other).unwrap(), b"new", "written in place");
    assert_eq!(stored(&other), map(&[("fresh", "y")]));
}

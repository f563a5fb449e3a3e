//! `files`: transfers over `/files` and the filesystem RPCs.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use envd_sdk::{Client, Code, FileType, FsEventKind, InitOptions, UrlOptions};
use futures::StreamExt;
use support::{Envd, Scratch};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn write_and_read_bytes_and_text() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let files = envd.client().files();
    let path = scratch.path("nested/dir/a.bin");
    let info = files.write(&path, vec![0_u8, 1, 2, 255]).await.unwrap();
    assert_eq!(info.path, path);
    assert_eq!(info.name, "a.bin");
    assert_eq!(files.read(&path).await.unwrap().as_ref(), &[0, 1, 2, 255]);
    assert_eq!(
        files.read_text(&path).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    files.write_text(&path, "héllo").await.unwrap();
    assert_eq!(files.read_text(&path).await.unwrap(), "héllo");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "héllo");
}

#[tokio::test]
async fn streams_upload_and_download_without_one_buffer() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let files = envd.client().files();
    let path = scratch.path("big.bin");
    // 8 MiB produced chunk by chunk.
    let chunk = |i: u32| Bytes::from(vec![u8::try_from(i % 251).unwrap(); 64 * 1024]);
    let upload = futures::stream::iter((0..128).map(move |i| Ok::<_, std::io::Error>(chunk(i))));
    files.write_stream(&path, upload).await.unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 * 1024 * 1024);

    let mut download = files.read_stream(&path).await.unwrap();
    assert_eq!(download.len(), Some(8 * 1024 * 1024));
    let (mut total, mut chunks) = (0_usize, 0_usize);
    let mut expected = Vec::new();
    while let Some(piece) = download.next().await {
        let piece = piece.unwrap();
        total += piece.len();
        chunks += 1;
        expected.extend_from_slice(&piece);
    }
    assert_eq!(total, 8 * 1024 * 1024);
    assert!(chunks > 1, "arrived in one piece");
    assert_eq!(expected, std::fs::read(&path).unwrap());

    // AsyncRead in and out.
    let copy = scratch.path("copy.bin");
    let reader = files.read_reader(&path).await.unwrap();
    files.write_reader(&copy, reader).await.unwrap();
    let mut back = Vec::new();
    files
        .read_reader(&copy)
        .await
        .unwrap()
        .read_to_end(&mut back)
        .await
        .unwrap();
    assert_eq!(back, expected);
}

#[tokio::test]
async fn http_errors_carry_status_and_code() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let files = envd.client().files();
    let error = files.read(&scratch.path("missing")).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(error.http_status(), Some(404));
    let error = files.read(&scratch.root()).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert_eq!(error.http_status(), Some(400));
}

#[tokio::test]
async fn metadata_operations() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let files = envd.client().files();
    let dir = scratch.path("d");
    let made = files.make_dir(&dir).await.unwrap();
    assert_eq!(made.file_type, FileType::Dir);
    assert_eq!(
        files.make_dir(&dir).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    files
        .write_text(&scratch.path("d/sub/f.txt"), "12345")
        .await
        .unwrap();

    let entry = files.stat(&scratch.path("d/sub/f.txt")).await.unwrap();
    assert_eq!(entry.file_type, FileType::File);
    assert_eq!(entry.size, 5);
    assert_eq!(entry.permissions.len(), 10);
    assert!(entry.modified_time.is_some());
    assert!(
        entry
            .modified_time_rfc3339
            .as_deref()
            .unwrap()
            .ends_with('Z')
    );

    let shallow = files.list(&dir, 1).await.unwrap();
    assert_eq!(
        shallow.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["sub"]
    );
    let deep = files.list(&dir, 2).await.unwrap();
    assert_eq!(
        deep.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["sub", "f.txt"]
    );

    let moved = files
        .rename(&scratch.path("d/sub/f.txt"), &scratch.path("d/g.txt"))
        .await
        .unwrap();
    assert_eq!(moved.path, scratch.path("d/g.txt"));
    assert!(!files.exists(&scratch.path("d/sub/f.txt")).await.unwrap());
    assert!(files.exists(&scratch.path("d/g.txt")).await.unwrap());

    files.remove(&dir).await.unwrap();
    assert!(!files.exists(&dir).await.unwrap());
    assert_eq!(files.stat(&dir).await.unwrap_err().code(), Code::NotFound);
    // An empty path would mean the home directory: refused client-side.
    assert_eq!(
        files.remove("").await.unwrap_err().code(),
        Code::InvalidArgument
    );
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn metadata_goes_with_every_upload_path_and_shows_in_entries() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let plain = envd.client().files();
    let files = plain.with_metadata([("Owner", "alice"), ("kind", "report")]);
    let want = map(&[("owner", "alice"), ("kind", "report")]);

    // Single write (octet-stream), keys lower-cased by envd.
    let path = scratch.path("m/a.txt");
    let info = files.write_text(&path, "a").await.unwrap();
    assert_eq!(info.metadata, want);
    assert_eq!(plain.stat(&path).await.unwrap().metadata, want);

    // Streamed writes carry it too.
    let streamed = scratch.path("m/s.bin");
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"xy"))]);
    assert_eq!(
        files
            .write_stream(&streamed, chunks)
            .await
            .unwrap()
            .metadata,
        want
    );
    let read = scratch.path("m/r.bin");
    let info = files.write_reader(&read, &b"reader"[..]).await.unwrap();
    assert_eq!(info.metadata, want);

    // Every file of a multipart upload gets the same set.
    let written = files
        .write_many([
            (scratch.path("m/1.txt"), "one"),
            (scratch.path("m/2.txt"), "two"),
        ])
        .await
        .unwrap();
    assert!(written.iter().all(|w| w.metadata == want), "{written:?}");
    let listed = plain.list(&scratch.path("m"), 1).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|e| e.metadata == want), "{listed:?}");

    // A rename keeps it; an overwrite replaces the whole set.
    let moved = plain.rename(&path, &scratch.path("m/b.txt")).await.unwrap();
    assert_eq!(moved.metadata, want);
    let replaced = plain
        .with_metadata([("kind", "draft")])
        .write_text(&scratch.path("m/b.txt"), "b")
        .await
        .unwrap();
    assert_eq!(replaced.metadata, map(&[("kind", "draft")]));
    let cleared = plain
        .write_text(&scratch.path("m/b.txt"), "c")
        .await
        .unwrap();
    assert!(cleared.metadata.is_empty(), "{cleared:?}");
    assert!(
        plain
            .stat(&scratch.path("m/b.txt"))
            .await
            .unwrap()
            .metadata
            .is_empty()
    );
}

#[tokio::test]
async fn invalid_metadata_is_refused_and_writes_nothing() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let files = envd.client().files();
    // envd's rule: a key of at most 246 bytes.
    let long = "k".repeat(247);
    let path = scratch.path("bad.txt");
    let error = files
        .with_metadata([(long.as_str(), "v")])
        .write_text(&path, "x")
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert_eq!(error.http_status(), Some(400));
    assert!(error.to_string().contains("invalid metadata"), "{error}");
    // Not an HTTP header at all: refused before sending.
    let error = files
        .with_metadata([("two words", "v")])
        .write_many([(path.clone(), "x")])
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert_eq!(error.http_status(), None);
    assert!(!std::path::Path::new(&path).exists());
}

#[tokio::test]
async fn compose_concatenates_in_order_and_removes_the_sources() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let files = envd.client().files();
    let (a, b) = (scratch.path("a.part"), scratch.path("b.part"));
    files.write_text(&a, "hello ").await.unwrap();
    files.write_text(&b, "world").await.unwrap();
    let dest = scratch.path("out/whole.txt");
    let info = files.compose([&b, &a], &dest).await.unwrap();
    assert_eq!(info.path, dest);
    assert_eq!(info.name, "whole.txt");
    assert_eq!(info.kind, "file");
    assert_eq!(files.read_text(&dest).await.unwrap(), "worldhello ");
    assert!(!files.exists(&a).await.unwrap() && !files.exists(&b).await.unwrap());

    // Each error keeps its status and code.
    let no_sources: [&str; 0] = [];
    let error = files.compose(no_sources, &dest).await.unwrap_err();
    assert_eq!(
        (error.code(), error.http_status()),
        (Code::InvalidArgument, Some(400))
    );
    let error = files
        .compose([scratch.path("missing")], &dest)
        .await
        .unwrap_err();
    assert_eq!(
        (error.code(), error.http_status()),
        (Code::NotFound, Some(404))
    );
    let error = files
        .as_user("no-such-user-envd")
        .compose([&dest], &scratch.path("x"))
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), Some(401));
    assert_eq!(files.read_text(&dest).await.unwrap(), "worldhello ");
}

#[tokio::test]
async fn write_many_is_one_multipart_upload() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let files = envd.client().files();
    let written = files
        .write_many([
            (scratch.path("m/1.txt"), "one"),
            (scratch.path("m/2.txt"), "two"),
        ])
        .await
        .unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(written[1].path, scratch.path("m/2.txt"));
    assert_eq!(
        std::fs::read_to_string(scratch.path("m/1.txt")).unwrap(),
        "one"
    );
}

#[tokio::test]
async fn watch_streams_changes_with_relative_names() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let files = envd.client().files();
    let mut watch = files.watch(&scratch.root(), true).await.unwrap();
    std::fs::write(scratch.path("w.txt"), "x").unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.name, "w.txt");
    assert_eq!(event.kind, FsEventKind::Create);
    let missing = files.watch(&scratch.path("nope"), false).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn signed_urls_work_without_the_token_and_init_token_is_used_after() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let client = envd.client();
    client
        .init(&InitOptions::new().access_token("sdk-secret"))
        .await
        .unwrap();
    // The client now sends the token: RPCs and /files work.
    let path = scratch.path("signed.txt");
    client.files().write_text(&path, "signed!").await.unwrap();
    assert!(client.files().exists(&path).await.unwrap());
    // A client without the token is refused, with a typed error.
    let anonymous = Client::connect(envd.url.clone()).unwrap();
    let error = anonymous.files().stat(&path).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated, "{error}");
    let error = anonymous.files().read(&path).await.unwrap_err();
    assert_eq!(error.http_status(), Some(401));

    let http = reqwest::Client::new();
    let url = client
        .files()
        .download_url(
            &path,
            &UrlOptions::new().expires_in(Duration::from_secs(60)),
        )
        .unwrap();
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.text().await.unwrap(), "signed!");
    let tampered = url.replace("signed.txt", "other.txt");
    assert_eq!(http.get(&tampered).send().await.unwrap().status(), 401);

    let target = scratch.path("via-url.txt");
    let url = client
        .files()
        .upload_url(&target, &UrlOptions::new().user("root"))
        .unwrap();
    let response = http
        .post(&url)
        .header("content-type", "application/octet-stream")
        .body("uploaded")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "uploaded");
}

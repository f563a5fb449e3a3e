//! `GET /files` end to end (spec §5.6), without an access token.

use crate::support::files::{Generator, download, gunzip};
use crate::support::users::TestUser;
use crate::support::{Envd, s};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn missing_directory_fifo_and_other_users_home_are_rejected() {
    let envd = Envd::start();
    let tmp = dir();
    let missing = tmp.path().join("nope.txt");
    let r = download(&envd, &[("path", s(&missing))], &[]).await;
    assert_eq!(
        r.error(404),
        format!("path '{}' does not exist", s(&missing))
    );

    let r = download(&envd, &[("path", s(tmp.path()))], &[]).await;
    assert_eq!(
        r.error(400),
        format!("path '{}' is a directory", s(tmp.path()))
    );

    let fifo = tmp.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let r = download(&envd, &[("path", s(&fifo))], &[]).await;
    assert_eq!(
        r.error(400),
        format!("path '{}' is not a regular file", s(&fifo))
    );

    let r = download(&envd, &[("path", "/dev/zero")], &[]).await;
    assert_eq!(r.error(400), "path '/dev/zero' is not a regular file");

    let r = download(&envd, &[("path", "~bob/x")], &[]).await;
    assert!(
        r.error(400)
            .contains("cannot expand user-specific home dir")
    );

    // Empty path: the default user's home (root's), a directory.
    let r = download(&envd, &[("path", "")], &[]).await;
    assert_eq!(r.error(400), "path '/root' is a directory");
}

#[tokio::test]
async fn unknown_user_is_401_even_when_empty() {
    let envd = Envd::start();
    let r = download(
        &envd,
        &[("path", "/etc/hostname"), ("username", "no-such-user-x")],
        &[],
    )
    .await;
    assert_eq!(
        r.error(401),
        "error looking up user 'no-such-user-x': user: unknown user no-such-user-x"
    );
    let r = download(&envd, &[("path", "/etc/hostname"), ("username", "")], &[]).await;
    assert!(r.error(401).starts_with("error looking up user '':"));
}

#[tokio::test]
async fn identity_download_headers_and_content() {
    let envd = Envd::start();
    let tmp = dir();
    let file = tmp.path().join("hello.txt");
    std::fs::write(&file, b"hello world").unwrap();
    let r = download(&envd, &[("path", s(&file))], &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"hello world");
    assert_eq!(r.header("content-length"), "11");
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(r.header("accept-ranges"), "bytes");
    assert_eq!(r.header("vary"), "Accept-Encoding");
    assert_eq!(
        r.header("content-disposition"),
        "inline; filename=hello.txt"
    );
    assert_eq!(r.header("content-encoding"), "");
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let truncated = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(
            mtime
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        );
    assert_eq!(
        r.header("last-modified"),
        httpdate::fmt_http_date(truncated)
    );

    // No extension: sniffed.
    let bin = tmp.path().join("blob");
    std::fs::write(&bin, b"\x00\x01\x02\x03").unwrap();
    let r = download(&envd, &[("path", s(&bin))], &[]).await;
    assert_eq!(r.header("content-type"), "application/octet-stream");
    let text = tmp.path().join("README");
    std::fs::write(&text, "plain text ✓\n").unwrap();
    let r = download(&envd, &[("path", s(&text))], &[]).await;
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
}

#[tokio::test]
async fn relative_paths_resolve_under_home() {
    let envd = Envd::start();
    // A throwaway user, so nothing is written to a real home directory.
    let user = TestUser::create();
    std::fs::create_dir_all(user.home.join("sub")).unwrap();
    std::fs::write(user.home.join("sub/file.txt"), b"home").unwrap();
    for path in ["sub/file.txt", "~/sub/file.txt", "./sub/../sub/file.txt"] {
        let r = download(&envd, &[("path", path), ("username", &user.name)], &[]).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"home"[..]), "{path}");
    }
}

#[tokio::test]
async fn content_disposition_is_go_formatted_base_name() {
    let envd = Envd::start();
    let tmp = dir();
    let nested = tmp.path().join("dir/nested");
    std::fs::create_dir_all(&nested).unwrap();
    let cases = [
        ("test.txt", "inline; filename=test.txt"),
        ("presentation.pptx", "inline; filename=presentation.pptx"),
        ("archive.tar.gz", "inline; filename=archive.tar.gz"),
        ("my document.pdf", "inline; filename=\"my document.pdf\""),
        ("file\"name.txt", "inline; filename=\"file\\\"name.txt\""),
        ("file\\name.txt", "inline; filename=\"file\\\\name.txt\""),
        (
            "文档.pdf",
            "inline; filename*=utf-8''%E6%96%87%E6%A1%A3.pdf",
        ),
        (".env", "inline; filename=.env"),
        (".gitignore", "inline; filename=.gitignore"),
    ];
    for (name, want) in cases {
        let file = nested.join(name);
        std::fs::write(&file, b"x").unwrap();
        let r = download(&envd, &[("path", s(&file))], &[]).await;
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("content-disposition"), want, "{name}");
    }
}

#[tokio::test]
async fn empty_file_has_content_length_zero() {
    let envd = Envd::start();
    let tmp = dir();
    let file = tmp.path().join("empty.txt");
    std::fs::write(&file, b"").unwrap();
    let r = download(&envd, &[("path", s(&file))], &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), "0");
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn ranges_exact_bytes_and_unsatisfiable() {
    let envd = Envd::start();
    let tmp = dir();
    let file = tmp.path().join("digits.txt");
    std::fs::write(&file, b"0123456789").unwrap();
    let get = |range: &'static str| {
        let envd = &envd;
        let file = file.clone();
        async move { download(envd, &[("path", s(&file))], &[("range", range)]).await }
    };

    let r = get("bytes=2-5").await;
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..], b"2345");
    assert_eq!(r.header("content-range"), "bytes 2-5/10");
    assert_eq!(r.header("content-length"), "4");

    let r = get("bytes=-3").await;
    assert_eq!((r.status, &r.body[..]), (206, &b"789"[..]));
    let r = get("bytes=7-").await;
    assert_eq!((r.status, &r.body[..]), (206, &b"789"[..]));

    let r = get("bytes=10-20").await;
    assert_eq!(r.error(416), "invalid range: failed to overlap");
    assert_eq!(r.header("content-range"), "bytes */10");

    // Two ranges: multipart/byteranges with both parts.
    let r = get("bytes=0-1,8-9").await;
    assert_eq!(r.status, 206);
    let ct = r.header("content-type").to_owned();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(&ct);
    let body = String::from_utf8(r.body.to_vec()).unwrap();
    assert_eq!(r.header("content-length"), body.len().to_string());
    assert_eq!(
        body,
        format!(
            "--{boundary}\r\nContent-Range: bytes 0-1/10\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n01\
             \r\n--{boundary}\r\nContent-Range: bytes 8-9/10\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n89\
             \r\n--{boundary}--\r\n"
        )
    );
}

#[tokio::test]
async fn conditional_requests() {
    let envd = Envd::start();
    let tmp = dir();
    let file = tmp.path().join("c.txt");
    std::fs::write(&file, b"conditional").unwrap();
    let r = download(&envd, &[("path", s(&file))], &[]).await;
    let last_modified = r.header("last-modified").to_owned();

    let r = download(
        &envd,
        &[("path", s(&file))],
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());

    let r = download(
        &envd,
        &[("path", s(&file))],
        &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (200, &b"conditional"[..]));

    // If-Range with a stale date: the whole file, not the range.
    let r = download(
        &envd,
        &[("path", s(&file))],
        &[
            ("range", "bytes=0-3"),
            ("if-range", "Mon, 01 Jan 2001 00:00:00 GMT"),
        ],
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (200, &b"conditional"[..]));
    let r = download(
        &envd,
        &[("path", s(&file))],
        &[("range", "bytes=0-3"), ("if-range", &last_modified)],
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (206, &b"cond"[..]));
}

#[tokio::test]
async fn accept_encoding_negotiation() {
    let envd = Envd::start();
    let tmp = dir();
    let file = tmp.path().join("neg.txt");
    let content = b"negotiate me ".repeat(100);
    std::fs::write(&file, &content).unwrap();
    let get = |headers: Vec<(&'static str, &'static str)>| {
        let envd = &envd;
        let file = file.clone();
        async move { download(envd, &[("path", s(&file))], &headers).await }
    };

    let r = get(vec![("accept-encoding", "identity;q=0")]).await;
    assert_eq!(
        r.error(406),
        "error parsing Accept-Encoding: no acceptable encoding found, supported: [gzip]"
    );
    let r = get(vec![("accept-encoding", "*;q=0")]).await;
    r.error(406);
    let r = get(vec![
        ("accept-encoding", "gzip; q=1,*; q=0"),
        ("range", "bytes=0-4"),
    ])
    .await;
    assert_eq!(
        r.error(406),
        "identity encoding not acceptable for Range or conditional request"
    );

    // gzip preferred: compressed, typed by extension, no length.
    let r = get(vec![("accept-encoding", "gzip")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), "gzip");
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(r.header("content-length"), "");
    assert_eq!(r.header("vary"), "Accept-Encoding");
    assert_eq!(gunzip(&r.body), content);

    // Range forces identity even when gzip is preferred.
    let r = get(vec![("accept-encoding", "gzip"), ("range", "bytes=0-8")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &b"negotiate"[..]));
    assert_eq!(r.header("content-encoding"), "");

    for (header, gzip) in [
        ("br", false),
        ("gzip;q=0.5, identity", false),
        ("*;q=0, gzip", true),
    ] {
        let r = download(&envd, &[("path", s(&file))], &[("accept-encoding", header)]).await;
        assert_eq!(r.status, 200, "{header}");
        assert_eq!(r.header("content-encoding") == "gzip", gzip, "{header}");
    }
}

#[tokio::test]
async fn random_binary_content_byte_for_byte() {
    let envd = Envd::start();
    let tmp = dir();
    let file = tmp.path().join("random.bin");
    let content = Generator::new(42).bytes(10 * 1024 * 1024 + 3);
    std::fs::write(&file, &content).unwrap();

    let r = download(&envd, &[("path", s(&file))], &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/octet-stream");
    assert_eq!(r.header("content-length"), content.len().to_string());
    assert!(r.body[..] == content[..], "identity body differs");

    let r = download(&envd, &[("path", s(&file))], &[("accept-encoding", "gzip")]).await;
    assert_eq!(r.header("content-type"), "application/octet-stream");
    assert!(gunzip(&r.body) == content, "gzip body differs");

    let r = download(
        &envd,
        &[("path", s(&file))],
        &[("range", "bytes=5000000-5000099")],
    )
    .await;
    assert_eq!(r.status, 206);
    assert!(r.body[..] == content[5_000_000..5_000_100]);
}

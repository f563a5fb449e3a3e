//! `POST /files` end to end (spec §5.7), without an access token.
//!
//! Safety: every upload names an absolute target inside a temporary
//! directory (or tmpfs) this test created, through `path` or the multipart
//! filename. Empty, relative and `~` targets, which resolve to the home
//! directory, are covered by unit tests in `src/http/files/upload.rs`,
//! where the home directory is a temporary one.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::support::files::{download, gzip, multipart, multipart_type, upload};
use crate::support::mounts::Tmpfs;
use crate::support::users::TestUser;
use crate::support::{Envd, s};
use serde_json::json;

const OCTET: (&str, &str) = ("content-type", "application/octet-stream");

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn entry(path: &std::path::Path) -> serde_json::Value {
    json!({
        "path": s(path),
        "name": path.file_name().unwrap().to_str().unwrap(),
        "type": "file",
    })
}

#[tokio::test]
async fn multipart_single_with_path() {
    let envd = Envd::start();
    let tmp = dir();
    let target = tmp.path().join("one.txt");
    // Wrenn's host: one part `file`, filename `upload`, `path` and `username=root`.
    let body = multipart(&[("file", Some("upload"), b"single")]);
    let ct = multipart_type();
    let r = upload(
        &envd,
        &[("path", s(&target)), ("username", "root")],
        &[("content-type", &ct)],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.json(), json!([entry(&target)]));
    assert_eq!(std::fs::read(&target).unwrap(), b"single");
}

#[tokio::test]
async fn multipart_multi_uses_filenames_as_paths_and_skips_other_parts() {
    let envd = Envd::start();
    let tmp = dir();
    let a = tmp.path().join("a.txt");
    let b = tmp.path().join("sub/dir/b.txt");
    let body = multipart(&[
        ("file", Some(s(&a)), b"AAA"),
        ("note", None, b"ignored"),
        (
            "other",
            Some(s(&tmp.path().join("skipped"))),
            b"ignored too",
        ),
        ("file", Some(s(&b)), b"BBB"),
    ]);
    let ct = multipart_type();
    let r = upload(&envd, &[], &[("content-type", &ct)], body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json(), json!([entry(&a), entry(&b)]));
    assert_eq!(std::fs::read(&a).unwrap(), b"AAA");
    assert_eq!(std::fs::read(&b).unwrap(), b"BBB");
    assert!(!tmp.path().join("skipped").exists());

    // An empty form writes nothing and answers [].
    let unused = tmp.path().join("unused");
    let r = upload(
        &envd,
        &[("path", s(&unused))],
        &[("content-type", &ct)],
        multipart(&[]),
    )
    .await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert!(!unused.exists());
}

#[tokio::test]
async fn multipart_duplicate_target_is_400_and_earlier_files_stay() {
    let envd = Envd::start();
    let tmp = dir();
    let a = tmp.path().join("a.txt");
    let c = tmp.path().join("c.txt");
    let body = multipart(&[
        ("file", Some(s(&a)), b"first"),
        ("file", Some(s(&c)), b"other"),
        ("file", Some(s(&a)), b"second"),
    ]);
    let ct = multipart_type();
    let r = upload(&envd, &[], &[("content-type", &ct)], body).await;
    assert_eq!(
        r.error(400),
        format!(
            "you cannot upload multiple files to the same path '{}' in one upload request, \
             only the first specified file was uploaded, also the following files were uploaded: {}",
            s(&a),
            s(&c)
        )
    );
    assert_eq!(std::fs::read(&a).unwrap(), b"first");
    assert_eq!(std::fs::read(&c).unwrap(), b"other");

    // With `path`, a second part is a duplicate of the first.
    let t = tmp.path().join("t.txt");
    let body = multipart(&[("file", Some("x"), b"1"), ("file", Some("y"), b"2")]);
    let r = upload(&envd, &[("path", s(&t))], &[("content-type", &ct)], body).await;
    assert!(
        r.error(400)
            .ends_with("only the first specified file was uploaded")
    );
    assert_eq!(std::fs::read(&t).unwrap(), b"1");
}

#[tokio::test]
async fn octet_stream_overwrites() {
    let envd = Envd::start();
    let tmp = dir();
    let target = tmp.path().join("deep/er/raw.bin");
    let r = upload(
        &envd,
        &[("path", s(&target))],
        &[OCTET],
        b"raw body".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([entry(&target)]));
    assert_eq!(std::fs::read(&target).unwrap(), b"raw body");

    // Overwrite keeps the mode and leaves no temporary file behind.
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).unwrap();
    let r = upload(&envd, &[("path", s(&target))], &[OCTET], b"new".to_vec()).await;
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o7777, 0o700);
    let names: Vec<_> = std::fs::read_dir(target.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(names.len(), 1);
}

#[tokio::test]
async fn whole_body_gzip_for_raw_and_multipart() {
    let envd = Envd::start();
    let tmp = dir();
    let raw = tmp.path().join("raw.txt");
    let content = b"compressible ".repeat(1000);
    let r = upload(
        &envd,
        &[("path", s(&raw))],
        &[OCTET, ("content-encoding", "GZIP")],
        gzip(&content),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(&raw).unwrap(), content);

    let form = tmp.path().join("form.txt");
    let ct = multipart_type();
    let body = gzip(&multipart(&[("file", Some(s(&form)), &content)]));
    let r = upload(
        &envd,
        &[],
        &[("content-type", &ct), ("content-encoding", "gzip;q=1")],
        body,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(&form).unwrap(), content);

    // Round trip: gzip up, gzip down.
    let r = download(&envd, &[("path", s(&form))], &[("accept-encoding", "gzip")]).await;
    assert_eq!(crate::support::files::gunzip(&r.body), content);

    let bad = tmp.path().join("bad.txt");
    let r = upload(
        &envd,
        &[("path", s(&bad))],
        &[OCTET, ("content-encoding", "gzip")],
        b"not gzip at all".to_vec(),
    )
    .await;
    assert_eq!(
        r.error(400),
        "error decompressing request body: gzip: invalid header"
    );
    assert!(!bad.exists());
    let r = upload(
        &envd,
        &[("path", s(&bad))],
        &[OCTET, ("content-encoding", "br")],
        b"x".to_vec(),
    )
    .await;
    assert_eq!(
        r.error(400),
        "error decompressing request body: unsupported Content-Encoding: br, supported: [gzip]"
    );
}

#[tokio::test]
async fn unsupported_content_type_and_directory_target() {
    let envd = Envd::start();
    let tmp = dir();
    let target = tmp.path().join("x.json");
    let r = upload(
        &envd,
        &[("path", s(&target))],
        &[("content-type", "application/json")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        r.error(400),
        "unsupported content type: application/json, expected multipart/form-data or application/octet-stream"
    );
    assert!(!target.exists());

    let r = upload(&envd, &[("path", s(tmp.path()))], &[OCTET], b"x".to_vec()).await;
    assert_eq!(
        r.error(400),
        format!("path is a directory: {}", s(tmp.path()))
    );

    let ct = multipart_type();
    let unused = tmp.path().join("unused");
    let r = upload(
        &envd,
        &[("path", s(&unused))],
        &[("content-type", &ct)],
        b"--garbage".to_vec(),
    )
    .await;
    assert!(r.error(500).starts_with("error parsing multipart form"));
    assert!(!unused.exists());
}

#[tokio::test]
async fn parents_and_file_belong_to_the_user() {
    let envd = Envd::start();
    let user = TestUser::create();
    let tmp = dir();
    let target = tmp.path().join("p1/p2/owned.txt");
    let r = upload(
        &envd,
        &[("path", s(&target)), ("username", &user.name)],
        &[OCTET],
        b"mine".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let uid = user.uid();
    for dir in [tmp.path().join("p1"), tmp.path().join("p1/p2")] {
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.uid(), uid, "{}", dir.display());
        assert_eq!(meta.mode() & 0o777, 0o755, "{}", dir.display());
    }
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(meta.uid(), uid);
    assert_eq!(meta.mode() & 0o777, 0o644);
    assert_eq!(
        std::fs::metadata(tmp.path()).unwrap().uid(),
        0,
        "existing dirs are not re-chowned"
    );

    // The same through a multipart filename.
    let ct = multipart_type();
    let named = tmp.path().join("docs/named.txt");
    let body = multipart(&[("file", Some(s(&named)), b"named")]);
    let r = upload(
        &envd,
        &[("username", &user.name)],
        &[("content-type", &ct)],
        body,
    )
    .await;
    assert_eq!(r.json(), json!([entry(&named)]));
    assert_eq!(std::fs::metadata(&named).unwrap().uid(), uid);
    assert_eq!(
        std::fs::metadata(tmp.path().join("docs")).unwrap().uid(),
        uid
    );
}

#[tokio::test]
async fn uploads_without_username_use_the_default_user() {
    let envd = Envd::start();
    let tmp = dir();
    let as_root = tmp.path().join("root.txt");
    let r = upload(&envd, &[("path", s(&as_root))], &[OCTET], b"r".to_vec()).await;
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::metadata(&as_root).unwrap().uid(), 0);

    let user = TestUser::create();
    let init = envd
        .http
        .post(envd.url("/init"))
        .json(&json!({"defaultUser": user.name}))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status().as_u16(), 204);
    let target = tmp.path().join("default-user.txt");
    let r = upload(&envd, &[("path", s(&target))], &[OCTET], b"d".to_vec()).await;
    assert_eq!(r.json(), json!([entry(&target)]));
    assert_eq!(std::fs::metadata(&target).unwrap().uid(), user.uid());
    // Relative paths now resolve under the new default user's home (read
    // only: uploads never name a relative path here).
    std::fs::write(user.home.join("note.txt"), b"in home").unwrap();
    let r = download(&envd, &[("path", "note.txt")], &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"in home"[..]));
}

#[tokio::test]
async fn full_disk_is_507_and_leaves_nothing_behind() {
    let envd = Envd::start();
    let fs = Tmpfs::mount("size=1m");
    let big = vec![7u8; 2 * 1024 * 1024];

    let target = fs.path().join("big.bin");
    let r = upload(&envd, &[("path", s(&target))], &[OCTET], big.clone()).await;
    assert_eq!(
        r.error(507),
        "attempted to write 2097152 bytes: not enough disk space available"
    );
    assert!(fs.entries().is_empty(), "left behind: {:?}", fs.entries());

    // Multipart: no length is known.
    let ct = multipart_type();
    let body = multipart(&[("file", Some(s(&target)), &big)]);
    let r = upload(&envd, &[], &[("content-type", &ct)], body).await;
    assert_eq!(r.error(507), "not enough disk space available");
    assert!(fs.entries().is_empty(), "left behind: {:?}", fs.entries());

    // An existing file survives a failed overwrite intact.
    let keep = fs.path().join("keep.txt");
    std::fs::write(&keep, b"precious").unwrap();
    let r = upload(&envd, &[("path", s(&keep))], &[OCTET], big).await;
    r.error(507);
    assert_eq!(std::fs::read(&keep).unwrap(), b"precious");
    assert_eq!(fs.entries(), vec![keep]);
}

#[tokio::test]
async fn no_inodes_is_507() {
    let envd = Envd::start();
    // The root directory takes the only inode.
    let fs = Tmpfs::mount("size=1m,nr_inodes=1");
    let target = fs.path().join("f.txt");
    let r = upload(&envd, &[("path", s(&target))], &[OCTET], b"x".to_vec()).await;
    assert!(r.error(507).starts_with("not enough inodes available: "));
}

/// An overwrite clears set-user-ID and set-group-ID as a write by the
/// kernel would (set-group-ID only with group execute; without it the bit
/// marks mandatory locking), and keeps the other permission bits — through
/// the temporary file and rename, and in place for a hard-linked file.
#[tokio::test]
async fn overwrite_clears_set_id_bits_and_keeps_the_rest() {
    let envd = Envd::start();
    let tmp = dir();
    let cases = [
        (0o4755, 0o755),
        (0o6755, 0o755),
        (0o2755, 0o755),
        (0o2644, 0o2644),
        (0o1750, 0o1750),
        (0o640, 0o640),
    ];
    for (linked, name) in [(false, "renamed"), (true, "in-place")] {
        for (before, after) in cases {
            let target = tmp.path().join(format!("{name}-{before:o}"));
            std::fs::write(&target, b"old").unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(before)).unwrap();
            if linked {
                std::fs::hard_link(&target, tmp.path().join(format!("link-{before:o}"))).unwrap();
            }
            let r = upload(&envd, &[("path", s(&target))], &[OCTET], b"new".to_vec()).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(std::fs::read(&target).unwrap(), b"new");
            let mode = std::fs::metadata(&target).unwrap().mode() & 0o7777;
            assert_eq!(mode, after, "{name}: {before:o} became {mode:o}");
        }
    }
}

/// A new file is 0666 less envd's umask and belongs to the user; an
/// existing file of another owner is given to the user and keeps its
/// permission bits.
#[tokio::test]
async fn new_and_existing_files_get_the_users_ownership() {
    let envd = Envd::start();
    let user = TestUser::create();
    let tmp = dir();
    let umask = envd_umask(&envd);
    let fresh = tmp.path().join("fresh.txt");
    let r = upload(
        &envd,
        &[("path", s(&fresh)), ("username", &user.name)],
        &[OCTET],
        b"f".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let meta = std::fs::metadata(&fresh).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o666 & !umask);
    assert_eq!((meta.uid(), meta.gid()), (user.uid(), user_gid(&user)));

    let theirs = tmp.path().join("roots.txt");
    std::fs::write(&theirs, b"root's").unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o604)).unwrap();
    let r = upload(
        &envd,
        &[("path", s(&theirs)), ("username", &user.name)],
        &[OCTET],
        b"mine now".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let meta = std::fs::metadata(&theirs).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o604);
    assert_eq!((meta.uid(), meta.gid()), (user.uid(), user_gid(&user)));
}

/// envd's umask, from `/proc/<pid>/status`.
fn envd_umask(envd: &Envd) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", envd.pid())).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask line");
    u32::from_str_radix(line.trim(), 8).unwrap()
}

/// The user's primary group id.
fn user_gid(user: &TestUser) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-g", &user.name])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

//! `POST /files/compose` end to end (spec §5.8).
//!
//! Safety: sources and destinations are absolute paths inside temporary
//! directories (or a tmpfs) this test created, or relative paths of a test
//! user whose home is removed with it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::support::files::Generator;
use crate::support::mounts::Tmpfs;
use crate::support::procfs::memory;
use crate::support::reply::Reply;
use crate::support::users::TestUser;
use crate::support::{Envd, s};
use serde_json::{Value, json};

/// The most envd may grow while composing 64 MiB.
const RSS_LIMIT: u64 = 16 << 20;

async fn compose(envd: &Envd, body: Value) -> Reply {
    compose_raw(envd, body.to_string().into_bytes(), &[]).await
}

async fn compose_raw(envd: &Envd, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
    let mut req = envd
        .http
        .post(envd.url("/files/compose"))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Reply::read(req.send().await.unwrap()).await
}

fn write(path: &Path, content: &[u8]) -> String {
    std::fs::write(path, content).unwrap();
    s(path).to_owned()
}

/// Names in `dir` that are compose temporaries.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| s(p).contains(".e2b-compose."))
        .collect()
}

#[tokio::test]
async fn concatenates_in_order_replaces_the_destination_and_deletes_sources() {
    let envd = Envd::start();
    let tmp = tempfile::tempdir().unwrap();
    let a = write(&tmp.path().join("a.part"), b"alpha-");
    let b = write(&tmp.path().join("b.part"), b"");
    let c = write(&tmp.path().join("c.part"), b"gamma");
    let dest = tmp.path().join("out/new/whole.txt");
    let r = compose(
        &envd,
        json!({"source_paths": [a, b, c], "destination": s(&dest)}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.json(),
        json!({"path": s(&dest), "name": "whole.txt", "type": "file"})
    );
    assert_eq!(std::fs::read(&dest).unwrap(), b"alpha-gamma");
    for p in [&a, &b, &c] {
        assert!(!Path::new(p).exists(), "{p} still exists");
    }
    assert!(temporaries(dest.parent().unwrap()).is_empty());

    // Over an existing destination: replaced, not appended to.
    let d = write(&tmp.path().join("d.part"), b"second");
    let r = compose(&envd, json!({"source_paths": [d], "destination": s(&dest)})).await;
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(&dest).unwrap(), b"second");
}

#[tokio::test]
async fn the_result_and_new_parents_belong_to_the_user() {
    let envd = Envd::start();
    let user = TestUser::create();
    let tmp = tempfile::tempdir().unwrap();
    let a = write(&tmp.path().join("a"), b"1");
    let dest = tmp.path().join("made/owned.bin");
    let r = compose(
        &envd,
        json!({"source_paths": [a], "destination": s(&dest), "username": user.name}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let uid = user.uid();
    assert_eq!(std::fs::metadata(&dest).unwrap().uid(), uid);
    assert_eq!(
        std::fs::metadata(tmp.path().join("made")).unwrap().uid(),
        uid
    );
    assert_eq!(std::fs::metadata(&dest).unwrap().mode() & 0o777, 0o644);

    // Relative paths resolve in the user's home; without `username` the
    // default user (set by /init) is used.
    let init = envd
        .http
        .post(envd.url("/init"))
        .json(&json!({"defaultUser": user.name}))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status().as_u16(), 204);
    std::fs::write(user.home.join("x.part"), b"home-").unwrap();
    std::fs::write(user.home.join("y.part"), b"made").unwrap();
    let r = compose(
        &envd,
        json!({"source_paths": ["x.part", "~/y.part"], "destination": "joined.txt"}),
    )
    .await;
    let joined = user.home.join("joined.txt");
    assert_eq!(
        r.json(),
        json!({"path": s(&joined), "name": "joined.txt", "type": "file"})
    );
    assert_eq!(std::fs::read(&joined).unwrap(), b"home-made");
    assert_eq!(std::fs::metadata(&joined).unwrap().uid(), uid);
}

#[tokio::test]
async fn bad_requests_are_400_and_touch_nothing() {
    let envd = Envd::start();
    let tmp = tempfile::tempdir().unwrap();
    let a = write(&tmp.path().join("a"), b"keep");
    let dest = tmp.path().join("dest");
    let cases = [
        (
            json!({"source_paths": [], "destination": s(&dest)}),
            "source_paths must not be empty".to_owned(),
        ),
        (
            json!({"destination": s(&dest)}),
            "source_paths must not be empty".to_owned(),
        ),
        (
            json!({"source_paths": [a]}),
            "destination is required".to_owned(),
        ),
        (
            json!({"source_paths": [a], "destination": ""}),
            "destination is required".to_owned(),
        ),
        (
            json!({"source_paths": [a, a], "destination": a}),
            format!("source path {a:?} cannot be the same as destination"),
        ),
        (
            json!({"source_paths": [a, s(tmp.path())], "destination": s(&dest)}),
            format!("source path is not a regular file: {}", s(tmp.path())),
        ),
        (
            json!({"source_paths": ["~nobody/x"], "destination": s(&dest)}),
            "cannot expand user-specific home dir: ~nobody/x".to_owned(),
        ),
    ];
    for (body, message) in cases {
        let r = compose(&envd, body.clone()).await;
        assert_eq!(r.error(400), message, "{body}");
        let want = if message.starts_with("source path is not") {
            "ERROR_REASON_NOT_A_REGULAR_FILE"
        } else if message.starts_with("cannot expand") {
            "ERROR_REASON_INVALID_PATH"
        } else {
            "ERROR_REASON_INVALID_REQUEST"
        };
        assert_eq!(r.json()["reason"], want, "{body}");
    }
    let r = compose_raw(&envd, b"{not json".to_vec(), &[]).await;
    assert!(r.error(400).starts_with("invalid request body: "));
    let huge = format!(
        "{{\"source_paths\":[\"{}\"],\"destination\":\"x\"}}",
        "a".repeat(2 << 20)
    );
    let r = compose_raw(&envd, huge.into_bytes(), &[]).await;
    assert_eq!(
        r.error(400),
        "invalid request body: the body exceeds 1048576 bytes"
    );
    assert_eq!(std::fs::read(&a).unwrap(), b"keep");
    assert!(!dest.exists());
    assert!(temporaries(tmp.path()).is_empty());
}

#[tokio::test]
async fn unknown_user_is_401_and_missing_source_404() {
    let envd = Envd::start();
    let tmp = tempfile::tempdir().unwrap();
    let a = write(&tmp.path().join("a"), b"keep");
    let dest = tmp.path().join("dest");
    let r = compose(
        &envd,
        json!({"source_paths": [a], "destination": s(&dest), "username": "no-such-user-envd"}),
    )
    .await;
    assert_eq!(
        r.error(401),
        "error looking up user 'no-such-user-envd': user: unknown user no-such-user-envd"
    );
    assert_eq!(r.json()["reason"], "ERROR_REASON_UNKNOWN_USER");

    let missing = s(&tmp.path().join("missing")).to_owned();
    let r = compose(
        &envd,
        json!({"source_paths": [a, missing], "destination": s(&dest)}),
    )
    .await;
    assert_eq!(r.error(404), format!("source file not found: {missing}"));
    assert_eq!(r.json()["reason"], "ERROR_REASON_PATH_NOT_FOUND");
    assert_eq!(std::fs::read(&a).unwrap(), b"keep", "sources stay");
    assert!(!dest.exists());
}

#[tokio::test]
async fn full_disk_is_507_and_leaves_sources_destination_and_no_temporary() {
    let envd = Envd::start();
    let fs = Tmpfs::mount("size=1m");
    let outside = tempfile::tempdir().unwrap();
    let big = write(&outside.path().join("big"), &vec![9u8; 2 << 20]);
    let dest = fs.path().join("dest.bin");
    std::fs::write(&dest, b"old").unwrap();
    let r = compose(
        &envd,
        json!({"source_paths": [big], "destination": s(&dest)}),
    )
    .await;
    assert_eq!(r.error(507), "not enough disk space available");
    assert_eq!(r.json()["reason"], "ERROR_REASON_NO_SPACE");
    assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    assert!(Path::new(&big).exists());
    assert_eq!(fs.entries(), vec![dest]);
}

#[tokio::test]
async fn failure_after_the_temporary_exists_is_500_and_removes_it() {
    let envd = Envd::start();
    let tmp = tempfile::tempdir().unwrap();
    let a = write(&tmp.path().join("a"), b"keep");
    // A non-empty directory as destination: the final rename fails.
    let dest = tmp.path().join("dir");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("inside"), b"x").unwrap();
    let r = compose(&envd, json!({"source_paths": [a], "destination": s(&dest)})).await;
    assert!(
        r.error(500).starts_with("error finalizing compose into "),
        "{:?}",
        r.body
    );
    assert!(temporaries(tmp.path()).is_empty());
    assert_eq!(std::fs::read(&a).unwrap(), b"keep");

    // A parent that is a file.
    let file = write(&tmp.path().join("file"), b"f");
    let r = compose(
        &envd,
        json!({"source_paths": [a], "destination": format!("{file}/x")}),
    )
    .await;
    assert_eq!(
        r.error(500),
        format!("error ensuring directories: path is a file: {file}")
    );
}

#[tokio::test]
async fn is_behind_the_access_token() {
    let envd = Envd::start();
    let init = envd
        .http
        .post(envd.url("/init"))
        .json(&json!({"accessToken": "compose-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status().as_u16(), 204);
    let tmp = tempfile::tempdir().unwrap();
    let a = write(&tmp.path().join("a"), b"a");
    let dest = tmp.path().join("d");
    let body = json!({"source_paths": [a], "destination": s(&dest)});
    let r = compose(&envd, body.clone()).await;
    assert_eq!(r.json()["reason"], "ERROR_REASON_ACCESS_TOKEN_INVALID");
    r.error(401);
    assert!(Path::new(&a).exists());
    let r = compose_raw(
        &envd,
        body.to_string().into_bytes(),
        &[("x-access-token", "compose-secret")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(&dest).unwrap(), b"a");
}

#[tokio::test]
async fn watchers_never_see_the_temporary() {
    let envd = Envd::start();
    let tmp = crate::support::fs::scratch_dir();
    let a = write(&tmp.path().join("a.part"), b"a");
    let b = write(&tmp.path().join("b.part"), b"b");
    let mut watch = envd
        .watch(json!({"path": s(tmp.path()), "recursive": false}), &[])
        .await;
    let dest = tmp.path().join("whole");
    let r = compose(
        &envd,
        json!({"source_paths": [a, b], "destination": s(&dest)}),
    )
    .await;
    assert_eq!(r.status, 200);
    // The sources are removed last.
    let seen = watch.until("b.part", "REMOVE").await;
    assert!(
        seen.iter().any(|(name, _)| name == "whole"),
        "no event for the destination: {seen:?}"
    );
    assert!(
        seen.iter().all(|(name, _)| !name.contains("e2b-compose")),
        "temporary seen: {seen:?}"
    );
}

#[tokio::test]
async fn large_sources_are_composed_in_constant_memory() {
    const PART: usize = 32 << 20;
    let envd = Envd::start();
    let tmp = tempfile::tempdir().unwrap();
    // Warm up, so lazily built state is not counted as growth.
    let w = write(&tmp.path().join("warm"), &[1; 4096]);
    let r = compose(
        &envd,
        json!({"source_paths": [w], "destination": s(&tmp.path().join("warm.out"))}),
    )
    .await;
    assert_eq!(r.status, 200);

    let mut generator = Generator::new(0xc0_4905e);
    let first = generator.bytes(PART);
    let second = generator.bytes(PART);
    let a = write(&tmp.path().join("a"), &first);
    let b = write(&tmp.path().join("b"), &second);
    let (rss_before, _) = memory(envd.pid());
    let dest = tmp.path().join("big.bin");
    let r = compose(
        &envd,
        json!({"source_paths": [a, b], "destination": s(&dest)}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (rss_after, hwm_after) = memory(envd.pid());
    let growth = hwm_after.saturating_sub(rss_before);
    println!(
        "compose 64 MiB: envd VmRSS before {} KiB, after {} KiB, VmHWM after {} KiB, peak growth {} KiB",
        rss_before / 1024,
        rss_after / 1024,
        hwm_after / 1024,
        growth / 1024
    );
    assert!(growth < RSS_LIMIT, "envd grew by {} KiB", growth / 1024);
    let got = std::fs::read(&dest).unwrap();
    assert_eq!(got.len(), 2 * PART);
    assert!(got[..PART] == first[..] && got[PART..] == second[..]);
}

//! Stat, MakeDir, Move, ListDir and Remove (spec §4.3), path resolution for
//! the request user (§2.1, §2.2), and every row of the §4.4 error table
//! except the watcher rows (`fs_watch`, `fs_watcher`).

use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use crate::support::fs::{LIST_DIR, MAKE_DIR, MOVE, REMOVE, STAT, scratch_dir};
use crate::support::process::basic;
use crate::support::users::TestUser;
use crate::support::{Envd, s};
use serde_json::json;

fn owner(path: &Path) -> (u32, u32) {
    let meta = std::fs::metadata(path).expect("stat");
    (meta.uid(), meta.gid())
}

/// The spec's tree: `t/test-dir/{sub-dir-1/file.txt, sub-dir-2}`.
fn spec_tree(root: &Path) -> std::path::PathBuf {
    let t = root.join("t");
    std::fs::create_dir_all(t.join("test-dir/sub-dir-1")).expect("mkdir");
    std::fs::create_dir_all(t.join("test-dir/sub-dir-2")).expect("mkdir");
    std::fs::write(t.join("test-dir/sub-dir-1/file.txt"), b"x").expect("write");
    t
}

fn paths(entries: &[serde_json::Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["path"].as_str().expect("entry path").to_owned())
        .collect()
}

#[tokio::test]
async fn stat_missing_is_not_found_and_tilde_user_is_invalid() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let missing = dir.path().join("missing");
    let (status, code, message) = envd.fails(STAT, json!({"path": s(&missing)}), &[]).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert_eq!(message, format!("file not found: {}", s(&missing)));

    let (status, code, message) = envd.fails(STAT, json!({"path": "~nobody/x"}), &[]).await;
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert!(
        message.contains("cannot expand user-specific home dir"),
        "{message}"
    );
}

#[tokio::test]
async fn unknown_basic_user_is_unauthenticated() {
    let envd = Envd::start();
    let auth = basic("no-such-user-envd-fs");
    // Destructive RPCs name only paths inside a directory this test created.
    let dir = scratch_dir();
    for (method, body) in [
        (STAT, json!({"path": "/"})),
        (LIST_DIR, json!({"path": "/"})),
        (MAKE_DIR, json!({"path": s(&dir.path().join("made"))})),
        (REMOVE, json!({"path": s(&dir.path().join("never-there"))})),
    ] {
        let (status, code, message) = envd.fails(method, body, &[("authorization", &auth)]).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "unauthenticated"),
            "{method}"
        );
        assert!(message.contains("no-such-user-envd-fs"), "{message}");
    }
}

#[tokio::test]
async fn relative_and_tilde_paths_resolve_under_the_users_home() {
    let envd = Envd::start();
    let user = TestUser::create();
    std::fs::write(user.home.join("note.txt"), b"hi").unwrap();
    let auth = basic(&user.name);
    let want = user.home.join("note.txt");
    for path in ["note.txt", "~/note.txt", "./x/../note.txt"] {
        let reply = envd
            .call_with(STAT, json!({ "path": path }), &[("authorization", &auth)])
            .await;
        assert_eq!(reply["entry"]["path"], s(&want), "{path}");
    }
    // An empty path (no default workdir) is the home directory.
    let reply = envd
        .call_with(LIST_DIR, json!({"path": ""}), &[("authorization", &auth)])
        .await;
    assert!(paths(reply["entries"].as_array().unwrap()).contains(&s(&want).to_owned()));
}

#[tokio::test]
async fn make_dir_creates_parents_and_reports_conflicts() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let deep = dir.path().join("a/b/c");
    let reply = envd.call(MAKE_DIR, json!({"path": s(&deep)})).await;
    assert_eq!(reply["entry"]["name"], "c");
    assert_eq!(reply["entry"]["type"], "FILE_TYPE_DIRECTORY");
    assert_eq!(reply["entry"]["path"], s(&deep));
    assert!(deep.is_dir());

    let (status, code, message) = envd.fails(MAKE_DIR, json!({"path": s(&deep)}), &[]).await;
    assert_eq!((status, code.as_str()), (409, "already_exists"));
    assert_eq!(message, format!("directory already exists: {}", s(&deep)));

    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let (status, code, message) = envd.fails(MAKE_DIR, json!({"path": s(&file)}), &[]).await;
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert!(
        message.starts_with("path already exists but it is not a directory"),
        "{message}"
    );

    // A parent that is a file: an I/O failure, so internal.
    let under_file = file.join("sub");
    let (status, code, _) = envd
        .fails(MAKE_DIR, json!({"path": s(&under_file)}), &[])
        .await;
    assert_eq!((status, code.as_str()), (500, "internal"));
}

#[tokio::test]
async fn make_dir_and_move_create_directories_owned_by_the_user() {
    let envd = Envd::start();
    let user = TestUser::create();
    let (uid, gid) = (user.uid(), owner(&user.home).1);
    let auth = basic(&user.name);
    let dir = scratch_dir();

    let target = dir.path().join("made/by/user");
    envd.call_with(
        MAKE_DIR,
        json!({"path": s(&target)}),
        &[("authorization", &auth)],
    )
    .await;
    for p in ["made", "made/by", "made/by/user"] {
        assert_eq!(owner(&dir.path().join(p)), (uid, gid), "{p}");
    }
    // Existing directories keep their owner.
    assert_eq!(owner(dir.path()), (0, 0));

    // (No relative MakeDir: destructive RPCs never name a relative path.
    // Relative resolution is covered read-only by the Stat test above.)

    // Move creates the destination's parents as the user too.
    let source = dir.path().join("src.txt");
    std::fs::write(&source, b"data").unwrap();
    let destination = dir.path().join("moved/into/dst.txt");
    envd.call_with(
        MOVE,
        json!({"source": s(&source), "destination": s(&destination)}),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(owner(&dir.path().join("moved/into")), (uid, gid));
    // The moved file itself keeps its owner.
    assert_eq!(owner(&destination), (0, 0));
}

#[tokio::test]
async fn move_renames_files_dirs_and_links() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let d = dir.path();

    // A file to a new path: the reply describes the destination.
    std::fs::write(d.join("a.txt"), b"A").unwrap();
    let reply = envd
        .call(
            MOVE,
            json!({"source": s(&d.join("a.txt")), "destination": s(&d.join("b.txt"))}),
        )
        .await;
    assert_eq!(reply["entry"]["path"], s(&d.join("b.txt")));
    assert_eq!(reply["entry"]["name"], "b.txt");
    assert!(!d.join("a.txt").exists());

    // Over an existing file: replaced.
    std::fs::write(d.join("new.txt"), b"new").unwrap();
    envd.call(
        MOVE,
        json!({"source": s(&d.join("new.txt")), "destination": s(&d.join("b.txt"))}),
    )
    .await;
    assert_eq!(std::fs::read(d.join("b.txt")).unwrap(), b"new");

    // A directory with its contents.
    std::fs::create_dir_all(d.join("dir/inner")).unwrap();
    std::fs::write(d.join("dir/inner/f"), b"f").unwrap();
    let reply = envd
        .call(
            MOVE,
            json!({"source": s(&d.join("dir")), "destination": s(&d.join("dir2"))}),
        )
        .await;
    assert_eq!(reply["entry"]["type"], "FILE_TYPE_DIRECTORY");
    assert_eq!(std::fs::read(d.join("dir2/inner/f")).unwrap(), b"f");

    // A symlink moves itself, not its target.
    symlink(d.join("b.txt"), d.join("link")).unwrap();
    let reply = envd
        .call(
            MOVE,
            json!({"source": s(&d.join("link")), "destination": s(&d.join("link2"))}),
        )
        .await;
    assert_eq!(reply["entry"]["symlinkTarget"], s(&d.join("b.txt")));
    assert!(
        d.join("link2")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(d.join("b.txt").is_file());

    // Moving a link's target leaves the link dangling.
    envd.call(
        MOVE,
        json!({"source": s(&d.join("b.txt")), "destination": s(&d.join("c.txt"))}),
    )
    .await;
    let entry = envd.stat(s(&d.join("link2"))).await;
    assert!(entry.get("type").is_none(), "dangling: {entry}");
    assert_eq!(entry["symlinkTarget"], s(&d.join("link2")));
}

#[tokio::test]
async fn move_errors() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let d = dir.path();
    let missing = d.join("missing");
    let (status, code, message) = envd
        .fails(
            MOVE,
            json!({"source": s(&missing), "destination": s(&d.join("x"))}),
            &[],
        )
        .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert_eq!(message, format!("source file not found: {}", s(&missing)));

    // A directory onto a non-empty directory: rename(2) fails → internal.
    std::fs::create_dir_all(d.join("from")).unwrap();
    std::fs::create_dir_all(d.join("onto/busy")).unwrap();
    let (status, code, message) = envd
        .fails(
            MOVE,
            json!({"source": s(&d.join("from")), "destination": s(&d.join("onto"))}),
            &[],
        )
        .await;
    assert_eq!((status, code.as_str()), (500, "internal"));
    assert!(message.starts_with("error renaming"), "{message}");
}

#[tokio::test]
async fn list_dir_depths_on_the_spec_tree() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let t = spec_tree(dir.path());
    let root = s(&t);
    let under = |rel: &str| format!("{root}/{rel}");
    for depth in [0, 1] {
        assert_eq!(
            paths(&envd.list_dir(root, depth).await),
            [under("test-dir")],
            "depth {depth}"
        );
    }
    assert_eq!(
        paths(&envd.list_dir(root, 2).await),
        [
            under("test-dir"),
            under("test-dir/sub-dir-1"),
            under("test-dir/sub-dir-2")
        ]
    );
    let deep = envd.list_dir(root, 3).await;
    assert_eq!(
        paths(&deep),
        [
            under("test-dir"),
            under("test-dir/sub-dir-1"),
            under("test-dir/sub-dir-1/file.txt"),
            under("test-dir/sub-dir-2")
        ]
    );
    assert_eq!(deep[2]["name"], "file.txt");
    assert_eq!(deep[2]["type"], "FILE_TYPE_FILE");
}

#[tokio::test]
async fn list_dir_is_lexical_and_does_not_follow_inner_links() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let d = dir.path();
    for name in ["b", "a", "C", "_x", "10", "9"] {
        std::fs::write(d.join(name), b"").unwrap();
    }
    std::fs::create_dir(d.join("real")).unwrap();
    std::fs::write(d.join("real/inside"), b"").unwrap();
    symlink(d.join("real"), d.join("ln")).unwrap();
    let names: Vec<String> = envd
        .list_dir(s(d), 2)
        .await
        .iter()
        .map(|e| e["path"].as_str().unwrap().strip_prefix(s(d)).unwrap()[1..].to_owned())
        .collect();
    // Byte order; the link is listed (as a directory) but not descended.
    assert_eq!(
        names,
        ["10", "9", "C", "_x", "a", "b", "ln", "real", "real/inside"]
    );
}

#[tokio::test]
async fn list_dir_through_a_symlinked_root_keeps_the_link_in_paths() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let t = spec_tree(dir.path());
    let link = dir.path().join("link-to-t");
    symlink(&t, &link).unwrap();
    let entries = envd.list_dir(s(&link), 2).await;
    assert_eq!(
        paths(&entries),
        [
            format!("{}/test-dir", s(&link)),
            format!("{}/test-dir/sub-dir-1", s(&link)),
            format!("{}/test-dir/sub-dir-2", s(&link)),
        ]
    );
}

#[tokio::test]
async fn list_dir_errors() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let d = dir.path();
    let missing = d.join("missing");
    let (status, code, message) = envd
        .fails(LIST_DIR, json!({"path": s(&missing), "depth": 1}), &[])
        .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert_eq!(message, format!("path not found: {}", s(&missing)));

    let file = d.join("file");
    std::fs::write(&file, b"").unwrap();
    let (status, code, message) = envd
        .fails(LIST_DIR, json!({"path": s(&file), "depth": 1}), &[])
        .await;
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert_eq!(message, format!("path is not a directory: {}", s(&file)));

    symlink(d.join("loop-b"), d.join("loop-a")).unwrap();
    symlink(d.join("loop-a"), d.join("loop-b")).unwrap();
    let looped = d.join("loop-a");
    let (status, code, message) = envd
        .fails(LIST_DIR, json!({"path": s(&looped), "depth": 1}), &[])
        .await;
    assert_eq!((status, code.as_str()), (400, "failed_precondition"));
    assert_eq!(
        message,
        format!("cyclic symlink or chain >255 links at {}", s(&looped))
    );
}

#[tokio::test]
async fn remove_is_rm_rf_and_missing_is_ok() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let d = dir.path();
    std::fs::write(d.join("file"), b"").unwrap();
    std::fs::create_dir_all(d.join("tree/a/b")).unwrap();
    std::fs::write(d.join("tree/a/b/f"), b"").unwrap();
    std::fs::write(d.join("target"), b"kept").unwrap();
    symlink(d.join("target"), d.join("link")).unwrap();

    for name in ["file", "tree", "link", "never-existed"] {
        let reply = envd.call(REMOVE, json!({"path": s(&d.join(name))})).await;
        assert_eq!(reply, json!({}), "{name}");
        assert!(
            d.join(name).symlink_metadata().is_err(),
            "{name} still there"
        );
    }
    // Removing a link leaves its target.
    assert_eq!(std::fs::read(d.join("target")).unwrap(), b"kept");
}

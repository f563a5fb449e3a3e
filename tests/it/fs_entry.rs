//! EntryInfo construction (spec §4.2) through `Stat`: every field for
//! files, directories, symlinks (to files, to directories, chains, broken,
//! cyclic), fifos, permission strings, owner and group names, mtime and
//! `user.e2b.*` metadata.

use std::ffi::OsStr;
use std::fs::{File, Permissions};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown, symlink};
use std::time::{Duration, SystemTime};

use crate::support::fs::{parse_utc, scratch_dir};
use crate::support::users::TestUser;
use crate::support::{Envd, s};
use serde_json::{Value, json};

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, Permissions::from_mode(mode)).expect("chmod");
}

/// A JSON object without the fields whose values vary from run to run.
fn stable(entry: &Value) -> Value {
    let mut entry = entry.clone();
    let object = entry.as_object_mut().expect("an entry object");
    object.remove("modifiedTime");
    entry
}

#[tokio::test]
async fn regular_file_every_field() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let file = dir.path().join("a.txt");
    std::fs::write(&file, b"hello").unwrap();
    chmod(&file, 0o644);
    let mtime = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let entry = envd.stat(s(&file)).await;
    assert_eq!(
        stable(&entry),
        json!({
            "name": "a.txt",
            "type": "FILE_TYPE_FILE",
            "path": s(&file),
            "size": "5",
            "mode": 0o644,
            "permissions": "-rw-r--r--",
            "owner": "root",
            "group": "root",
        })
    );
    let time = entry["modifiedTime"].as_str().unwrap();
    assert_eq!(parse_utc(time), (1_700_000_000, 123_456_789), "{time}");
    assert!(
        time.starts_with("2023-11-14T22:13:20.123456789"),
        "RFC 3339 with nanoseconds: {time}"
    );
}

#[tokio::test]
async fn modified_time_is_the_real_mtime_with_nanoseconds() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let file = dir.path().join("now");
    std::fs::write(&file, b"x").unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    let entry = envd.stat(s(&file)).await;
    assert_eq!(
        parse_utc(entry["modifiedTime"].as_str().unwrap()),
        (meta.mtime(), u32::try_from(meta.mtime_nsec()).unwrap())
    );
}

#[tokio::test]
async fn directory_and_root() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    chmod(&sub, 0o755);
    let entry = envd.stat(s(&sub)).await;
    assert_eq!(entry["name"], "sub");
    assert_eq!(entry["type"], "FILE_TYPE_DIRECTORY");
    assert_eq!(entry["mode"], 0o755);
    assert_eq!(entry["permissions"], "drwxr-xr-x");
    assert_eq!(
        entry["size"],
        std::fs::metadata(&sub).unwrap().len().to_string()
    );
    assert!(entry.get("symlinkTarget").is_none());

    let root = envd.stat("/").await;
    assert_eq!((&root["name"], &root["path"]), (&json!("/"), &json!("/")));
}

#[tokio::test]
async fn symlinks_report_the_resolved_target() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let d = dir.path();
    std::fs::write(d.join("file.txt"), b"content").unwrap();
    chmod(&d.join("file.txt"), 0o640);
    std::fs::create_dir(d.join("dir")).unwrap();
    chmod(&d.join("dir"), 0o750);
    symlink("file.txt", d.join("to-file")).unwrap();
    symlink(d.join("dir"), d.join("to-dir")).unwrap();
    symlink("to-file", d.join("chain")).unwrap();

    let to_file = envd.stat(s(&d.join("to-file"))).await;
    assert_eq!(
        stable(&to_file),
        json!({
            "name": "to-file",
            "type": "FILE_TYPE_FILE",
            "path": s(&d.join("to-file")),
            "size": "8",
            "mode": 0o640,
            "permissions": "Lrwxrwxrwx",
            "owner": "root",
            "group": "root",
            "symlinkTarget": s(&d.join("file.txt")),
        })
    );

    let to_dir = envd.stat(s(&d.join("to-dir"))).await;
    assert_eq!(to_dir["type"], "FILE_TYPE_DIRECTORY");
    assert_eq!(to_dir["mode"], 0o750);
    assert_eq!(to_dir["permissions"], "Lrwxrwxrwx");
    assert_eq!(to_dir["symlinkTarget"], s(&d.join("dir")));

    // The whole chain is followed, not just the first link.
    let chain = envd.stat(s(&d.join("chain"))).await;
    assert_eq!(chain["type"], "FILE_TYPE_FILE");
    assert_eq!(chain["symlinkTarget"], s(&d.join("file.txt")));
    assert_eq!(chain["size"], "7", "lstat size: the link text `to-file`");
}

#[tokio::test]
async fn broken_and_cyclic_symlinks_point_at_themselves() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let d = dir.path();
    symlink(d.join("missing"), d.join("broken")).unwrap();
    symlink(d.join("loop-b"), d.join("loop-a")).unwrap();
    symlink(d.join("loop-a"), d.join("loop-b")).unwrap();
    for name in ["broken", "loop-a"] {
        let path = d.join(name);
        let entry = envd.stat(s(&path)).await;
        // UNSPECIFIED type and mode 0 are proto3 defaults: omitted in JSON.
        assert!(entry.get("type").is_none(), "{entry}");
        assert!(entry.get("mode").is_none(), "{entry}");
        assert_eq!(entry["permissions"], "Lrwxrwxrwx");
        assert_eq!(entry["symlinkTarget"], s(&path), "{name}");
        assert_eq!(entry["name"], name);
    }
}

#[tokio::test]
async fn fifo_is_unspecified() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let fifo = dir.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    chmod(&fifo, 0o644);
    let entry = envd.stat(s(&fifo)).await;
    assert!(entry.get("type").is_none(), "{entry}");
    assert_eq!(entry["permissions"], "prw-r--r--");
    assert_eq!(entry["mode"], 0o644);
}

#[tokio::test]
async fn permission_strings_and_mode_bits() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let cases = [
        ("r-only", false, 0o444, "-r--r--r--", 0o444),
        ("exec", false, 0o755, "-rwxr-xr-x", 0o755),
        ("w-only", false, 0o200, "--w-------", 0o200),
        ("none", false, 0o000, "----------", 0),
        ("setuid", false, 0o4755, "urwxr-xr-x", 0o755),
        ("setgid", false, 0o2755, "grwxr-xr-x", 0o755),
        ("sticky", true, 0o1777, "dtrwxrwxrwx", 0o777),
    ];
    for (name, is_dir, mode, want, bits) in cases {
        let path = dir.path().join(name);
        if is_dir {
            std::fs::create_dir(&path).unwrap();
        } else {
            std::fs::write(&path, b"").unwrap();
        }
        chmod(&path, mode);
        let entry = envd.stat(s(&path)).await;
        assert_eq!(entry["permissions"], want, "{name}");
        // mode carries the permission bits only (no setuid/setgid/sticky).
        assert_eq!(entry["mode"].as_u64().unwrap_or(0), bits, "{name}");
    }
}

#[tokio::test]
async fn owner_and_group_names_with_numeric_fallback() {
    let envd = Envd::start();
    let user = TestUser::create();
    let dir = scratch_dir();
    let named = dir.path().join("named");
    let numeric = dir.path().join("numeric");
    std::fs::write(&named, b"").unwrap();
    std::fs::write(&numeric, b"").unwrap();
    chown(&named, Some(user.uid()), Some(user.group_gid)).unwrap();
    // Ids no passwd or group entry has.
    chown(&numeric, Some(3_999_999), Some(3_999_998)).unwrap();

    let entry = envd.stat(s(&named)).await;
    assert_eq!(
        (&entry["owner"], &entry["group"]),
        (&json!(user.name), &json!(user.group))
    );
    let entry = envd.stat(s(&numeric)).await;
    assert_eq!(
        (&entry["owner"], &entry["group"]),
        (&json!("3999999"), &json!("3999998"))
    );
}

#[tokio::test]
async fn metadata_comes_from_user_e2b_xattrs() {
    let envd = Envd::start();
    let dir = scratch_dir();
    let file = dir.path().join("tagged");
    std::fs::write(&file, b"").unwrap();
    envd::sys::set_xattr(&file, OsStr::new("user.e2b.owner-team"), b"infra").unwrap();
    envd::sys::set_xattr(&file, OsStr::new("user.e2b.bin"), b"\xff\xfe").unwrap();
    envd::sys::set_xattr(&file, OsStr::new("user.other"), b"hidden").unwrap();
    let entry = envd.stat(s(&file)).await;
    // Non-UTF-8 values and other namespaces are left out.
    assert_eq!(entry["metadata"], json!({"owner-team": "infra"}));

    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"").unwrap();
    assert!(envd.stat(s(&plain)).await.get("metadata").is_none());
}

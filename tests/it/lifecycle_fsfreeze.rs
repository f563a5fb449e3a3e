//! `POST /fsfreeze` and `/fsthaw` (spec §5.8) on an ext4 image this test
//! creates and loop-mounts under a temporary directory.
//!
//! Safety: envd's `--fsfreeze-path` is only ever the loop mount, checked
//! to be a different filesystem from its parent before envd starts (a
//! failed mount would otherwise leave a plain directory on `/`). [`Loop`]'s
//! drop thaws and unmounts it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Envd;
use serde_json::json;

/// A loop-mounted ext4 filesystem, unmounted on drop.
struct Loop {
    dir: tempfile::TempDir,
    mnt: PathBuf,
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("this test needs {program} (e2fsprogs/util-linux): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Loop {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("fs.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(32 * 1024 * 1024)
            .unwrap();
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        run(
            "mount",
            &["-o", "loop", image.to_str().unwrap(), mnt.to_str().unwrap()],
        );
        let fs = Self { dir, mnt };
        assert_ne!(
            std::fs::metadata(&fs.mnt).unwrap().dev(),
            std::fs::metadata(fs.dir.path()).unwrap().dev(),
            "the loop mount is not in place; refusing to freeze its parent filesystem"
        );
        fs
    }

    fn envd(&self, extra: &[&str]) -> Envd {
        let mut args = vec!["--fsfreeze-path", self.mnt.to_str().unwrap()];
        args.extend_from_slice(extra);
        Envd::start_with(&args)
    }

    /// A writer of a new file on the filesystem, as a child of this test.
    fn writer(&self, name: &str) -> Child {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(format!(
                "echo written > '{}'",
                self.mnt.join(name).display()
            ))
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let mnt = self.mnt.to_str().unwrap();
        let _ = Command::new("fsfreeze").args(["-u", mnt]).output();
        let ok = Command::new("umount")
            .arg(mnt)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let _ = Command::new("umount").args(["-l", mnt]).output();
        }
    }
}

async fn post(envd: &Envd, path: &str) -> reqwest::Response {
    envd.http.post(envd.url(path)).send().await.unwrap()
}

/// The writer is blocked: after a second it has not finished. (A frozen
/// filesystem blocks writes until it is thawed; this is the behaviour,
/// and [`finishes`] then shows the thaw released it.)
fn assert_blocked(writer: &mut Child) {
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        writer.try_wait().unwrap().is_none(),
        "a write to a frozen filesystem finished"
    );
}

async fn finishes(writer: &mut Child, file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = writer.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(Instant::now() < deadline, "the write never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_to_string(file).unwrap(), "written\n");
}

#[tokio::test]
async fn freeze_blocks_writes_until_thaw() {
    let fs = Loop::mount();
    let envd = fs.envd(&[]);
    assert_eq!(post(&envd, "/fsfreeze").await.status(), 204);
    // Freezing a frozen filesystem changes nothing.
    assert_eq!(post(&envd, "/fsfreeze").await.status(), 204);
    let mut writer = fs.writer("a");
    assert_blocked(&mut writer);
    // envd keeps serving while the filesystem is frozen.
    let resp = envd.http.get(envd.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = post(&envd, "/fsthaw").await;
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    finishes(&mut writer, &fs.mnt.join("a")).await;
    // Thawing a thawed filesystem is fine (the kernel's EINVAL is tolerated).
    assert_eq!(post(&envd, "/fsthaw").await.status(), 204);
}

#[tokio::test]
async fn frozen_too_long_thaws_by_itself() {
    let fs = Loop::mount();
    let envd = fs.envd(&["--fsfreeze-max", "2s"]);
    assert_eq!(post(&envd, "/fsfreeze").await.status(), 204);
    let mut writer = fs.writer("b");
    // No /fsthaw: the bound releases it.
    finishes(&mut writer, &fs.mnt.join("b")).await;
    assert_eq!(post(&envd, "/fsthaw").await.status(), 204);
}

#[tokio::test]
async fn init_thaws_a_frozen_filesystem() {
    let fs = Loop::mount();
    let envd = fs.envd(&[]);
    assert_eq!(post(&envd, "/fsfreeze").await.status(), 204);
    let mut writer = fs.writer("c");
    assert_blocked(&mut writer);
    let resp = envd
        .http
        .post(envd.url("/init"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    finishes(&mut writer, &fs.mnt.join("c")).await;
}

#[tokio::test]
async fn a_path_that_cannot_be_frozen_is_500() {
    // The harness's default fsfreeze path does not exist.
    let envd = Envd::start();
    for path in ["/fsfreeze", "/fsthaw"] {
        let resp = post(&envd, path).await;
        assert_eq!(resp.status(), 500, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("no-fsfreeze"),
            "{path}: {body}"
        );
    }
}

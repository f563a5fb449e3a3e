//! Throwaway users and groups (shadow-utils), removed on drop.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static USER_SEQ: AtomicU32 = AtomicU32::new(0);

/// A throwaway user (and a supplementary group it belongs to) whose
/// passwd home is `/opt/<name>`; removed on drop, even if the test failed.
pub struct TestUser {
    /// Login name.
    pub name: String,
    /// Supplementary group name.
    pub group: String,
    /// Supplementary group id.
    pub group_gid: u32,
    /// Home from passwd.
    pub home: PathBuf,
}

impl TestUser {
    /// Creates the group, then the user in it, with home `/opt/<name>`.
    pub fn create() -> Self {
        let seq = USER_SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("envdt{}u{seq}", std::process::id());
        let group = format!("envdt{}g{seq}", std::process::id());
        // The guard exists before anything is created so Drop cleans up
        // whatever step fails.
        let mut user = Self {
            home: PathBuf::from(format!("/opt/{name}")),
            name,
            group,
            group_gid: 0,
        };
        shadow_tool("groupadd", &[&user.group]);
        shadow_tool(
            "useradd",
            &[
                "-m",
                "-d",
                user.home.to_str().unwrap(),
                "-s",
                "/bin/sh",
                "-G",
                &user.group,
                &user.name,
            ],
        );
        let line = String::from_utf8(
            Command::new("getent")
                .args(["group", &user.group])
                .output()
                .expect("getent")
                .stdout,
        )
        .unwrap();
        user.group_gid = line.split(':').nth(2).unwrap().parse().unwrap();
        user
    }

    /// The user's uid from passwd.
    pub fn uid(&self) -> u32 {
        let out = Command::new("id")
            .args(["-u", &self.name])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = shadow_tool_quiet("userdel", &["-r", &self.name]);
        let _ = shadow_tool_quiet("groupdel", &[&self.group]);
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Runs a shadow-utils tool, retrying while another process holds the
/// passwd/group locks (other tests create users concurrently).
fn shadow_tool(tool: &str, args: &[&str]) {
    if let Err(e) = shadow_tool_quiet(tool, args) {
        panic!("{tool} {args:?} failed: {e}");
    }
}

fn shadow_tool_quiet(tool: &str, args: &[&str]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(tool)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if !err.contains("lock") || Instant::now() > deadline {
            return Err(err);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

//! Test harness: a real envd started per test, a temp dir to work in, a TCP
//! proxy that can freeze, and an h2c proxy that records RPCs.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    reason = "test harness: each test binary uses a different subset, and a failed unwrap is a failed test"
)]

pub mod proxy;
pub mod rng;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running envd, killed when dropped. Its run dir, hosts file and
/// drop_caches file live in a temp dir, so tests never touch the machine's.
pub struct Envd {
    _child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// envd's own scratch files.
    _state: tempfile::TempDir,
}

/// The envd binary: `$ENVD_BIN`, else `<workspace>/target/debug/envd`.
pub fn envd_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ENVD_BIN") {
        return PathBuf::from(bin);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/envd")
}

impl Envd {
    /// Starts envd on 127.0.0.1:0 and waits for its "listening on" line.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts envd with extra command-line arguments.
    pub async fn start_with(extra: &[&str]) -> Self {
        let state = tempfile::tempdir().expect("state dir");
        let in_state = |name: &str| state.path().join(name).to_str().unwrap().to_owned();
        let bin = envd_bin();
        let mut child = Command::new(&bin)
            .args(["--addr", "127.0.0.1:0"])
            .args(["--run-dir", &in_state("run")])
            .args(["--hosts-file", &in_state("hosts")])
            .args(["--drop-caches", &in_state("drop_caches")])
            .args(extra)
            .env("ENVD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); build it with `cargo build --bin envd` or set ENVD_BIN",
                    bin.display()
                )
            });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("envd did not print its listening line in 30s")
            .expect("read envd stdout")
            .expect("envd exited before listening");
        let url = line
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected first line from envd: {line:?}"))
            .to_owned();
        // Keep draining stdout so envd never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            _child: child,
            url,
            _state: state,
        }
    }

    /// A client with default options.
    pub fn client(&self) -> envd_sdk::Client {
        envd_sdk::Client::connect(self.url.clone()).expect("client")
    }
}

/// A fresh temp dir (under the system temp dir) that tests may write to.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("envd-sdk-test.")
                .tempdir()
                .expect("scratch dir"),
        }
    }

    /// The absolute path of `name` inside the scratch dir.
    pub fn path(&self, name: &str) -> String {
        let path = self.dir.path().join(name);
        assert!(path.is_absolute() && path.starts_with(self.dir.path()));
        path.to_str().expect("UTF-8 temp path").to_owned()
    }

    /// The scratch dir itself.
    pub fn root(&self) -> String {
        self.dir
            .path()
            .to_str()
            .expect("UTF-8 temp path")
            .to_owned()
    }
}

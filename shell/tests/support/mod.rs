//! Harness for envd-shell's tests: a real envd with scratch state, a TCP
//! proxy whose connections can be cut, and a tmux server of the test's own.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    reason = "test harness: each test binary uses a different subset, and a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// envd-shell, as cargo built it for this test.
pub fn shell_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_envd-shell"))
}

/// envd: `$ENVD_BIN`, else beside envd-shell in the same target dir.
pub fn envd_bin() -> PathBuf {
    std::env::var_os("ENVD_BIN").map_or_else(|| shell_bin().with_file_name("envd"), PathBuf::from)
}

/// A running envd with its run dir, hosts file and drop_caches in a temp
/// dir; killed when dropped.
pub struct Envd {
    _child: Child,
    pub url: String,
    pub addr: String,
    _state: tempfile::TempDir,
}

impl Envd {
    pub async fn start() -> Self {
        let state = tempfile::tempdir().unwrap();
        let at = |name: &str| state.path().join(name).to_str().unwrap().to_owned();
        let bin = envd_bin();
        let mut child = Command::new(&bin)
            .args(["--addr", "127.0.0.1:0", "--run-dir", &at("run")])
            .args([
                "--hosts-file",
                &at("hosts"),
                "--drop-caches",
                &at("drop_caches"),
            ])
            .env("ENVD_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); `cargo build --bin envd` first",
                    bin.display()
                )
            });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("envd listening within 30s")
            .unwrap()
            .expect("envd printed its address");
        let url = line.rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("http://"), "{line}");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            _child: child,
            addr: url.trim_start_matches("http://").to_owned(),
            url,
            _state: state,
        }
    }
}

/// A TCP proxy in front of envd whose connections can be cut, and which
/// can refuse new ones for a while (envd "unreachable").
pub struct CutProxy {
    pub url: String,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: Arc<tokio::sync::RwLock<()>>,
}

impl CutProxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepting = Arc::new(tokio::sync::RwLock::new(()));
        let (upstream, tasks, gate) = (
            upstream.to_owned(),
            Arc::clone(&conns),
            Arc::clone(&accepting),
        );
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let open = gate.read().await;
                drop(open);
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(task);
            }
        });
        Self {
            url,
            conns,
            accepting,
        }
    }

    /// Closes every open connection and holds new ones for `pause`.
    pub async fn cut(&self, pause: Duration) {
        let gate = self.accepting.write().await;
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
        tokio::time::sleep(pause).await;
        drop(gate);
    }
}

/// A tmux server of this test's own (`-L`), killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a detached 100x30 session.
    pub fn start(name: &str, command: &str) -> Self {
        let socket = format!("envd-shell-test-{}-{name}", std::process::id());
        let tmux = Self { socket };
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "t",
            command,
        ]);
        tmux.run(&["set-option", "-g", "status", "off"]);
        tmux.run(&["set-option", "-g", "window-size", "manual"]);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (make test-shell installs it)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` then Enter.
    pub fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
        self.run(&["send-keys", "-t", "t", "Enter"]);
    }

    pub fn pane(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// `(cols, rows)` of the pane.
    pub fn pane_size(&self) -> (u16, u16) {
        let text = self.run(&[
            "display-message",
            "-p",
            "-t",
            "t",
            "#{pane_width} #{pane_height}",
        ]);
        let mut parts = text.split_whitespace().map(|p| p.parse().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    }

    /// Waits until the pane shows `needle`.
    pub async fn wait_for(&self, needle: &str) -> String {
        for _ in 0..300 {
            let pane = self.pane();
            if pane.contains(needle) {
                return pane;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("pane never showed {needle:?}:\n{}", self.pane());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// A command line that runs envd-shell with `args`, tees its output to
/// `out` and writes its exit status to `status`.
pub fn wrapper(args: &str, out: &Path, status: &Path) -> String {
    format!(
        "bash -c '{} {args} | tee {}; echo ${{PIPESTATUS[0]}} > {}'",
        shell_bin().display(),
        out.display(),
        status.display()
    )
}

/// Waits for the status file and returns the exit status in it.
pub async fn exit_status(path: &Path) -> i32 {
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(code) = text.trim().parse()
        {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("envd-shell did not exit");
}

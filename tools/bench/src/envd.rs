//! An envd the bench starts itself (`--envd-bin`): on 127.0.0.1 and a free
//! port, with every machine-wide path it could touch (run dir, hosts file,
//! drop_caches, cgroups, fsfreeze, CA files) pointed into a scratch
//! directory, as `tests/it/support` does. The page-cache reclaimer would
//! otherwise drop this machine's cache mid-benchmark.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::wire::Result;

/// How long envd may take to answer `/health` before the start fails.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A running envd, stopped when dropped.
#[derive(Debug)]
pub(crate) struct Launched {
    child: Child,
    pub(crate) url: String,
    scratch: tempfile::TempDir,
}

impl Launched {
    /// Starts `bin` and waits for its first 2xx from `/health`; also
    /// returns how long that took from exec.
    pub(crate) fn start(bin: &Path) -> Result<(Self, Duration)> {
        let scratch = tempfile::Builder::new().prefix("envd-bench-").tempdir()?;
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let path = |name: &str| scratch.path().join(name);
        let log = std::fs::File::create(path("envd.log"))?;
        let started = Instant::now();
        let child = Command::new(bin)
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--run-dir")
            .arg(path("run"))
            .arg("--hosts-file")
            .arg(path("hosts"))
            .arg("--drop-caches")
            .arg(path("drop_caches"))
            .arg("--cgroup-root")
            .arg(path("no-cgroups"))
            .arg("--fsfreeze-path")
            .arg(path("no-fsfreeze"))
            .arg("--ca-bundle")
            .arg(path("ca-bundle.crt"))
            .arg("--ca-cert")
            .arg(path("e2b-ca.crt"))
            .env("ENVD_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut launched = Self {
            child,
            url: format!("http://{addr}"),
            scratch,
        };
        loop {
            if health_ok(addr) {
                return Ok((launched, started.elapsed()));
            }
            if let Some(status) = launched.child.try_wait()? {
                let log = std::fs::read_to_string(launched.scratch.path().join("envd.log"))
                    .unwrap_or_default();
                return Err(format!("envd exited with {status} before answering: {log}").into());
            }
            if started.elapsed() > START_LIMIT {
                return Err(format!("envd did not answer /health within {START_LIMIT:?}").into());
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then SIGKILL if envd has not exited after 5 s.
    pub(crate) fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}

/// A port nobody listens on right now (bound, read, released).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// One blocking `GET /health`: true on a 2xx (ours answers `200`, E2B's
/// Go envd `204`).
fn health_ok(addr: SocketAddr) -> bool {
    let Ok(mut tcp) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if tcp.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 2")
}

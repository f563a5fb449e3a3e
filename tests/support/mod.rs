//! Shared end-to-end test harness: a real envd binary on 127.0.0.1 and a
//! small Connect client (JSON and binary) built on reqwest.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test harness: each test binary uses a different subset, and a failed unwrap is a failed test"
)]

pub mod files;
pub mod fs;
pub mod process;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use serde_json::Value;

/// A running envd, killed when dropped.
pub struct Envd {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Client with no overall timeout (streams may be long).
    pub http: reqwest::Client,
    /// Holds the files envd would otherwise write on the machine (run dir,
    /// hosts file, drop_caches); see [`Envd::start_with`].
    scratch: tempfile::TempDir,
}

impl Envd {
    /// Starts `target/.../envd --addr 127.0.0.1:0` and waits for its
    /// "listening on" line (no sleeps: the line is printed after bind).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`Envd::start`] with extra command-line arguments.
    ///
    /// envd never touches the machine's `/run/wrenn`, `/etc/hosts` or
    /// `/proc/sys/vm/drop_caches` from tests: the run dir, hosts file and
    /// drop_caches file default to files in [`Envd::scratch`] (the
    /// reclaimer would otherwise drop the test machine's page cache). `args`
    /// come later, so a test's own flags win.
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// Like [`Envd::start_with`] with extra environment variables for envd
    /// (a test puts a fake `mount` first in `PATH`).
    ///
    /// The lifecycle endpoints never reach the machine either: the cgroup
    /// root, the fsfreeze path (never `/`) and the CA files default to
    /// paths in [`Envd::scratch`] that do not exist (`no-cgroups`,
    /// `no-fsfreeze`) or are scratch files (`ca-bundle.crt`, `e2b-ca.crt`).
    pub fn start_with_env(args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::launch(Command::new(env!("CARGO_BIN_EXE_envd")), args, envs)
    }

    /// Like [`Envd::start`], with envd exec'd by `wrapper` (`nohup` starts
    /// it with SIGHUP ignored, as a supervisor might).
    pub fn start_under(wrapper: &str) -> Self {
        let mut command = Command::new(wrapper);
        command.arg(env!("CARGO_BIN_EXE_envd"));
        Self::launch(command, &[], &[])
    }

    fn launch(mut command: Command, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let scratch = tempfile::tempdir().expect("scratch dir");
        let in_scratch = |name: &str| scratch.path().join(name).to_str().unwrap().to_owned();
        let mut child = command
            .args(["--addr", "127.0.0.1:0"])
            .args(["--run-dir", &in_scratch("run")])
            .args(["--hosts-file", &in_scratch("hosts")])
            .args(["--drop-caches", &in_scratch("drop_caches")])
            .args(["--cgroup-root", &in_scratch("no-cgroups")])
            .args(["--fsfreeze-path", &in_scratch("no-fsfreeze")])
            .args(["--ca-bundle", &in_scratch("ca-bundle.crt")])
            .args(["--ca-cert", &in_scratch("e2b-ca.crt")])
            .args(args)
            .envs(envs.iter().copied())
            .env(
                "ENVD_LOG",
                std::env::var("ENVD_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn envd");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let base = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected first line from envd: {line:?}"))
            .to_owned();
        let http = reqwest::Client::builder().build().expect("client");
        Self {
            child,
            base,
            http,
            scratch,
        }
    }

    /// The directory holding envd's default run dir (`run`), hosts file
    /// (`hosts`) and drop_caches file (`drop_caches`).
    pub fn scratch(&self) -> &std::path::Path {
        self.scratch.path()
    }

    /// envd's pid (to inspect /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends envd SIGTERM.
    pub fn sigterm(&self) {
        sigterm(&self.child);
    }

    /// Waits up to `limit` for envd to exit; `None` if it is still running.
    pub fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        exit_within(&mut self.child, limit)
    }

    /// Sends envd SIGTERM and waits up to `limit` for it to exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.sigterm();
        self.exit_within(limit)
    }

    /// Absolute URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Unary Connect call with JSON; returns (HTTP status, body JSON).
    pub async fn unary(&self, method: &str, body: Value) -> (u16, Value) {
        self.unary_with(method, body, &[]).await
    }

    /// Unary Connect call with JSON and extra headers.
    pub async fn unary_with(
        &self,
        method: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// Opens a server-streaming Connect JSON call.
    pub async fn stream(&self, method: &str, body: Value, headers: &[(&str, &str)]) -> Frames {
        self.stream_on(&self.http, method, body, headers).await
    }

    /// Like [`Envd::stream`], on another client (an h2c one, say).
    pub async fn stream_on(
        &self,
        client: &reqwest::Client,
        method: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Frames {
        let mut req = client
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/connect+json")
            .body(envelope(0, body.to_string().as_bytes()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), 200, "streams answer 200");
        Frames {
            body: Box::pin(resp.bytes_stream()),
            buf: BytesMut::new(),
        }
    }

    /// Runs `Start` and collects the whole stream (messages, then the end-of-stream JSON).
    pub async fn run(&self, start: Value) -> Collected {
        self.stream("process.Process/Start", start, &[])
            .await
            .collect(Duration::from_secs(30))
            .await
    }
}

impl Drop for Envd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `child` SIGTERM.
pub fn sigterm(child: &Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
}

/// Polls for `child`'s exit status for up to `limit`.
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Wraps `payload` in a Connect envelope.
pub fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(flags);
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Incremental reader of Connect envelopes.
pub struct Frames {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buf: BytesMut,
}

/// One envelope: flags and JSON payload.
#[derive(Debug, Clone)]
pub struct Frame {
    pub flags: u8,
    pub json: Value,
}

/// A finished stream.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Message frames in order.
    pub messages: Vec<Value>,
    /// The end-of-stream frame's JSON (`{}` when OK).
    pub end_stream: Value,
}

impl Collected {
    /// Concatenated base64-decoded `field` (`stdout`, `stderr`, `pty`) of data events.
    pub fn output(&self, field: &str) -> Vec<u8> {
        use base64::Engine;
        self.messages
            .iter()
            .filter_map(|m| m["event"]["data"][field].as_str())
            .flat_map(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap()
            })
            .collect()
    }

    /// The `end` event, if any.
    pub fn end(&self) -> Option<&Value> {
        self.messages.iter().find_map(|m| m["event"].get("end"))
    }

    /// Event kinds in order (`start`, `data`, `end`, `keepalive`).
    pub fn kinds(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter_map(|m| {
                m["event"]
                    .as_object()
                    .and_then(|o| o.keys().next().cloned())
            })
            .collect()
    }
}

impl Frames {
    /// The next envelope, or `None` at end of body.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
                if self.buf.len() >= 5 + len {
                    let flags = self.buf[0];
                    self.buf.advance(5);
                    let payload = self.buf.split_to(len);
                    let json = serde_json::from_slice(&payload).expect("frame is JSON");
                    return Some(Frame { flags, json });
                }
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => panic!("stream body error: {e}"),
                None => return None,
            }
        }
    }

    /// Reads to the end-of-stream frame, failing the test after `limit`.
    pub async fn collect(mut self, limit: Duration) -> Collected {
        tokio::time::timeout(limit, async {
            let mut messages = Vec::new();
            while let Some(frame) = self.next().await {
                if frame.flags & 0x02 != 0 {
                    return Collected {
                        messages,
                        end_stream: frame.json,
                    };
                }
                messages.push(frame.json);
            }
            panic!("stream ended without an end-of-stream frame after {messages:?}");
        })
        .await
        .expect("stream did not finish in time")
    }
}

/// `{"process":{"cmd":cmd,"args":args},"stdin":false}`
pub fn start_req(cmd: &str, args: &[&str]) -> Value {
    serde_json::json!({"process": {"cmd": cmd, "args": args}, "stdin": false})
}

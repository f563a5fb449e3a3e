//! Helpers for the `process.Process` end-to-end tests: event streams read
//! step by step, client streams, the binary codec, throwaway users and
//! bounded polling.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::{Buf, Bytes};
use futures::StreamExt;
use serde_json::{Value, json};

use super::{Collected, Envd, Frame, Frames, envelope};

/// Method paths.
pub const START: &str = "process.Process/Start";
pub const CONNECT: &str = "process.Process/Connect";
pub const LIST: &str = "process.Process/List";
pub const UPDATE: &str = "process.Process/Update";
pub const SEND_INPUT: &str = "process.Process/SendInput";
pub const STREAM_INPUT: &str = "process.Process/StreamInput";
pub const SEND_SIGNAL: &str = "process.Process/SendSignal";
pub const CLOSE_STDIN: &str = "process.Process/CloseStdin";

/// How long any single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(10);

/// Standard base64, as the JSON codec encodes `bytes`.
pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes standard base64.
pub fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}

/// `Authorization` value selecting `user` (empty password).
pub fn basic(user: &str) -> String {
    format!("Basic {}", b64(format!("{user}:").as_bytes()))
}

/// `{"process":{"pid":pid}}`
pub fn by_pid(pid: u32) -> Value {
    json!({"process": {"pid": pid}})
}

/// `{"process":{"tag":tag}}`
pub fn by_tag(tag: &str) -> Value {
    json!({"process": {"tag": tag}})
}

/// `(code, message)` of a unary error body `{"code","message"}` or of an
/// end-of-stream frame `{"error":{"code","message"}}`.
pub fn connect_error(body: &Value) -> (String, String) {
    let err = body.get("error").unwrap_or(body);
    let text = |k: &str| {
        err[k]
            .as_str()
            .unwrap_or_else(|| panic!("no error {k} in {body}"))
            .to_owned()
    };
    (text("code"), text("message"))
}

/// Concatenated output `field` (`stdout`, `stderr`, `pty`) of data events.
pub fn output(messages: &[Value], field: &str) -> Vec<u8> {
    messages
        .iter()
        .filter_map(|m| m["event"]["data"][field].as_str())
        .flat_map(unb64)
        .collect()
}

/// The event kind of one stream message (`start`, `data`, `end`, `keepalive`).
pub fn kind(message: &Value) -> &str {
    message["event"]
        .as_object()
        .and_then(|o| o.keys().next())
        .map_or("?", String::as_str)
}

impl Collected {
    /// The stream's error `(code, message)`, if it ended with one.
    pub fn error(&self) -> Option<(String, String)> {
        self.end_stream
            .get("error")
            .map(|_| connect_error(&self.end_stream))
    }

    /// The pid of the `start` event, which must come first.
    pub fn pid(&self) -> u32 {
        let first = self.messages.first().expect("a start event");
        assert_eq!(kind(first), "start", "first event: {first}");
        pid_of(first)
    }

    /// Asserts the canonical shape: one start first, one end last, OK
    /// end-of-stream; returns the end event.
    pub fn assert_complete(&self) -> &Value {
        let kinds = self.kinds();
        assert_eq!(kinds.first().map(String::as_str), Some("start"), "{self:?}");
        assert_eq!(kinds.last().map(String::as_str), Some("end"), "{self:?}");
        assert_eq!(kinds.iter().filter(|k| *k == "start").count(), 1);
        assert_eq!(kinds.iter().filter(|k| *k == "end").count(), 1);
        assert_eq!(self.end_stream, json!({}), "stream must end OK");
        self.end().expect("end")
    }
}

/// The pid in a `start` event message.
pub fn pid_of(start: &Value) -> u32 {
    u32::try_from(
        start["event"]["start"]["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("not a start event: {start}")),
    )
    .unwrap()
}

impl Frames {
    /// The next raw envelope `(flags, payload)`, or `None` at end of body.
    pub async fn next_raw(&mut self) -> Option<(u8, Bytes)> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
                if self.buf.len() >= 5 + len {
                    let flags = self.buf[0];
                    self.buf.advance(5);
                    return Some((flags, self.buf.split_to(len).freeze()));
                }
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => panic!("stream body error: {e}"),
                None => return None,
            }
        }
    }

    /// The next JSON envelope, failing the test after `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Option<Frame> {
        tokio::time::timeout(limit, self.next())
            .await
            .unwrap_or_else(|_| panic!("no stream frame within {limit:?}"))
    }

    /// The next stream message; fails on end-of-stream or after [`STEP`].
    pub async fn message(&mut self) -> Value {
        let frame = self
            .next_within(STEP)
            .await
            .expect("stream ended without end-of-stream frame");
        assert_eq!(frame.flags & 0x02, 0, "stream ended early: {}", frame.json);
        frame.json
    }

    /// Reads the first message, which must be `start`, and returns its pid.
    pub async fn start_pid(&mut self) -> u32 {
        let first = self.message().await;
        assert_eq!(kind(&first), "start", "first event: {first}");
        pid_of(&first)
    }

    /// Reads messages until the concatenated output `field` contains
    /// `needle`; returns the messages read. Fails after [`STEP`] or if the
    /// stream ends first.
    pub async fn until_output(&mut self, field: &str, needle: &[u8]) -> Vec<Value> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {needle:?} on {field} within {STEP:?}; got {:?}",
                        String::from_utf8_lossy(&out)
                    )
                })
                .expect("stream ended without end-of-stream frame");
            assert_eq!(
                frame.flags & 0x02,
                0,
                "stream ended before {needle:?} appeared: {}",
                frame.json
            );
            if let Some(b) = frame.json["event"]["data"][field].as_str() {
                out.extend(unb64(b));
            }
            seen.push(frame.json);
            if out.windows(needle.len()).any(|w| w == needle) {
                return seen;
            }
        }
    }
}

impl Envd {
    /// Runs `Start` with extra headers and collects the whole stream.
    pub async fn run_with(&self, start: Value, headers: &[(&str, &str)]) -> Collected {
        self.stream(START, start, headers)
            .await
            .collect(Duration::from_secs(30))
            .await
    }

    /// `List` as the array of process infos (empty when none).
    pub async fn list(&self) -> Vec<Value> {
        let (status, body) = self.unary(LIST, json!({})).await;
        assert_eq!(status, 200, "List failed: {body}");
        body.get("processes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// Pids of live processes.
    pub async fn live_pids(&self) -> Vec<u32> {
        self.list()
            .await
            .iter()
            .map(|p| u32::try_from(p["pid"].as_u64().unwrap()).unwrap())
            .collect()
    }

    /// A unary call that must succeed with `{}`.
    pub async fn ok(&self, method: &str, body: Value) {
        let (status, reply) = self.unary(method, body.clone()).await;
        assert_eq!((status, &reply), (200, &json!({})), "{method} {body}");
    }

    /// SIGKILLs `pid` if it still runs (envd's children outlive envd, so a
    /// test cleans up what it leaves running).
    pub async fn kill(&self, pid: u32) {
        let (status, body) = self
            .unary(
                SEND_SIGNAL,
                json!({"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}),
            )
            .await;
        assert!(status == 200 || status == 404, "kill {pid}: {body}");
    }

    /// A unary call that must fail; returns `(http status, code, message)`.
    pub async fn fails(
        &self,
        method: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let (status, reply) = self.unary_with(method, body, headers).await;
        let (code, message) = connect_error(&reply);
        (status, code, message)
    }

    /// Opens a server-streaming call with the binary codec.
    pub async fn stream_proto(
        &self,
        method: &str,
        message: &[u8],
        headers: &[(&str, &str)],
    ) -> Frames {
        let mut req = self
            .http
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/connect+proto")
            .body(envelope(0, message));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), 200, "streams answer 200");
        assert_eq!(
            resp.headers()["content-type"],
            "application/connect+proto",
            "binary request, binary response"
        );
        Frames {
            body: Box::pin(resp.bytes_stream()),
            buf: bytes::BytesMut::new(),
        }
    }

    /// A unary call with the binary codec: `(HTTP status, body)`.
    pub async fn unary_proto(&self, method: &str, message: Vec<u8>) -> (u16, Bytes) {
        let resp = self
            .http
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/proto")
            .body(message)
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.expect("body"))
    }

    /// Opens a client-streaming JSON call whose request body stays open
    /// until [`ClientStream::close`].
    pub fn client_stream(&self, method: &str, headers: &[(&str, &str)]) -> ClientStream {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((Ok::<_, std::convert::Infallible>(chunk), rx))
        }));
        // A connection of its own: when envd answers before reading the
        // whole request (an error mid-stream) it closes the connection, which
        // must not be handed back to the shared pool.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let mut req = client
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/connect+json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = tokio::spawn(async move {
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            let frames = Frames {
                body: Box::pin(resp.bytes_stream()),
                buf: bytes::BytesMut::new(),
            };
            (status, frames.collect(STEP).await)
        });
        ClientStream {
            tx: Some(tx),
            response,
        }
    }
}

/// A client-streaming call in progress.
pub struct ClientStream {
    tx: Option<tokio::sync::mpsc::UnboundedSender<Bytes>>,
    response: tokio::task::JoinHandle<(u16, Collected)>,
}

impl ClientStream {
    /// Sends one JSON message.
    pub fn send(&self, message: &Value) {
        self.tx
            .as_ref()
            .expect("stream still open")
            .send(Bytes::from(envelope(0, message.to_string().as_bytes())))
            .expect("request body still being read");
    }

    /// Half-closes the request and returns `(HTTP status, response)`.
    pub async fn close(mut self) -> (u16, Collected) {
        self.tx.take();
        self.response().await
    }

    /// Waits for the response without closing the request body.
    pub async fn response(self) -> (u16, Collected) {
        tokio::time::timeout(STEP, self.response)
            .await
            .expect("client stream answered in time")
            .expect("response task")
    }
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `limit`.
pub async fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Fields of `/proc/<pid>/stat`: `(state, ppid)`, or `None` once gone.
pub fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// What each of `pid`'s descriptors points at (`pipe:[…]`, `socket:[…]`,
/// `anon_inode:inotify`, a path), from `/proc/<pid>/fd`.
pub fn fd_targets(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the fd table")
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .collect()
}

/// Every process whose parent is `ppid`: `(pid, state, comm)`.
pub fn children_of(ppid: u32) -> Vec<(u32, char, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some((state, parent)) = proc_state(pid)
            && parent == ppid
        {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            out.push((pid, state, comm.trim().to_owned()));
        }
    }
    out
}

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

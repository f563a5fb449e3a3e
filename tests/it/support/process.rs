//! `process.Process` calls and what their event streams say: method
//! paths, request builders, output and event kinds, pids, and streams read
//! step by step up to some output.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::frames::{Collected, END_STREAM, Frames};
use super::{Envd, STEP};

/// Method paths.
pub const START: &str = "process.Process/Start";
pub const CONNECT: &str = "process.Process/Connect";
pub const LIST: &str = "process.Process/List";
pub const UPDATE: &str = "process.Process/Update";
pub const SEND_INPUT: &str = "process.Process/SendInput";
pub const STREAM_INPUT: &str = "process.Process/StreamInput";
pub const SEND_SIGNAL: &str = "process.Process/SendSignal";
pub const CLOSE_STDIN: &str = "process.Process/CloseStdin";

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

/// `{"process":{"cmd":cmd,"args":args},"stdin":false}`
pub fn start_req(cmd: &str, args: &[&str]) -> Value {
    json!({"process": {"cmd": cmd, "args": args}, "stdin": false})
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
                frame.flags & END_STREAM,
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
    /// Runs `Start` and collects the whole stream (messages, then the end-of-stream JSON).
    pub async fn run(&self, start: Value) -> Collected {
        self.run_with(start, &[]).await
    }

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
}

//! Helpers for the `filesystem.Filesystem` end-to-end tests: unary calls
//! that must succeed or fail, WatchDir streams read event by event,
//! inotify descriptor counts and RFC 3339 parsing.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::connect::connect_error;
use super::frames::Frames;
use super::{Envd, STEP};

/// Method paths.
pub const STAT: &str = "filesystem.Filesystem/Stat";
pub const MAKE_DIR: &str = "filesystem.Filesystem/MakeDir";
pub const MOVE: &str = "filesystem.Filesystem/Move";
pub const LIST_DIR: &str = "filesystem.Filesystem/ListDir";
pub const REMOVE: &str = "filesystem.Filesystem/Remove";
pub const WATCH_DIR: &str = "filesystem.Filesystem/WatchDir";
pub const CREATE_WATCHER: &str = "filesystem.Filesystem/CreateWatcher";
pub const GET_WATCHER_EVENTS: &str = "filesystem.Filesystem/GetWatcherEvents";
pub const REMOVE_WATCHER: &str = "filesystem.Filesystem/RemoveWatcher";

/// A fresh directory under `/tmp`, removed on drop.
pub fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("envd-fs-test-")
        .tempdir_in("/tmp")
        .expect("temp dir under /tmp")
}

impl Envd {
    /// A unary call that must answer 200; returns the body.
    pub async fn call(&self, method: &str, body: Value) -> Value {
        self.call_with(method, body, &[]).await
    }

    /// [`Envd::call`] with extra headers.
    pub async fn call_with(&self, method: &str, body: Value, headers: &[(&str, &str)]) -> Value {
        let (status, reply) = self.unary_with(method, body.clone(), headers).await;
        assert_eq!(status, 200, "{method} {body} failed: {reply}");
        reply
    }

    /// `Stat` of `path`: its entry.
    pub async fn stat(&self, path: &str) -> Value {
        self.call(STAT, serde_json::json!({ "path": path })).await["entry"].clone()
    }

    /// `ListDir` of `path` to `depth`: its entries.
    pub async fn list_dir(&self, path: &str, depth: u32) -> Vec<Value> {
        let reply = self
            .call(
                LIST_DIR,
                serde_json::json!({ "path": path, "depth": depth }),
            )
            .await;
        reply["entries"].as_array().cloned().unwrap_or_default()
    }

    /// Opens `WatchDir` and reads its first message, which must be `start`.
    pub async fn watch(&self, request: Value, headers: &[(&str, &str)]) -> Watch {
        let mut frames = self.stream(WATCH_DIR, request, headers).await;
        let first = frames
            .next_within(STEP)
            .await
            .expect("WatchDir stream ended at once");
        assert_eq!(first.flags & 0x02, 0, "WatchDir failed: {}", first.json);
        assert_eq!(
            first.json,
            serde_json::json!({"start": {}}),
            "first message"
        );
        Watch { frames }
    }

    /// `inotify` descriptors envd holds open.
    pub fn inotify_fds(&self) -> usize {
        super::procfs::fd_targets(self.pid())
            .iter()
            .filter(|target| *target == "anon_inode:inotify")
            .count()
    }
}

/// An open WatchDir stream, past its `start` message.
pub struct Watch {
    /// The remaining frames.
    pub frames: Frames,
}

impl Watch {
    /// The next message (keepalives included); fails after `limit` or at
    /// the end of the stream.
    pub async fn message_within(&mut self, limit: Duration) -> Value {
        let frame = self
            .frames
            .next_within(limit)
            .await
            .expect("stream ended without end-of-stream frame");
        assert_eq!(frame.flags & 0x02, 0, "stream ended: {}", frame.json);
        frame.json
    }

    /// The next filesystem event (keepalives skipped), within [`STEP`].
    pub async fn event(&mut self) -> Value {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.message_within(left).await;
            if let Some(event) = message.get("filesystem") {
                return event.clone();
            }
            assert!(message.get("keepalive").is_some(), "unexpected {message}");
        }
    }

    /// `(name, type without EVENT_TYPE_)` of the next filesystem event.
    pub async fn next(&mut self) -> (String, String) {
        name_and_type(&self.event().await)
    }

    /// Reads events until one is `(name, kind)`; returns all read, that one
    /// last. Fails after [`STEP`].
    pub async fn until(&mut self, name: &str, kind: &str) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        loop {
            let event = self.next().await;
            let done = event.0 == name && event.1 == kind;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// The end-of-stream frame's `(code, message)`, within `limit`; any
    /// messages before it are returned too.
    pub async fn error_within(&mut self, limit: Duration) -> (Vec<Value>, (String, String)) {
        let deadline = Instant::now() + limit;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self
                .frames
                .next_within(left)
                .await
                .expect("stream ended without end-of-stream frame");
            if frame.flags & 0x02 != 0 {
                return (before, connect_error(&frame.json));
            }
            before.push(frame.json);
        }
    }
}

/// `(name, type without EVENT_TYPE_)` of a `FilesystemEvent` JSON.
pub fn name_and_type(event: &Value) -> (String, String) {
    let name = event["name"].as_str().unwrap_or_default().to_owned();
    let kind = event["type"]
        .as_str()
        .unwrap_or_else(|| panic!("event without type: {event}"))
        .trim_start_matches("EVENT_TYPE_")
        .to_owned();
    (name, kind)
}

/// `(name, type)` pairs for comparisons.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect()
}

/// Parses an RFC 3339 timestamp in UTC (`Z` or `+00:00`) into seconds and
/// nanoseconds since the epoch.
pub fn parse_utc(text: &str) -> (i64, u32) {
    let body = text
        .strip_suffix('Z')
        .unwrap_or_else(|| panic!("{text:?} is not RFC 3339 with a Z suffix"));
    let (date, time) = body.split_once('T').expect("date T time");
    let num = |s: &str| -> i64 {
        s.parse()
            .unwrap_or_else(|_| panic!("bad number in {text:?}"))
    };
    let d: Vec<i64> = date.split('-').map(num).collect();
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<i64> = clock.split(':').map(num).collect();
    assert!(
        d.len() == 3 && t.len() == 3 && fraction.len() <= 9,
        "{text:?}"
    );
    let nanos = if fraction.is_empty() {
        0
    } else {
        u32::try_from(num(fraction) * 10_i64.pow(9 - fraction.len() as u32)).unwrap()
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2], nanos)
}

/// Polls until envd holds `want` inotify descriptors; fails after [`STEP`].
pub async fn inotify_fds_become(envd: &Envd, want: usize) {
    let deadline = Instant::now() + STEP;
    loop {
        let now = envd.inotify_fds();
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "envd still holds {now} inotify fds, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

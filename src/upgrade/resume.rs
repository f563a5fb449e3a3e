//! The new side: read the handover the previous image left in a memfd and
//! rebuild the state from it.

use std::io::{self, Read, Seek};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use envd_proto::envd::handover::v1 as pb;

use super::{REPLAY_WINDOW, SCHEMA, wire};
use crate::fs::watch::Watcher;
use crate::process::handover::{EndedProcess, HandedIo, LiveProcess, Produced, Snapshot};
use crate::process::{ProcessInfo, PtySize};
use crate::state::AppState;
use crate::sys;

/// Why the handover could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The memfd could not be read.
    #[error("cannot read the handover state: {0}")]
    Read(io::Error),
    /// It is not a `Handover` message.
    #[error("cannot decode the handover state: {0}")]
    Decode(prost::DecodeError),
    /// A newer writer.
    #[error("handover schema {0} is newer than {SCHEMA}")]
    NewerSchema(u32),
    /// The listener fd is unusable.
    #[error("cannot take over the listening socket: {0}")]
    Listener(io::Error),
}

/// What the last resume carried (the `/init` header `X-Envd-Handover`).
#[derive(Debug, Clone)]
pub struct Resumed {
    /// The version that handed over.
    pub from: String,
    /// Its schema.
    pub schema: u32,
    /// Live processes handed over / failed to adopt.
    pub processes: usize,
    /// Processes that could not be adopted.
    pub processes_failed: usize,
    /// Ended processes kept.
    pub ended: usize,
    /// Watchers handed over.
    pub watchers: usize,
    /// Watchers that could not be re-armed.
    pub watchers_failed: usize,
    /// When this envd resumed.
    pub resumed_at: DateTime<Utc>,
    pub(super) initialized: bool,
}

impl Resumed {
    pub(super) fn to_json(&self) -> String {
        serde_json::json!({
            "from": self.from,
            "schema": self.schema,
            "processes": self.processes,
            "processesFailed": self.processes_failed,
            "ended": self.ended,
            "watchers": self.watchers,
            "watchersFailed": self.watchers_failed,
            "resumedAt": self.resumed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        })
        .to_string()
    }
}

/// A decoded handover (its listener already taken).
#[derive(Debug)]
pub struct Loaded {
    handover: pb::Handover,
}

/// Reads the handover from inherited fd `fd` and takes the listening
/// socket the previous image served on.
pub fn load(fd: i32) -> Result<(std::net::TcpListener, Loaded), Error> {
    let mut file = std::fs::File::from(sys::take_inherited(fd).map_err(Error::Read)?);
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    file.rewind().map_err(Error::Read)?;
    file.read_to_end(&mut bytes).map_err(Error::Read)?;
    let handover: pb::Handover = prost::Message::decode(&bytes[..]).map_err(Error::Decode)?;
    if handover.schema > SCHEMA {
        return Err(Error::NewerSchema(handover.schema));
    }
    let listener = sys::take_inherited(handover.listener_fd).map_err(Error::Listener)?;
    let listener = std::net::TcpListener::from(listener);
    listener.set_nonblocking(true).map_err(Error::Listener)?;
    Ok((listener, Loaded { handover }))
}

/// Restores the `/init` state, the processes and the watchers into
/// `state`. Call before the reaper first runs.
pub async fn apply(loaded: Loaded, state: &AppState) -> Resumed {
    let handover = loaded.handover;
    let init = handover.init.unwrap_or_default();
    match init.access_token {
        Some(token) => state.token.set(token),
        None => state.token.clear(),
    }
    state.defaults.update(|d| {
        d.user = init.default_user;
        d.workdir = init.default_workdir.map(PathBuf::from);
        d.env_vars = init.env_vars.into_iter().collect();
    });
    *state.host.init.lock().await = init
        .last_timestamp_unix_nanos
        .map(DateTime::from_timestamp_nanos);

    let mut snapshot = Snapshot::default();
    let mut processes_failed = 0;
    let processes = handover.processes.len();
    for live in handover.processes {
        let pid = live.pid;
        match live_from(live) {
            Ok(live) => snapshot.live.push(live),
            Err(e) => {
                tracing::error!(pid, error = %e, "cannot take over a handed-over process");
                processes_failed += 1;
            }
        }
    }
    let ended = handover.ended.len();
    snapshot.ended = handover
        .ended
        .into_iter()
        .map(|e| EndedProcess {
            info: ProcessInfo {
                pid: e.pid,
                tag: e.tag,
                config: wire::config_from(e.config),
            },
            end: wire::end_from(e.end.unwrap_or_default()),
            retention_left: std::time::Duration::from_millis(e.retention_left_ms),
        })
        .collect();
    processes_failed += state.processes.adopt(snapshot, REPLAY_WINDOW);

    let watchers = handover.watchers.len();
    let mut watchers_failed = 0;
    for watcher in handover.watchers {
        let handed = wire::watcher_from(watcher);
        let dir = handed.dir.clone();
        let reopened = tokio::task::spawn_blocking(move || {
            Watcher::reopen(&handed.dir, handed.options, handed.events).map(|w| (handed.id, w))
        })
        .await;
        match reopened {
            Ok(Ok((id, watcher))) => state.watchers.adopt(id, watcher),
            Ok(Err(e)) => {
                tracing::error!(dir = %dir.display(), error = %e, "cannot re-arm a handed-over watcher");
                watchers_failed += 1;
            }
            Err(e) => {
                tracing::error!(error = %e, "watcher re-arm task failed");
                watchers_failed += 1;
            }
        }
    }
    let resumed = Resumed {
        from: handover.from_version,
        schema: handover.schema,
        processes,
        processes_failed,
        ended,
        watchers,
        watchers_failed,
        resumed_at: DateTime::<Utc>::from(std::time::SystemTime::now()),
        initialized: init.initialized,
    };
    tracing::info!(handover = %resumed.to_json(), "resumed from a live upgrade");
    resumed
}

fn live_from(live: pb::LiveProcess) -> io::Result<LiveProcess> {
    let take = |fd: i32| -> io::Result<OwnedFd> { sys::take_inherited(fd) };
    let io = match live.io {
        Some(pb::live_process::Io::Pipes(p)) => HandedIo::Pipes {
            stdin: p.stdin_fd.map(take).transpose()?,
            stdout: take(p.stdout_fd)?,
            stderr: take(p.stderr_fd)?,
        },
        Some(pb::live_process::Io::Terminal(t)) => HandedIo::Terminal {
            master: take(t.master_fd)?,
            size: PtySize::new(t.cols, t.rows).unwrap_or(PtySize { cols: 80, rows: 24 }),
        },
        None => return Err(io::Error::other("no streams")),
    };
    Ok(LiveProcess {
        info: ProcessInfo {
            pid: live.pid,
            tag: live.tag,
            config: wire::config_from(live.config),
        },
        io,
        deadline_left: live.deadline_left_ms.map(std::time::Duration::from_millis),
        exit: live.exit.map(wire::end_from),
        replay: live
            .replay
            .into_iter()
            .filter_map(wire::output_from)
            .collect(),
        produced: Produced {
            pty: live.pty_produced,
            stdout: live.stdout_produced,
            stderr: live.stderr_produced,
        },
        last_applied_seq: live.last_applied_seq,
    })
}

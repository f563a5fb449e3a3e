//! The old side: the state as a `Handover` message in a memfd, with every
//! fd it names owned here until the exec.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use chrono::{DateTime, Utc};
use envd_proto::envd::handover::v1 as pb;

use super::{SCHEMA, wire};
use crate::config::VERSION;
use crate::process::handover::{Frozen, HandedIo};
use crate::state::AppState;

/// The captured state, ready for the exec.
#[derive(Debug)]
pub(super) struct Captured {
    state: OwnedFd,
    fds: Vec<OwnedFd>,
}

impl Captured {
    /// The number of the memfd holding the state.
    pub(super) fn state_fd_number(&self) -> i32 {
        self.state.as_raw_fd()
    }

    /// Every fd the exec must keep.
    pub(super) fn fds(&self) -> Vec<BorrowedFd<'_>> {
        std::iter::once(self.state.as_fd())
            .chain(self.fds.iter().map(AsFd::as_fd))
            .collect()
    }
}

pub(super) async fn capture(
    state: &AppState,
    last_init: Option<DateTime<Utc>>,
    frozen: &Frozen<'_>,
) -> io::Result<Captured> {
    let mut fds = Vec::new();
    let mut number = |fd: OwnedFd| {
        let n = fd.as_raw_fd();
        fds.push(fd);
        n
    };
    let listener_fd = number(state.upgrade.listener.try_clone()?);
    let snapshot = state.processes.export(frozen).await?;
    let mut processes = Vec::new();
    for live in snapshot.live {
        let io = match live.io {
            HandedIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => pb::live_process::Io::Pipes(pb::Pipes {
                stdin_fd: stdin.map(&mut number),
                stdout_fd: number(stdout),
                stderr_fd: number(stderr),
            }),
            HandedIo::Terminal { master, size } => pb::live_process::Io::Terminal(pb::Terminal {
                master_fd: number(master),
                cols: size.cols.into(),
                rows: size.rows.into(),
            }),
        };
        processes.push(pb::LiveProcess {
            pid: live.info.pid,
            tag: live.info.tag.clone(),
            config: Some(wire::config_to(&live.info.config)),
            io: Some(io),
            deadline_left_ms: live.deadline_left.map(wire::millis),
            exit: live.exit.as_ref().map(wire::end_to),
            replay: live.replay.iter().map(wire::output_to).collect(),
            pty_produced: live.produced.pty,
            stdout_produced: live.produced.stdout,
            stderr_produced: live.produced.stderr,
            last_applied_seq: live.last_applied_seq,
        });
    }
    let ended = snapshot
        .ended
        .iter()
        .map(|e| pb::EndedProcess {
            pid: e.info.pid,
            tag: e.info.tag.clone(),
            config: Some(wire::config_to(&e.info.config)),
            end: Some(wire::end_to(&e.end)),
            retention_left_ms: wire::millis(e.retention_left),
        })
        .collect();
    let watchers = state
        .watchers
        .export()
        .iter()
        .map(wire::watcher_to)
        .collect();
    let defaults = state.defaults.snapshot();
    let handover = pb::Handover {
        schema: SCHEMA,
        from_version: VERSION.to_owned(),
        listener_fd,
        init: Some(pb::InitState {
            initialized: state.upgrade.is_initialized(),
            access_token: state.token.with(|t| t.map(str::to_owned)),
            default_user: defaults.user,
            default_workdir: defaults.workdir.map(|w| w.to_string_lossy().into_owned()),
            env_vars: defaults.env_vars.into_iter().collect(),
            last_timestamp_unix_nanos: last_init.and_then(|t| t.timestamp_nanos_opt()),
        }),
        processes,
        ended,
        watchers,
    };
    let bytes = zeroize::Zeroizing::new(prost::Message::encode_to_vec(&handover));
    let memfd = crate::sys::memfd("envd-handover")?;
    let mut file = std::fs::File::from(memfd);
    file.write_all(&bytes)?;
    Ok(Captured {
        state: OwnedFd::from(file),
        fds,
    })
}

//! Domain <-> `envd.handover.v1` conversions.

use std::path::PathBuf;
use std::time::Duration;

use envd_proto::envd::handover::v1 as pb;

use crate::fs::watch::{Event, HandedWatcher, Op, WatchOptions};
use crate::process::{End, Output, ProcessConfig};

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn config_to(c: &ProcessConfig) -> pb::ProcessConfig {
    pb::ProcessConfig {
        cmd: c.cmd.clone(),
        args: c.args.clone(),
        envs: c.envs.clone().into_iter().collect(),
        cwd: c.cwd.clone(),
    }
}

pub(super) fn config_from(c: Option<pb::ProcessConfig>) -> ProcessConfig {
    let c = c.unwrap_or_default();
    ProcessConfig {
        cmd: c.cmd,
        args: c.args,
        envs: c.envs.into_iter().collect(),
        cwd: c.cwd,
    }
}

pub(super) fn end_to(e: &End) -> pb::End {
    pb::End {
        exit_code: e.exit_code,
        exited: e.exited,
        status: e.status.clone(),
        error: e.error.clone(),
    }
}

pub(super) fn end_from(e: pb::End) -> End {
    End {
        exit_code: e.exit_code,
        exited: e.exited,
        status: e.status,
        error: e.error,
    }
}

pub(super) fn output_to(o: &Output) -> pb::OutputChunk {
    use pb::output_chunk::Output as W;
    pb::OutputChunk {
        output: Some(match o {
            Output::Stdout(b) => W::Stdout(b.clone()),
            Output::Stderr(b) => W::Stderr(b.clone()),
            Output::Pty(b) => W::Pty(b.clone()),
        }),
    }
}

pub(super) fn output_from(o: pb::OutputChunk) -> Option<Output> {
    use pb::output_chunk::Output as W;
    Some(match o.output? {
        W::Stdout(b) => Output::Stdout(b),
        W::Stderr(b) => Output::Stderr(b),
        W::Pty(b) => Output::Pty(b),
    })
}

pub(super) fn watcher_to(w: &HandedWatcher) -> pb::Watcher {
    pb::Watcher {
        id: w.id.clone(),
        path: w.dir.to_string_lossy().into_owned(),
        recursive: w.options.recursive,
        include_entry: w.options.include_entry,
        allow_network_mounts: w.options.allow_network_mounts,
        events: w
            .events
            .iter()
            .map(|e| pb::WatchEvent {
                name: e.name.clone(),
                op: op_to(e.op).into(),
            })
            .collect(),
    }
}

/// The watcher, with entries re-read from disk for events that carry one
/// (the handover keeps names and ops only).
pub(super) fn watcher_from(w: pb::Watcher) -> HandedWatcher {
    let dir = PathBuf::from(&w.path);
    let options = WatchOptions {
        recursive: w.recursive,
        include_entry: w.include_entry,
        allow_network_mounts: w.allow_network_mounts,
    };
    let mut names = crate::fs::entry::Names::default();
    let events = w
        .events
        .into_iter()
        .filter_map(|e| {
            let op = op_from(e.op())?;
            let entry = (options.include_entry && matches!(op, Op::Create | Op::Write | Op::Chmod))
                .then(|| crate::fs::entry::entry_info(&dir.join(&e.name), &mut names).ok())
                .flatten();
            Some(Event {
                name: e.name,
                op,
                entry,
            })
        })
        .collect();
    HandedWatcher {
        id: w.id,
        dir,
        options,
        events,
    }
}

fn op_to(op: Op) -> pb::WatchOp {
    match op {
        Op::Create => pb::WatchOp::Create,
        Op::Write => pb::WatchOp::Write,
        Op::Remove => pb::WatchOp::Remove,
        Op::Rename => pb::WatchOp::Rename,
        Op::Chmod => pb::WatchOp::Chmod,
    }
}

fn op_from(op: pb::WatchOp) -> Option<Op> {
    Some(match op {
        pb::WatchOp::Unspecified => return None,
        pb::WatchOp::Create => Op::Create,
        pb::WatchOp::Write => Op::Write,
        pb::WatchOp::Remove => Op::Remove,
        pb::WatchOp::Rename => Op::Rename,
        pb::WatchOp::Chmod => Op::Chmod,
    })
}

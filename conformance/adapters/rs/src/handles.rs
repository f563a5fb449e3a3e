//! Live streams behind handle ids: each one's events are collected by a
//! task from the moment it attaches, so later ops can wait on them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use envd_sdk::{
    Code, CommandEvent, CommandEvents, Error, ExitStatus, FsEvent, OutputStream, ProcessRef,
    PtyInput, TerminalEvent, TerminalInput, TerminalSession, WatchStream,
};
use futures::StreamExt;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::Failure;

/// What a stream has delivered so far.
#[derive(Default)]
pub(crate) struct Collected {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) events: Vec<FsEvent>,
    pub(crate) exit: Option<ExitStatus>,
    /// The stream failed; kept so waits report the SDK's typed error.
    pub(crate) error: Option<Error>,
}

/// Shared, notifying collection buffer.
#[derive(Default, Clone)]
pub(crate) struct Sink {
    inner: Arc<(Mutex<Collected>, Notify)>,
}

impl Sink {
    fn update(&self, f: impl FnOnce(&mut Collected)) {
        f(&mut self.inner.0.lock().unwrap_or_else(PoisonError::into_inner));
        self.inner.1.notify_waiters();
    }

    /// Waits until `done` holds (it sees the collection), the stream ends
    /// without it, or `timeout` passes.
    pub(crate) async fn wait_for<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&Collected) -> Option<T>,
    ) -> Result<T, Failure> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let collected = self.inner.0.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(value) = done(&collected) {
                    return Ok(value);
                }
                if let Some(error) = &collected.error {
                    return Err(Failure::from(error));
                }
                if collected.exit.is_some() {
                    return Err(Failure::new(
                        Code::FailedPrecondition,
                        format!("the stream ended before {what}"),
                    ));
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Failure::new(
                    Code::DeadlineExceeded,
                    format!("timed out after {timeout:?} waiting for {what}"),
                ));
            }
        }
    }
}

/// What a handle controls.
pub(crate) enum Control {
    Process(ProcessRef),
    Pty(PtyInput),
    Terminal(TerminalControl),
    Watch,
}

/// A terminal session's writer, its pid, and a way to make its collector
/// drop the session's output stream.
#[derive(Clone)]
pub(crate) struct TerminalControl {
    pub(crate) input: TerminalInput,
    pub(crate) pid: u32,
    drop_stream: mpsc::UnboundedSender<()>,
}

impl TerminalControl {
    /// Asks the collector to call `TerminalSession::reconnect`.
    pub(crate) fn drop_stream(&self) -> Result<(), Failure> {
        self.drop_stream
            .send(())
            .map_err(|_| Failure::new(Code::FailedPrecondition, "the terminal session has ended"))
    }
}

pub(crate) struct Handle {
    pub(crate) control: Control,
    pub(crate) sink: Sink,
    task: JoinHandle<()>,
}

#[derive(Default)]
pub(crate) struct Handles {
    next: u64,
    live: HashMap<String, Handle>,
}

impl Handles {
    fn insert(&mut self, control: Control, sink: Sink, task: JoinHandle<()>) -> String {
        self.next += 1;
        let id = format!("h{}", self.next);
        self.live.insert(
            id.clone(),
            Handle {
                control,
                sink,
                task,
            },
        );
        id
    }

    /// Collects a process (or PTY) stream.
    pub(crate) fn add_process(&mut self, control: Control, mut events: CommandEvents) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    Ok(CommandEvent::Stdout(b) | CommandEvent::Pty(b)) => {
                        writer.update(|c| c.stdout.extend_from_slice(&b));
                    }
                    Ok(CommandEvent::Stderr(b)) => {
                        writer.update(|c| c.stderr.extend_from_slice(&b))
                    }
                    Ok(CommandEvent::Exit(exit)) => writer.update(|c| c.exit = Some(exit)),
                    Ok(_) => {}
                    Err(error) => writer.update(|c| c.error = Some(error)),
                }
            }
        });
        self.insert(control, sink, task)
    }

    /// Collects a terminal session's output; the task owns the session.
    pub(crate) fn add_terminal(&mut self, mut session: TerminalSession) -> String {
        let (drop_stream, mut drops) = mpsc::unbounded_channel();
        let control = TerminalControl {
            input: session.input(),
            pid: session.pid(),
            drop_stream,
        };
        let sink = Sink::default();
        let writer = sink.clone();
        let task = tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    Some(()) = drops.recv() => {
                        session.reconnect();
                        continue;
                    }
                    event = session.next_output() => event,
                };
                match event {
                    Some(Ok(TerminalEvent::Output { stream, data, .. })) => {
                        writer.update(|c| match stream {
                            OutputStream::Stderr => c.stderr.extend_from_slice(&data),
                            _ => c.stdout.extend_from_slice(&data),
                        });
                    }
                    Some(Ok(TerminalEvent::Exit(exit))) => writer.update(|c| c.exit = Some(exit)),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => writer.update(|c| c.error = Some(error)),
                    None => return,
                }
            }
        });
        self.insert(Control::Terminal(control), sink, task)
    }

    /// Collects a watch stream.
    pub(crate) fn add_watch(&mut self, mut events: WatchStream) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => writer.update(|c| c.events.push(event)),
                    Err(error) => {
                        writer.update(|c| c.error = Some(error));
                        return;
                    }
                }
            }
        });
        self.insert(Control::Watch, sink, task)
    }

    pub(crate) fn get(&self, id: &str) -> Result<&Handle, Failure> {
        self.live
            .get(id)
            .ok_or_else(|| Failure::bad_args(format!("unknown handle {id:?}")))
    }

    /// Drops the stream behind `id` (the process, if any, keeps running).
    pub(crate) fn remove(&mut self, id: &str) -> Result<(), Failure> {
        let handle = self
            .live
            .remove(id)
            .ok_or_else(|| Failure::bad_args(format!("unknown handle {id:?}")))?;
        handle.task.abort();
        Ok(())
    }

    pub(crate) fn stop_all(&mut self) {
        for (_, handle) in self.live.drain() {
            handle.task.abort();
        }
    }
}

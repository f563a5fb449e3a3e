//! Interactive terminals. Input, resize and kill go through one ordered
//! queue: keystrokes queued while an input RPC is in flight are merged into
//! the next one, and a resize or kill is never dropped or reordered relative
//! to the input around it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use envd_proto::process as pb;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::client::Client;
use crate::commands::{self, CommandEvent, CommandEvents, ExitStatus, ProcessRef};
use crate::error::{Code, Error, Result};

/// How to start a terminal.
#[derive(Debug, Clone)]
pub struct PtyOptions {
    cols: u16,
    rows: u16,
    cmd: String,
    args: Vec<String>,
    envs: HashMap<String, String>,
    cwd: Option<String>,
    user: Option<String>,
    timeout: Option<Duration>,
}

impl PtyOptions {
    /// A `cols` x `rows` terminal running `/bin/bash -i -l` with
    /// `TERM=xterm-256color`, `LANG=C.UTF-8`, `LC_ALL=C.UTF-8`.
    pub fn new(cols: u16, rows: u16) -> Self {
        let envs = [
            ("TERM", "xterm-256color"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C.UTF-8"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self {
            cols,
            rows,
            cmd: "/bin/bash".to_owned(),
            args: vec!["-i".to_owned(), "-l".to_owned()],
            envs,
            cwd: None,
            user: None,
            timeout: None,
        }
    }

    launch_setters!(command, env, cwd, user);

    /// Kills the terminal after `timeout`. Default: none.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// The PTY API; get it from [`Client::pty`].
#[derive(Debug, Clone)]
pub struct Pty {
    client: Client,
}

impl Pty {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Starts a terminal and returns once envd reports its pid.
    pub async fn create(&self, options: PtyOptions) -> Result<PtySession> {
        let client = self.client.acting_as(options.user);
        let request = pb::StartRequest {
            process: Some(pb::ProcessConfig {
                cmd: options.cmd,
                args: options.args,
                envs: options.envs,
                cwd: options.cwd,
            }),
            pty: Some(pb::Pty {
                size: Some(pb::pty::Size {
                    cols: options.cols.into(),
                    rows: options.rows.into(),
                }),
            }),
            tag: None,
            stdin: None,
        };
        let handle = commands::start(&client, request, options.timeout).await?;
        let pid = handle.pid();
        let process = handle.process();
        let input = PtyInput::spawn(move |op| {
            let process = process.clone();
            Box::pin(async move { apply(&process, op).await })
        });
        Ok(PtySession {
            pid,
            input,
            events: handle.into_events(),
        })
    }
}

async fn apply(process: &ProcessRef, op: Op) -> Result<()> {
    match op {
        Op::Input(data) => {
            process
                .send_input(pb::process_input::Input::Pty(data))
                .await
        }
        Op::Resize { cols, rows } => process.resize(cols.into(), rows.into()).await,
        Op::Kill => process.kill().await.map(drop),
    }
}

/// A running terminal from [`Pty::create`].
#[derive(Debug)]
pub struct PtySession {
    pid: u32,
    input: PtyInput,
    events: CommandEvents,
}

/// What a terminal printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PtyExit {
    /// Everything the terminal printed since [`PtySession::wait`] began
    /// collecting (output already taken from the event stream excluded).
    pub output: Vec<u8>,
    /// How the terminal's process ended.
    pub exit: ExitStatus,
}

impl PtySession {
    /// The terminal process's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A cloneable sender for input, resize and kill, for other tasks.
    pub fn input(&self) -> PtyInput {
        self.input.clone()
    }

    /// Queues keystrokes. See [`PtyInput::write`].
    pub fn write(&self, data: impl Into<Bytes>) -> Delivery {
        self.input.write(data)
    }

    /// Queues a resize. See [`PtyInput::resize`].
    pub fn resize(&self, cols: u16, rows: u16) -> Delivery {
        self.input.resize(cols, rows)
    }

    /// Queues a SIGKILL. See [`PtyInput::kill`].
    pub fn kill(&self) -> Delivery {
        self.input.kill()
    }

    /// The output stream: [`CommandEvent::Pty`] chunks, then one
    /// [`CommandEvent::Exit`].
    pub fn events(&mut self) -> &mut CommandEvents {
        &mut self.events
    }

    /// Gives up the session for its output stream (keep an [`input`](Self::input)
    /// first to go on writing).
    pub fn into_events(self) -> CommandEvents {
        self.events
    }

    /// Collects output until the terminal's process ends.
    pub async fn wait(self) -> Result<PtyExit> {
        let mut output = Vec::new();
        let mut events = self.events;
        while let Some(event) = events.next().await {
            match event? {
                CommandEvent::Pty(b) | CommandEvent::Stdout(b) | CommandEvent::Stderr(b) => {
                    output.extend_from_slice(&b);
                }
                CommandEvent::Exit(exit) => return Ok(PtyExit { output, exit }),
            }
        }
        Err(Error::protocol(
            "terminal stream ended without an end event",
        ))
    }
}

/// One queued terminal operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Input(Bytes),
    Resize { cols: u16, rows: u16 },
    Kill,
}

struct Queued {
    op: Op,
    done: oneshot::Sender<Result<()>>,
}

type Apply = Box<dyn Fn(Op) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// The ordered input queue of one terminal. Cloneable; the queue's worker
/// stops when every clone is dropped.
#[derive(Clone)]
pub struct PtyInput {
    queue: mpsc::UnboundedSender<Queued>,
}

impl std::fmt::Debug for PtyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyInput").finish_non_exhaustive()
    }
}

impl PtyInput {
    /// Starts the worker that applies queued operations one at a time.
    pub(crate) fn spawn<F>(apply: F) -> Self
    where
        F: Fn(Op) -> BoxFuture<'static, Result<()>> + Send + Sync + 'static,
    {
        let (queue, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_queue(receiver, Box::new(apply)));
        Self { queue }
    }

    fn push(&self, op: Op) -> Delivery {
        let (done, receiver) = oneshot::channel();
        // A send error means the worker is gone; the dropped `done` makes
        // the Delivery report it.
        let _ = self.queue.send(Queued { op, done });
        Delivery { receiver }
    }

    /// Queues keystrokes. Queued at call time, in call order; the returned
    /// [`Delivery`] resolves once envd has written them to the terminal.
    /// Inputs queued while another input RPC is in flight go out as one.
    pub fn write(&self, data: impl Into<Bytes>) -> Delivery {
        self.push(Op::Input(data.into()))
    }

    /// Queues a resize, ordered with the input around it.
    pub fn resize(&self, cols: u16, rows: u16) -> Delivery {
        self.push(Op::Resize { cols, rows })
    }

    /// Queues a SIGKILL of the terminal's process, after all input queued
    /// before it.
    pub fn kill(&self) -> Delivery {
        self.push(Op::Kill)
    }
}

/// Applies queued operations in order; merges runs of inputs that are
/// already queued when the previous operation finishes.
async fn run_queue(mut receiver: mpsc::UnboundedReceiver<Queued>, apply: Apply) {
    let mut held: Option<Queued> = None;
    loop {
        let first = match held.take() {
            Some(first) => first,
            None => match receiver.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let mut waiters = vec![first.done];
        let op = match first.op {
            Op::Input(data) => {
                let mut merged = BytesMut::from(&data[..]);
                while let Ok(next) = receiver.try_recv() {
                    match next.op {
                        Op::Input(more) => {
                            merged.extend_from_slice(&more);
                            waiters.push(next.done);
                        }
                        _ => {
                            held = Some(next);
                            break;
                        }
                    }
                }
                Op::Input(merged.freeze())
            }
            other => other,
        };
        let result = apply(op).await;
        for waiter in waiters {
            let _ = waiter.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(e.duplicate()),
            });
        }
    }
}

/// Resolves when a queued terminal operation has been applied by envd.
/// Dropping it does not cancel the operation.
#[derive(Debug)]
#[must_use = "the operation is queued either way; await this to learn whether it succeeded"]
pub struct Delivery {
    receiver: oneshot::Receiver<Result<()>>,
}

impl Future for Delivery {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                Err(Error::new(
                    Code::Canceled,
                    "terminal input queue stopped before the operation was applied",
                ))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A worker whose every apply takes `delay`, recording what it applied.
    fn recording(delay: Duration) -> (PtyInput, Arc<Mutex<Vec<Op>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let input = PtyInput::spawn(move |op| {
            let sink = Arc::clone(&sink);
            Box::pin(async move {
                sink.lock().unwrap().push(op);
                tokio::time::sleep(delay).await;
                Ok(())
            })
        });
        (input, log)
    }

    #[tokio::test]
    async fn inputs_queued_during_a_flight_are_merged_but_not_across_resize_or_kill() {
        let (input, log) = recording(Duration::from_millis(50));
        let first = input.write("a");
        tokio::time::sleep(Duration::from_millis(10)).await; // "a" is in flight
        let rest = [
            input.write("b"),
            input.write("c"),
            input.resize(100, 30),
            input.write("d"),
            input.write("e"),
            input.kill(),
            input.write("f"),
        ];
        first.await.unwrap();
        for delivery in rest {
            delivery.await.unwrap();
        }
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                Op::Input(Bytes::from("a")),
                Op::Input(Bytes::from("bc")),
                Op::Resize {
                    cols: 100,
                    rows: 30
                },
                Op::Input(Bytes::from("de")),
                Op::Kill,
                Op::Input(Bytes::from("f")),
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_batch_fails_every_write_in_it_and_the_queue_goes_on() {
        let calls = Arc::new(Mutex::new(0_u32));
        let counter = Arc::clone(&calls);
        let input = PtyInput::spawn(move |op| {
            let counter = Arc::clone(&counter);
            Box::pin(async move {
                *counter.lock().unwrap() += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                match op {
                    Op::Input(data) if data.as_ref() == b"bc" => {
                        Err(Error::new(Code::Internal, "boom"))
                    }
                    _ => Ok(()),
                }
            })
        });
        let a = input.write("a");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = input.write("b");
        let c = input.write("c");
        let resize = input.resize(1, 1);
        a.await.unwrap();
        assert_eq!(b.await.unwrap_err().code(), Code::Internal);
        assert_eq!(c.await.unwrap_err().message(), "boom");
        resize.await.unwrap();
        assert_eq!(*calls.lock().unwrap(), 3);
    }
}

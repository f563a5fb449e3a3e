//! The ordered operation queue of one terminal session.
//!
//! `write`, `resize` and `signal` enqueue at call time. One worker sends
//! them as `Send` batches with consecutive sequence numbers, at most one in
//! flight: whatever queued up meanwhile becomes the next batch, with runs of
//! input merged into one input operation and resizes and signals kept in
//! their place. A transient failure retries the *same* batch under the
//! *same* seq (envd ignores a seq it already applied), so nothing is typed
//! twice or lost.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::retry::{RetryPolicy, is_transient};
use super::types::{TerminalOp, TerminalSignal};
use crate::error::{Code, Error, Result};

/// Most input bytes merged into one batch; more waits for the next one.
pub(crate) const MAX_BATCH_INPUT: usize = 1024 * 1024;
/// Most operations in one batch.
pub(crate) const MAX_BATCH_OPS: usize = 1024;

/// Sends one batch under a seq; resolves to envd's `last_applied_seq`.
pub(crate) type SendBatch =
    Box<dyn Fn(u64, Vec<TerminalOp>) -> BoxFuture<'static, Result<u64>> + Send + Sync>;
/// Asks envd for the terminal's `last_applied_seq`.
pub(crate) type LastApplied = Box<dyn Fn() -> BoxFuture<'static, Result<u64>> + Send + Sync>;

struct Queued {
    op: TerminalOp,
    done: oneshot::Sender<Result<()>>,
}

/// A cloneable writer for one terminal: input, resize and signals, in call
/// order. The queue's worker stops when every clone (and the session) is
/// dropped, after sending what was queued.
#[derive(Clone)]
pub struct TerminalInput {
    queue: mpsc::UnboundedSender<Queued>,
}

impl std::fmt::Debug for TerminalInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalInput").finish_non_exhaustive()
    }
}

impl TerminalInput {
    /// Starts the worker; its first batch goes out as `first_seq`.
    pub(crate) fn spawn(
        send: SendBatch,
        last_applied: LastApplied,
        first_seq: u64,
        retry: RetryPolicy,
    ) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let worker = Worker {
            receiver,
            carried: VecDeque::new(),
            send,
            last_applied,
            next_seq: first_seq,
            resync: false,
            retry,
        };
        tokio::spawn(worker.run());
        Self { queue }
    }

    fn push(&self, op: TerminalOp) -> Applied {
        let (done, receiver) = oneshot::channel();
        // A send error means the worker is gone; the dropped `done` makes
        // `Applied` report it.
        let _ = self.queue.send(Queued { op, done });
        Applied { receiver }
    }

    /// Queues bytes for the terminal. Resolves once envd applied the batch
    /// holding them.
    pub fn write(&self, data: impl Into<Bytes>) -> Applied {
        self.push(TerminalOp::Input(data.into()))
    }

    /// Queues a window-size change, in its place among the input.
    pub fn resize(&self, cols: u16, rows: u16) -> Applied {
        self.push(TerminalOp::Resize { cols, rows })
    }

    /// Queues a signal for the terminal's process group, in its place
    /// among the input.
    pub fn signal(&self, signal: TerminalSignal) -> Applied {
        self.push(TerminalOp::Signal(signal))
    }
}

/// Resolves once envd has applied a queued terminal operation, or with the
/// error that stopped it: a final error from envd (e.g.
/// [`Code::NotFound`] once the terminal is gone), or the last transient
/// error once the session's [`RetryPolicy`] gave up (the batch may then
/// have been applied or not). Dropping it does not cancel the operation.
#[derive(Debug)]
#[must_use = "the operation is queued either way; await this to learn whether it was applied"]
pub struct Applied {
    receiver: oneshot::Receiver<Result<()>>,
}

impl Future for Applied {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                Err(Error::new(
                    Code::Canceled,
                    "terminal queue stopped before the operation was applied",
                ))
            })
        })
    }
}

struct Worker {
    receiver: mpsc::UnboundedReceiver<Queued>,
    /// Queued operations that did not fit the previous batch.
    carried: VecDeque<Queued>,
    send: SendBatch,
    last_applied: LastApplied,
    next_seq: u64,
    /// A batch failed without envd saying whether it applied: learn
    /// `last_applied_seq` before picking the next seq.
    resync: bool,
    retry: RetryPolicy,
}

impl Worker {
    async fn run(mut self) {
        loop {
            if self.carried.is_empty() {
                match self.receiver.recv().await {
                    Some(first) => self.carried.push_back(first),
                    None => return,
                }
            }
            while let Ok(next) = self.receiver.try_recv() {
                self.carried.push_back(next);
            }
            let (ops, waiters) = take_batch(&mut self.carried);
            let result = self.send_batch(ops).await;
            for waiter in waiters {
                let _ = waiter.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.duplicate()),
                });
            }
        }
    }

    async fn send_batch(&mut self, ops: Vec<TerminalOp>) -> Result<()> {
        if self.resync {
            self.next_seq = (self.last_applied)().await? + 1;
            self.resync = false;
        }
        let seq = self.next_seq;
        let mut backoff = self.retry.backoff();
        loop {
            match (self.send)(seq, ops.clone()).await {
                Ok(last_applied) if last_applied >= seq => {
                    self.next_seq = seq + 1;
                    return Ok(());
                }
                Ok(last_applied) => {
                    self.resync = true;
                    return Err(Error::protocol(format!(
                        "envd answered batch {seq} with last_applied_seq {last_applied}"
                    )));
                }
                Err(e) if is_transient(&e) && backoff.wait().await => {}
                Err(e) => {
                    // envd checks a batch before applying any of it, and an
                    // invalid one does not use up its seq.
                    self.resync = e.code() != Code::InvalidArgument;
                    return Err(e);
                }
            }
        }
    }
}

/// Takes the next batch off the front of `queued`: everything, up to the
/// size limits, with consecutive inputs merged. Returns the operations and
/// the waiters they answer.
fn take_batch(
    queued: &mut VecDeque<Queued>,
) -> (Vec<TerminalOp>, Vec<oneshot::Sender<Result<()>>>) {
    let mut ops: Vec<TerminalOp> = Vec::new();
    let mut waiters = Vec::new();
    let mut input_bytes = 0;
    let mut merging: Option<BytesMut> = None;
    while let Some(next) = queued.front() {
        let len = match &next.op {
            TerminalOp::Input(data) => data.len(),
            _ => 0,
        };
        let full = input_bytes + len > MAX_BATCH_INPUT || ops.len() >= MAX_BATCH_OPS;
        if !waiters.is_empty() && full {
            break;
        }
        let Some(Queued { op, done }) = queued.pop_front() else {
            break;
        };
        waiters.push(done);
        input_bytes += len;
        match op {
            TerminalOp::Input(data) => match &mut merging {
                Some(run) => run.extend_from_slice(&data),
                None => {
                    if let Some(TerminalOp::Input(prev)) = ops.last() {
                        let mut run = BytesMut::from(&prev[..]);
                        run.extend_from_slice(&data);
                        ops.pop();
                        merging = Some(run);
                    } else {
                        ops.push(TerminalOp::Input(data));
                    }
                }
            },
            other => {
                if let Some(run) = merging.take() {
                    ops.push(TerminalOp::Input(run.freeze()));
                }
                ops.push(other);
            }
        }
    }
    if let Some(run) = merging {
        ops.push(TerminalOp::Input(run.freeze()));
    }
    (ops, waiters)
}

#[cfg(test)]
mod tests;

//! A terminal session: the ordered operation queue plus an output pump that
//! re-attaches by itself when its stream drops, from the last offset it
//! delivered, so the reader sees every byte once (or an explicit `Lost`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::Terminals;
use super::cursor::Cursor;
use super::queue::{Applied, LastApplied, SendBatch, TerminalInput};
use super::raw::TerminalStream;
use super::retry::is_transient;
use super::types::{OutputStream, Started, TerminalEvent, TerminalSignal};
use crate::commands::{ExitStatus, ProcessSelector};
use crate::error::{Error, Result};

/// How many output events a session holds for its reader. When the reader
/// falls behind, the pump stops reading the stream, and HTTP/2 flow control
/// holds envd back (envd keeps its own bounded scrollback). One event is
/// one envd message, and envd sends at most 32 KiB of terminal output per
/// message, so a session buffers at most about 512 KiB of PTY output.
pub const OUTPUT_BUFFER_EVENTS: usize = 16;

/// A terminal (or a pipe process) from [`Terminals::create`] or
/// [`Terminals::attach`].
///
/// Writes go through an ordered queue ([`write`](Self::write),
/// [`resize`](Self::resize), [`signal`](Self::signal)); output is read
/// with [`next_output`](Self::next_output) or as a [`Stream`]. When the
/// output stream drops (network failure, envd restart of the connection,
/// stall), the session re-attaches from the last offset it delivered and
/// goes on as if nothing happened, retrying under the
/// [`RetryPolicy`](super::RetryPolicy). Dropping the session detaches; the
/// program keeps running (use [`close`](Self::close) to end it).
pub struct TerminalSession {
    started: Started,
    input: TerminalInput,
    terminals: Terminals,
    events: mpsc::Receiver<Result<TerminalEvent>>,
    reconnect: Arc<Notify>,
    pump: JoinHandle<()>,
    /// The offset after the last byte handed to the reader, per stream
    /// (`[pty or stdout, stderr]`).
    delivered: [u64; 2],
    done: bool,
}

impl std::fmt::Debug for TerminalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalSession")
            .field("started", &self.started)
            .field("delivered", &self.delivered)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl TerminalSession {
    /// Starts the queue and the pump on a stream that just began; `cursors`
    /// say where that stream's output starts.
    pub(crate) fn start(
        terminals: Terminals,
        stream: TerminalStream,
        cursors: [Cursor; 2],
    ) -> Self {
        let started = stream.started().clone();
        let process = ProcessSelector::Pid(started.pid);
        let sender = terminals.clone();
        let target = process.clone();
        let send: SendBatch = Box::new(move |seq, ops| {
            let (sender, target) = (sender.clone(), target.clone());
            Box::pin(async move { sender.send_batch(target, seq, ops).await })
        });
        let asker = terminals.clone();
        let target = process.clone();
        let last_applied: LastApplied = Box::new(move || {
            let (asker, target) = (asker.clone(), target.clone());
            Box::pin(async move { asker.last_applied_seq(target).await })
        });
        let input = TerminalInput::spawn(
            send,
            last_applied,
            started.last_applied_seq + 1,
            terminals.retry,
        );
        let (tx, events) = mpsc::channel(OUTPUT_BUFFER_EVENTS);
        let reconnect = Arc::new(Notify::new());
        let delivered = [
            cursors[0].resume_from().unwrap_or(0),
            cursors[1].resume_from().unwrap_or(0),
        ];
        let pump = Pump {
            terminals: terminals.clone(),
            process,
            pty: started.pty,
            cursors,
            tx,
            reconnect: Arc::clone(&reconnect),
        };
        Self {
            started,
            input,
            terminals,
            events,
            reconnect,
            pump: tokio::spawn(pump.run(stream)),
            delivered,
            done: false,
        }
    }

    /// The program's process id.
    pub fn pid(&self) -> u32 {
        self.started.pid
    }

    /// What envd reported when the session began (tag, size, whether it is
    /// a terminal, the last applied batch).
    pub fn started(&self) -> &Started {
        &self.started
    }

    /// The offset after the last terminal (or stdout) byte this session
    /// handed out: attach here later to continue exactly where it stopped.
    pub fn offset(&self) -> u64 {
        self.delivered[0]
    }

    /// Like [`offset`](Self::offset), for a pipe process's stderr.
    pub fn stderr_offset(&self) -> u64 {
        self.delivered[1]
    }

    /// A cloneable writer for other tasks.
    pub fn input(&self) -> TerminalInput {
        self.input.clone()
    }

    /// Queues bytes for the terminal; see [`TerminalInput::write`].
    pub fn write(&self, data: impl Into<Bytes>) -> Applied {
        self.input.write(data)
    }

    /// Queues a window-size change; see [`TerminalInput::resize`].
    pub fn resize(&self, cols: u16, rows: u16) -> Applied {
        self.input.resize(cols, rows)
    }

    /// Queues a signal; see [`TerminalInput::signal`].
    pub fn signal(&self, signal: TerminalSignal) -> Applied {
        self.input.signal(signal)
    }

    /// Hangs up: SIGHUP to the terminal's process group now, SIGKILL after
    /// `grace` (envd's default 2 s when `None`). The output then ends with
    /// [`TerminalEvent::Exit`].
    pub async fn close(&self, grace: Option<Duration>) -> Result<()> {
        self.terminals
            .close(ProcessSelector::Pid(self.started.pid), grace)
            .await
    }

    /// Drops the current output stream as a network failure would; the
    /// session re-attaches from the last offset it saw. For tests of the
    /// re-attach path, and after a network change.
    pub fn reconnect(&self) {
        self.reconnect.notify_one();
    }

    /// The next output event; `None` after [`TerminalEvent::Exit`] or an
    /// error.
    pub async fn next_output(&mut self) -> Option<Result<TerminalEvent>> {
        self.next().await
    }

    /// Reads (and discards) output until the program ends.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        while let Some(event) = self.next().await {
            if let TerminalEvent::Exit(exit) = event? {
                return Ok(exit);
            }
        }
        Err(Error::protocol("terminal session ended without an exit"))
    }
}

impl Stream for TerminalSession {
    type Item = Result<TerminalEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = match self.events.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        match &item {
            Some(Ok(TerminalEvent::Output {
                stream,
                offset,
                data,
            })) => self.delivered[slot(*stream)] = offset + data.len() as u64,
            Some(Ok(TerminalEvent::Lost {
                stream,
                resume_offset,
                ..
            })) => self.delivered[slot(*stream)] = *resume_offset,
            Some(Ok(TerminalEvent::Exit(_)) | Err(_)) | None => self.done = true,
        }
        Poll::Ready(item)
    }
}

fn slot(stream: OutputStream) -> usize {
    usize::from(stream == OutputStream::Stderr)
}

/// Reads the current stream into the session's buffer; re-attaches when it
/// drops.
struct Pump {
    terminals: Terminals,
    process: ProcessSelector,
    pty: bool,
    cursors: [Cursor; 2],
    tx: mpsc::Sender<Result<TerminalEvent>>,
    reconnect: Arc<Notify>,
}

impl Pump {
    async fn run(mut self, mut stream: TerminalStream) {
        loop {
            let next = tokio::select! {
                biased;
                () = self.reconnect.notified() => None,
                next = stream.next() => Some(next),
            };
            let events = match next {
                None => Vec::new(),
                Some(Some(Ok(event))) => {
                    let exit = matches!(event, TerminalEvent::Exit(_));
                    let events = self.admit(event);
                    if !self.deliver(events).await || exit {
                        return;
                    }
                    continue;
                }
                Some(Some(Err(e))) if !is_transient(&e) => vec![Err(e)],
                Some(Some(Err(_)) | None) => Vec::new(),
            };
            if !events.is_empty() {
                self.deliver_results(events).await;
                return;
            }
            match self.reattach().await {
                Ok(next) => stream = next,
                Err(e) => {
                    self.deliver_results(vec![Err(e)]).await;
                    return;
                }
            }
        }
    }

    /// What of `event` is new to the reader.
    fn admit(&mut self, event: TerminalEvent) -> Vec<TerminalEvent> {
        match event {
            TerminalEvent::Output {
                stream,
                offset,
                data,
            } => self.cursors[slot(stream)].admit(stream, offset, &data),
            TerminalEvent::Lost {
                stream,
                resume_offset,
                ..
            } => self.cursors[slot(stream)]
                .lost(stream, resume_offset)
                .into_iter()
                .collect(),
            exit => vec![exit],
        }
    }

    /// `false` once the session is gone.
    async fn deliver(&self, events: Vec<TerminalEvent>) -> bool {
        for event in events {
            if self.tx.send(Ok(event)).await.is_err() {
                return false;
            }
        }
        true
    }

    async fn deliver_results(&self, results: Vec<Result<TerminalEvent>>) {
        for result in results {
            let _ = self.tx.send(result).await;
        }
    }

    /// Attaches again from the cursors, retrying transient failures.
    async fn reattach(&mut self) -> Result<TerminalStream> {
        let mut backoff = self.terminals.retry.backoff();
        loop {
            let stderr = if self.pty {
                None
            } else {
                self.cursors[1].resume_from()
            };
            let offset = self.cursors[0].resume_from();
            match self
                .terminals
                .attach_stream(self.process.clone(), offset, stderr)
                .await
            {
                Ok(stream) => return Ok(stream),
                Err(e) if is_transient(&e) && backoff.wait().await => {}
                Err(e) => return Err(e),
            }
        }
    }
}

//! Live process streams and references: stdin, signals and the event
//! stream of one process.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use envd_proto::process as pb;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use super::{CommandEvent, CommandOutput, ExitStatus, ProcessSelector, Signal};
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::stream::Fused;

/// A process (by pid or tag) to send stdin or signals to.
#[derive(Debug, Clone)]
pub struct ProcessRef {
    client: Client,
    selector: ProcessSelector,
}

impl ProcessRef {
    pub(crate) fn new(client: Client, selector: ProcessSelector) -> Self {
        Self { client, selector }
    }

    /// Which process this refers to.
    pub fn selector(&self) -> &ProcessSelector {
        &self.selector
    }

    /// Writes `data` to stdin (the process must have been started with
    /// stdin open).
    pub async fn send_stdin(&self, data: impl Into<Bytes>) -> Result<()> {
        self.send_input(pb::process_input::Input::Stdin(data.into()))
            .await
    }

    pub(crate) async fn send_input(&self, input: pb::process_input::Input) -> Result<()> {
        self.client
            .unary(self.client.process_rpc().send_input(self.client.request(
                pb::SendInputRequest {
                    process: Some(self.selector.to_proto()),
                    input: Some(pb::ProcessInput { input: Some(input) }),
                },
            )))
            .await?;
        Ok(())
    }

    pub(crate) async fn resize(&self, cols: u32, rows: u32) -> Result<()> {
        self.client
            .unary(
                self.client
                    .process_rpc()
                    .update(self.client.request(pb::UpdateRequest {
                        process: Some(self.selector.to_proto()),
                        pty: Some(pb::Pty {
                            size: Some(pb::pty::Size { cols, rows }),
                        }),
                    })),
            )
            .await?;
        Ok(())
    }

    /// Closes stdin: the process reads EOF.
    pub async fn close_stdin(&self) -> Result<()> {
        self.client
            .unary(self.client.process_rpc().close_stdin(self.client.request(
                pb::CloseStdinRequest {
                    process: Some(self.selector.to_proto()),
                },
            )))
            .await?;
        Ok(())
    }

    /// Sends `signal`.
    pub async fn signal(&self, signal: Signal) -> Result<()> {
        self.client
            .unary(self.client.process_rpc().send_signal(self.client.request(
                pb::SendSignalRequest {
                    process: Some(self.selector.to_proto()),
                    signal: signal.to_proto().into(),
                },
            )))
            .await?;
        Ok(())
    }

    /// SIGKILLs the process; `false` when there was no such process.
    pub async fn kill(&self) -> Result<bool> {
        match self.signal(Signal::Kill).await {
            Ok(()) => Ok(true),
            Err(e) if e.code() == Code::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The events of a process stream: output then exactly one
/// [`CommandEvent::Exit`]. Keepalives are consumed (they keep the stall
/// watchdog quiet) and never yielded.
pub struct CommandEvents {
    inner: Fused<Option<pb::ProcessEvent>>,
}

impl std::fmt::Debug for CommandEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandEvents")
            .field("done", &self.inner.is_done())
            .finish_non_exhaustive()
    }
}

impl Stream for CommandEvents {
    type Item = Result<CommandEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use pb::process_event::{Event, data_event::Output};
        loop {
            let Some(message) = ready!(self.inner.poll_message(cx)?) else {
                return Poll::Ready(None);
            };
            let event = match message.and_then(|e| e.event) {
                Some(Event::Data(data)) => match data.output {
                    Some(Output::Stdout(b)) => CommandEvent::Stdout(b),
                    Some(Output::Stderr(b)) => CommandEvent::Stderr(b),
                    Some(Output::Pty(b)) => CommandEvent::Pty(b),
                    None => continue,
                },
                Some(Event::End(end)) => {
                    self.inner.finish();
                    CommandEvent::Exit(ExitStatus::from_proto(end))
                }
                Some(Event::Keepalive(_)) | None => continue,
                Some(Event::Start(_)) => {
                    self.inner.finish();
                    return Poll::Ready(Some(Err(Error::protocol(
                        "process stream sent a second start event",
                    ))));
                }
            };
            return Poll::Ready(Some(Ok(event)));
        }
    }
}

/// A live process stream from [`Commands::spawn`] or [`Commands::connect`].
///
/// Dropping it (or [`disconnect`](Self::disconnect)) detaches; the process
/// keeps running.
#[derive(Debug)]
pub struct CommandHandle {
    pid: u32,
    process: ProcessRef,
    events: CommandEvents,
}

impl CommandHandle {
    pub(crate) async fn from_events(
        client: &Client,
        mut events: BoxStream<'static, Result<Option<pb::ProcessEvent>>>,
    ) -> Result<Self> {
        use pb::process_event::Event;
        let first = events.next().await.transpose()?;
        let Some(Some(Event::Start(start))) = first.flatten().map(|e| e.event) else {
            return Err(Error::protocol(
                "process stream did not begin with a start event",
            ));
        };
        Ok(Self {
            pid: start.pid,
            process: ProcessRef {
                client: client.clone(),
                selector: ProcessSelector::Pid(start.pid),
            },
            events: CommandEvents {
                inner: Fused::closing_is_error(events, "process stream ended without an end event"),
            },
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A cloneable reference for stdin and signals, usable from other tasks.
    pub fn process(&self) -> ProcessRef {
        self.process.clone()
    }

    /// The output events.
    pub fn events(&mut self) -> &mut CommandEvents {
        &mut self.events
    }

    /// Gives up the handle for its event stream.
    pub fn into_events(self) -> CommandEvents {
        self.events
    }

    /// Collects the remaining output until the process ends.
    pub async fn wait(self) -> Result<CommandOutput> {
        let mut output = CommandOutput {
            pid: self.pid,
            stdout: Vec::new(),
            stderr: Vec::new(),
            exit: ExitStatus {
                exit_code: -1,
                exited: false,
                status: String::new(),
                error: None,
            },
        };
        let mut events = self.events;
        while let Some(event) = events.next().await {
            match event? {
                CommandEvent::Stdout(b) | CommandEvent::Pty(b) => {
                    output.stdout.extend_from_slice(&b)
                }
                CommandEvent::Stderr(b) => output.stderr.extend_from_slice(&b),
                CommandEvent::Exit(exit) => {
                    output.exit = exit;
                    return Ok(output);
                }
            }
        }
        Err(Error::protocol("process stream ended without an end event"))
    }

    /// Writes to stdin.
    pub async fn send_stdin(&self, data: impl Into<Bytes>) -> Result<()> {
        self.process.send_stdin(data).await
    }

    /// Closes stdin.
    pub async fn close_stdin(&self) -> Result<()> {
        self.process.close_stdin().await
    }

    /// Sends a signal.
    pub async fn signal(&self, signal: Signal) -> Result<()> {
        self.process.signal(signal).await
    }

    /// SIGKILLs the process; `false` if it was already gone.
    pub async fn kill(&self) -> Result<bool> {
        self.process.kill().await
    }

    /// Drops the stream; the process keeps running.
    pub fn disconnect(self) {}
}

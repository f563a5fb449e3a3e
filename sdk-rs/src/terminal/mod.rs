//! Terminal sessions on `envd.pty.v1.Pty`: ordered, exactly-once input
//! batches and offset-addressed output that survives dropped connections.

use std::time::Duration;

use envd_proto::envd::pty::v1 as pb;
use futures::StreamExt;

use crate::client::Client;
use crate::commands::ProcessSelector;
use crate::error::Result;
use crate::stream;

mod cursor;
mod queue;
mod raw;
mod retry;
mod session;
mod types;

pub use queue::{Applied, TerminalInput};
pub use raw::TerminalStream;
pub use retry::RetryPolicy;
pub use session::{OUTPUT_BUFFER_EVENTS, TerminalSession};
pub use types::{
    OutputStream, Started, TerminalEvent, TerminalInfo, TerminalOp, TerminalOptions, TerminalSignal,
};

use cursor::Cursor;

/// The terminal API; get it from [`Client::terminals`].
#[derive(Debug, Clone)]
pub struct Terminals {
    client: Client,
    retry: RetryPolicy,
}

impl Terminals {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            retry: RetryPolicy::default(),
        }
    }

    /// How sessions made from this retry failed batches and re-attach
    /// dropped streams.
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Starts a terminal; returns once envd reports its pid.
    pub async fn create(&self, options: TerminalOptions) -> Result<TerminalSession> {
        let request = self.client.stream_request(options.to_proto());
        let mut rpc = self.client.pty_rpc();
        let events = stream::open("Create", self.client.keepalive_interval(), async move {
            rpc.create(request).await
        })
        .await?
        .map(|m| m.map(|r: pb::CreateResponse| r.event.unwrap_or_default()))
        .boxed();
        let stream = TerminalStream::begin(events).await?;
        Ok(TerminalSession::start(
            self.clone(),
            stream,
            [Cursor::at(0), Cursor::at(0)],
        ))
    }

    /// A new session on a running terminal (or pipe process), with output
    /// from `offset` (`None`: everything envd's scrollback still holds) and
    /// batches continuing after the last one envd applied. Also works for
    /// an exited process envd still retains: its output, then its exit.
    pub async fn attach(
        &self,
        process: impl Into<ProcessSelector>,
        offset: Option<u64>,
    ) -> Result<TerminalSession> {
        let stream = self.attach_stream(process, offset, None).await?;
        let start = |offset: Option<u64>| offset.map_or_else(Cursor::unanchored, Cursor::at);
        Ok(TerminalSession::start(
            self.clone(),
            stream,
            [start(offset), Cursor::unanchored()],
        ))
    }

    /// Every live terminal, by pid.
    pub async fn list(&self) -> Result<Vec<TerminalInfo>> {
        let response = self
            .client
            .unary(
                self.client
                    .pty_rpc()
                    .list(self.client.request(pb::ListRequest {})),
            )
            .await?;
        Ok(response
            .terminals
            .into_iter()
            .map(TerminalInfo::from_proto)
            .collect())
    }

    /// Hangs up `process`: SIGHUP to its process group now, SIGKILL after
    /// `grace` (default 2 s; envd allows at most 60 s). Returns at once.
    pub async fn close(
        &self,
        process: impl Into<ProcessSelector>,
        grace: Option<Duration>,
    ) -> Result<()> {
        let grace_ms = grace.map(|g| u32::try_from(g.as_millis()).unwrap_or(u32::MAX));
        let request = pb::CloseRequest {
            process: Some(types::selector(&process.into())),
            grace_ms,
        };
        self.client
            .unary(self.client.pty_rpc().close(self.client.request(request)))
            .await?;
        Ok(())
    }

    /// One `Send` RPC, as is: no queue, no retry. Returns envd's
    /// `last_applied_seq`. Sessions do this for you; this is for tools and
    /// wire-level tests of envd's ordering.
    pub async fn send_batch(
        &self,
        process: impl Into<ProcessSelector>,
        seq: u64,
        ops: Vec<TerminalOp>,
    ) -> Result<u64> {
        let request = pb::SendRequest {
            process: Some(types::selector(&process.into())),
            seq,
            operations: ops.iter().map(TerminalOp::to_proto).collect(),
        };
        let response = self
            .client
            .unary(self.client.pty_rpc().send(self.client.request(request)))
            .await?;
        Ok(response.last_applied_seq)
    }

    /// One `Attach` stream, as is: no re-attach. `offset` is the terminal's
    /// (or stdout's) replay start, `stderr_offset` a pipe process's stderr
    /// replay start; `None` replays all envd still holds.
    pub async fn attach_stream(
        &self,
        process: impl Into<ProcessSelector>,
        offset: Option<u64>,
        stderr_offset: Option<u64>,
    ) -> Result<TerminalStream> {
        let request = self.client.stream_request(pb::AttachRequest {
            process: Some(types::selector(&process.into())),
            offset,
            stderr_offset,
        });
        let mut rpc = self.client.pty_rpc();
        let events = stream::open("Attach", self.client.keepalive_interval(), async move {
            rpc.attach(request).await
        })
        .await?
        .map(|m| m.map(|r: pb::AttachResponse| r.event.unwrap_or_default()))
        .boxed();
        TerminalStream::begin(events).await
    }

    /// envd's `last_applied_seq` for `process`: from List for a terminal,
    /// else from the `Started` of a fresh Attach (dropped right after).
    pub(crate) async fn last_applied_seq(&self, process: ProcessSelector) -> Result<u64> {
        if let ProcessSelector::Pid(pid) = process
            && let Some(info) = self.list().await?.into_iter().find(|t| t.pid == pid)
        {
            return Ok(info.last_applied_seq);
        }
        let stream = self.attach_stream(process, None, None).await?;
        Ok(stream.started().last_applied_seq)
    }
}

impl From<&TerminalSession> for ProcessSelector {
    fn from(session: &TerminalSession) -> Self {
        Self::Pid(session.pid())
    }
}

//! One Create or Attach stream as it comes off the wire: its `Started`, then
//! output, lost-output and exit events. No re-attach; the session adds that.

use std::pin::Pin;
use std::task::{Context, Poll};

use envd_proto::envd::pty::v1 as pb;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use super::types::{Started, TerminalEvent};
use crate::error::{Error, Result};

/// The events of one Create or Attach stream, from
/// [`Terminals::attach_stream`](super::Terminals::attach_stream): output
/// and lost-output events, then exactly one [`TerminalEvent::Exit`].
/// Keepalives are consumed (they keep the stall watchdog quiet). A dropped
/// connection ends it with an error; nothing re-attaches.
pub struct TerminalStream {
    started: Started,
    inner: BoxStream<'static, Result<pb::Event>>,
    done: bool,
}

impl std::fmt::Debug for TerminalStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalStream")
            .field("started", &self.started)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl TerminalStream {
    /// Reads the `Started` event every stream begins with.
    pub(crate) async fn begin(mut inner: BoxStream<'static, Result<pb::Event>>) -> Result<Self> {
        use pb::event::Event;
        let first = inner.next().await.transpose()?;
        let Some(Event::Started(started)) = first.and_then(|e| e.event) else {
            return Err(Error::protocol(
                "terminal stream did not begin with a started event",
            ));
        };
        Ok(Self {
            started: Started::from_proto(started),
            inner,
            done: false,
        })
    }

    /// What envd reported at the start of the stream.
    pub fn started(&self) -> &Started {
        &self.started
    }
}

impl Stream for TerminalStream {
    type Item = Result<TerminalEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let event = match self.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(Error::new(
                        crate::error::Code::Unavailable,
                        "terminal stream ended without an exit event",
                    ))));
                }
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(event))) => event,
            };
            match TerminalEvent::from_proto(event) {
                Ok(None) => {}
                Ok(Some(event)) => {
                    self.done = matches!(event, TerminalEvent::Exit(_));
                    return Poll::Ready(Some(Ok(event)));
                }
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

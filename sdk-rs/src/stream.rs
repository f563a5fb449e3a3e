//! Server streams that never hang silently: every message (keepalives
//! included) re-arms a 3x-keepalive watchdog; silence past it fails the
//! stream with `Unavailable`.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::{Error, Result};

/// How many keepalive intervals of silence make a stream stalled.
const STALL_FACTOR: u32 = 3;

/// The silence after which a stream with keepalive `interval` is stalled.
pub(crate) fn stall_limit(interval: Duration) -> Duration {
    interval * STALL_FACTOR
}

/// Opens a server stream: waits for the response headers under the
/// watchdog, then yields every message, failing with `Unavailable` when
/// nothing arrives for 3x `interval`.
pub(crate) async fn open<T, F>(
    what: &'static str,
    interval: Duration,
    call: F,
) -> Result<BoxStream<'static, Result<T>>>
where
    T: Send + 'static,
    F: Future<Output = Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>>,
{
    let limit = stall_limit(interval);
    let mut inner = match tokio::time::timeout(limit, call).await {
        Err(_) => return Err(Error::stalled(what, limit, interval)),
        Ok(response) => response?.into_inner(),
    };
    Ok(async_stream::stream! {
        loop {
            match tokio::time::timeout(limit, inner.message()).await {
                Err(_) => {
                    yield Err(Error::stalled(what, limit, interval));
                    break;
                }
                Ok(Ok(Some(message))) => yield Ok(message),
                Ok(Ok(None)) => break,
                Ok(Err(status)) => {
                    yield Err(Error::from(status));
                    break;
                }
            }
        }
    }
    .boxed())
}

/// An opened server stream as its typed wrappers read it: it ends for good
/// after its first error, after its end, or once the wrapper calls
/// [`finish`](Self::finish) on a final event, so callers see at most one
/// error and nothing after the end.
pub(crate) struct Fused<T> {
    inner: BoxStream<'static, Result<T>>,
    /// Set when the server closing the stream is itself a protocol error
    /// (a process stream must close with an end event first).
    unexpected_end: Option<&'static str>,
    done: bool,
}

impl<T> Fused<T> {
    /// A stream whose close is a normal end.
    pub(crate) fn new(inner: BoxStream<'static, Result<T>>) -> Self {
        Self {
            inner,
            unexpected_end: None,
            done: false,
        }
    }

    /// A stream whose close before [`finish`](Self::finish) fails with
    /// `Error::protocol(message)`.
    pub(crate) fn closing_is_error(
        inner: BoxStream<'static, Result<T>>,
        message: &'static str,
    ) -> Self {
        Self {
            inner,
            unexpected_end: Some(message),
            done: false,
        }
    }

    /// Ends the stream after the event just read.
    pub(crate) fn finish(&mut self) {
        self.done = true;
    }

    /// Whether the stream has ended.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The next message, `Ready(None)` once ended.
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<T>>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(self.unexpected_end.map(|m| Err(Error::protocol(m))))
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(message))) => Poll::Ready(Some(Ok(message))),
        }
    }
}

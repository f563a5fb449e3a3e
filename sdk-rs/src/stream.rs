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

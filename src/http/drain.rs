//! Reading what is left of a rejected request's body before answering, so an
//! HTTP/1.1 client that is still writing it reads the error response instead
//! of a connection reset (closing a socket with unread input sends RST).

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// At most this much is discarded…
const LIMIT: u64 = 64 * 1024 * 1024;
/// …for at most this long; past either, the connection is closed instead.
const TIME: Duration = Duration::from_secs(5);

/// Discards `body` up to the limits, then returns.
pub async fn discard<S, E>(mut body: S)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let discard = async {
        let mut left = LIMIT;
        while let Some(Ok(chunk)) = body.next().await {
            left = left.saturating_sub(chunk.len() as u64);
            if left == 0 {
                break;
            }
        }
    };
    drop(tokio::time::timeout(TIME, discard).await);
}

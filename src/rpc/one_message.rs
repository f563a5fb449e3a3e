//! The body of a call whose method takes exactly one request message
//! (unary and server-streaming) sent in the enveloped framing gRPC,
//! gRPC-Web and Connect streaming share. connect-go refuses a body with no
//! message or more than one as `unimplemented`; tonic answers `internal`
//! for none and drops extras, connectrpc-axum reports framing errors.
//!
//! The length prefix is checked against the message limit before the
//! payload is buffered, and the buffer never holds more than the one
//! message and the next header.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use connectrpc_axum::{Code, ConnectError};
use futures::StreamExt;

/// Length of a message's envelope header (flags, big-endian length).
const HEADER: usize = 5;

/// Why a body is refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refusal {
    /// No message at all.
    #[error("this method takes one request message; the body holds none")]
    None,
    /// A second message.
    #[error("this method takes one request message; the body holds more")]
    More,
    /// A length prefix over the limit.
    #[error("message of {0} bytes is over the limit")]
    TooLarge(usize),
    /// The client went away mid-body.
    #[error("request body: {0}")]
    Gone(axum::Error),
}

impl Refusal {
    /// The refusal as a Connect error, as connect-go answers it; the gRPC
    /// adapter converts it with the library's `From<ConnectError>`.
    pub(super) fn to_connect(&self) -> ConnectError {
        let code = match self {
            Self::TooLarge(_) => Code::ResourceExhausted,
            Self::Gone(_) => Code::Canceled,
            Self::None | Self::More => Code::Unimplemented,
        };
        ConnectError::new(code, self.to_string())
    }
}

/// Reads a body that must hold exactly one enveloped message. A body that
/// ends inside an envelope is handed on whole for the protocol to report.
pub(super) async fn read(body: Body, max_message: usize) -> Result<Bytes, Refusal> {
    let mut buffered = BytesMut::new();
    let mut next_header = 0;
    let mut messages = 0_usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        buffered.extend_from_slice(&chunk.map_err(Refusal::Gone)?);
        while buffered.len() >= next_header + HEADER {
            let mut length = [0; 4];
            length.copy_from_slice(&buffered[next_header + 1..next_header + HEADER]);
            let length = u32::from_be_bytes(length) as usize;
            messages += 1;
            if messages > 1 {
                return Err(Refusal::More);
            }
            if length > max_message {
                return Err(Refusal::TooLarge(length));
            }
            next_header += HEADER + length;
        }
    }
    if buffered.is_empty() {
        return Err(Refusal::None);
    }
    Ok(buffered.freeze())
}

/// Enveloped bodies for the tests of the layers that read them.
#[cfg(test)]
pub(super) mod test_body {
    use axum::body::Body;
    use bytes::Bytes;

    /// One envelope: `flags`, big-endian length, `payload`.
    pub(in crate::rpc) fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![flags];
        frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    /// `bytes` as a body arriving in chunks of `size`.
    pub(in crate::rpc) fn chunked(bytes: &[u8], size: usize) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Body::from_stream(futures::stream::iter(chunks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_body::{chunked, envelope as framed};

    fn envelope(payload: &[u8]) -> Vec<u8> {
        framed(0, payload)
    }

    #[tokio::test]
    async fn one_message_passes_whole_whatever_the_chunking() {
        let body = envelope(b"hello");
        for size in [1, 3, 5, 6, 64] {
            let got = read(chunked(&body, size), 16).await.unwrap();
            assert_eq!(got.as_ref(), body.as_slice(), "chunks of {size}");
        }
        // An empty message is still one message.
        let empty = envelope(b"");
        let got = read(chunked(&empty, 2), 16).await.unwrap();
        assert_eq!(got.as_ref(), empty.as_slice());
    }

    #[tokio::test]
    async fn no_message_or_two_are_refused() {
        assert!(matches!(read(Body::empty(), 16).await, Err(Refusal::None)));
        let mut two = envelope(b"a");
        two.extend(envelope(b"b"));
        for size in [1, 7, 64] {
            let refused = read(chunked(&two, size), 16).await;
            assert!(matches!(refused, Err(Refusal::More)), "chunks of {size}");
        }
    }

    #[tokio::test]
    async fn an_over_limit_prefix_is_refused_from_the_header_alone() {
        // The payload never comes; the refusal does.
        let header = vec![0, 0, 0, 1, 0];
        let refused = read(chunked(&header, 5), 255).await;
        assert!(matches!(refused, Err(Refusal::TooLarge(256))));
    }

    #[tokio::test]
    async fn a_truncated_envelope_is_handed_on() {
        let mut body = envelope(b"hello");
        body.truncate(7);
        let got = read(chunked(&body, 3), 16).await.unwrap();
        assert_eq!(got.as_ref(), body.as_slice());
    }
}

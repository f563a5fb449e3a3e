//! Ends an RPC stream's response body when its client has gone, so the
//! process subscription or directory watcher behind it is released at
//! once rather than when a write finally fails (an idle stream may not
//! write for a long time). A body that has its next frame ready still
//! gets to send it: answers to a client that only half-closed complete.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::Response;
use http_body::Frame;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::connection::Gone;

/// Wraps the body of `response` if it is an RPC stream (Connect streaming,
/// gRPC, gRPC-Web); other responses are returned as they are.
pub(super) fn wrap(response: Response<Body>, gone: &Gone) -> Response<Body> {
    let streaming = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.starts_with("application/connect+") || t.starts_with("application/grpc")
        });
    if !streaming {
        return response;
    }
    let gone = Box::pin(gone.0.clone().cancelled_owned());
    response.map(|inner| Body::new(UntilGone { inner, gone }))
}

struct UntilGone {
    inner: Body,
    gone: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// The error that ends the body: hyper then closes the connection.
#[derive(Debug, thiserror::Error)]
#[error("the client closed the connection")]
struct ClientGone;

impl http_body::Body for UntilGone {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.gone.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(ClientGone.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

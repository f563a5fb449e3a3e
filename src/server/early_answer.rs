//! An HTTP/1.1 answer sent before the request body was read to its end (an
//! over-limit message refused from its length prefix, a protocol error, a
//! unary call that failed before reading) leaves the rest of the body on
//! the connection, so hyper closes it afterwards. Saying so with
//! `Connection: close` lets the client open a new connection for its next
//! call instead of sending it on one that is about to close, which Go's
//! client reports as `unavailable: server closed idle connection`. Both
//! the RPC stack and the plain-HTTP routes answer early (an upload refused
//! from its headers), so the layer belongs to the connection's tier.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, Version, header::CONNECTION};
use http_body::{Body as _, Frame, SizeHint};

/// Marks HTTP/1.x answers given before the request body ended.
pub async fn close_if_unread(req: Request, next: Next) -> Response {
    if req.version() >= Version::HTTP_2 {
        return next.run(req).await;
    }
    let ended = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| {
        if body.is_end_stream() {
            ended.store(true, Ordering::Relaxed);
        }
        Body::new(Tracked {
            inner: body,
            ended: ended.clone(),
        })
    });
    let mut response = next.run(req).await;
    if !ended.load(Ordering::Relaxed) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records reaching its end.
struct Tracked {
    inner: Body,
    ended: Arc<AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

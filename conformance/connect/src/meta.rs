//! Response headers and trailers a handler asks for. connectrpc-axum
//! handlers return only a message (or an error), so a handler writes them
//! into a [`Slot`] the outermost layer put in the request's extensions,
//! and that layer writes them where each protocol carries them: headers as
//! headers; trailers as `trailer-` headers (Connect unary), in the
//! end-of-stream message (Connect streaming), as HTTP trailers (gRPC) or in
//! the trailer frame (gRPC-Web), and as headers in a trailers-only answer.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::Frame;

use crate::wire::Header;

/// What a handler set: response headers and trailers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slot(Arc<Mutex<Set>>);

#[derive(Debug, Default)]
struct Set {
    headers: Vec<Header>,
    trailers: Vec<Header>,
}

impl Slot {
    /// Asks for these headers and trailers on the response.
    pub(crate) fn set(&self, headers: &[Header], trailers: &[Header]) {
        let mut set = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        set.headers = headers.to_vec();
        set.trailers = trailers.to_vec();
    }

    fn take(&self) -> Set {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Slot {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}

fn append(map: &mut HeaderMap, prefix: &str, headers: &[Header]) {
    for header in headers {
        let Ok(name) = HeaderName::try_from(format!("{prefix}{}", header.name)) else {
            continue;
        };
        for value in &header.value {
            if let Ok(value) = HeaderValue::try_from(value.as_str()) {
                map.append(name.clone(), value);
            }
        }
    }
}

/// The outermost layer: gives each request a [`Slot`] and applies it.
pub(crate) async fn layer(mut req: Request, next: Next) -> Response {
    let slot = Slot::default();
    req.extensions_mut().insert(slot.clone());
    let response = next.run(req).await;
    apply(response, slot.take())
}

fn apply(mut response: Response, set: Set) -> Response {
    append(response.headers_mut(), "", &set.headers);
    if set.trailers.is_empty() {
        return response;
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let trailers_only = response.headers().contains_key("grpc-status");
    let kind = if content_type.starts_with("application/grpc-web") {
        Kind::GrpcWeb
    } else if content_type.starts_with("application/grpc") {
        Kind::Grpc
    } else if content_type.starts_with("application/connect+") {
        Kind::ConnectStream
    } else {
        append(response.headers_mut(), "trailer-", &set.trailers);
        return response;
    };
    if trailers_only {
        append(response.headers_mut(), "", &set.trailers);
        return response;
    }
    // The final frame grows, so a length the handler's body declared is wrong.
    response.headers_mut().remove(http::header::CONTENT_LENGTH);
    response.map(|body| {
        Body::new(WithTrailers {
            inner: body,
            kind,
            trailers: set.trailers,
            framer: Framer::default(),
        })
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Grpc,
    GrpcWeb,
    ConnectStream,
}

/// Splits an enveloped body (`flags:1 length:4 payload`) so the final
/// frame (gRPC-Web trailers, Connect end-of-stream) can be rewritten while
/// every other byte passes through as it arrives.
#[derive(Debug, Default)]
struct Framer {
    header: BytesMut,
    remaining: usize,
    last: Option<BytesMut>,
}

impl Framer {
    /// Feeds `chunk`; returns what may go out now and the complete final
    /// frame's payload when it ended in this chunk.
    fn push(&mut self, mut chunk: Bytes, final_flag: u8) -> (BytesMut, Option<BytesMut>) {
        let mut out = BytesMut::new();
        let mut done = None;
        while !chunk.is_empty() {
            if self.remaining == 0 && self.last.is_none() {
                let need = 5 - self.header.len();
                let take = need.min(chunk.len());
                self.header.extend_from_slice(&chunk.split_to(take));
                if self.header.len() < 5 {
                    break;
                }
                let header = std::mem::take(&mut self.header);
                let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
                self.remaining = length as usize;
                if header[0] & final_flag != 0 {
                    self.last = Some(BytesMut::with_capacity(self.remaining));
                } else {
                    out.extend_from_slice(&header);
                }
            }
            let take = self.remaining.min(chunk.len());
            let part = chunk.split_to(take);
            self.remaining -= take;
            match &mut self.last {
                Some(last) => {
                    last.extend_from_slice(&part);
                    if self.remaining == 0 {
                        done = self.last.take();
                    }
                }
                None => out.extend_from_slice(&part),
            }
        }
        if self.remaining == 0
            && let Some(last) = self.last.take()
        {
            done = Some(last);
        }
        (out, done)
    }
}

/// A response body with the handler's trailers added.
struct WithTrailers {
    inner: Body,
    kind: Kind,
    trailers: Vec<Header>,
    framer: Framer,
}

fn envelope(flags: u8, payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(5 + payload.len());
    frame.put_u8(flags);
    frame.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    frame.extend_from_slice(payload);
    frame.freeze()
}

impl WithTrailers {
    fn rewrite_last(&self, payload: &[u8]) -> Bytes {
        match self.kind {
            Kind::GrpcWeb => {
                let mut text = payload.to_vec();
                for header in &self.trailers {
                    for value in &header.value {
                        text.extend_from_slice(
                            format!("{}: {value}\r\n", header.name.to_ascii_lowercase()).as_bytes(),
                        );
                    }
                }
                envelope(0x80, &text)
            }
            Kind::ConnectStream => {
                let mut end: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(payload).unwrap_or_default();
                let metadata = end
                    .entry("metadata")
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let serde_json::Value::Object(metadata) = metadata {
                    for header in &self.trailers {
                        let entry = metadata
                            .entry(header.name.clone())
                            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                        if let serde_json::Value::Array(values) = entry {
                            values.extend(header.value.iter().cloned().map(Into::into));
                        }
                    }
                }
                envelope(0x02, &serde_json::to_vec(&end).unwrap_or_default())
            }
            Kind::Grpc => Bytes::copy_from_slice(payload),
        }
    }
}

impl http_body::Body for WithTrailers {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => frame,
                other => return other,
            };
            let frame = match frame.into_data() {
                Ok(data) => {
                    if this.kind == Kind::Grpc {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    let flag = if this.kind == Kind::GrpcWeb {
                        0x80
                    } else {
                        0x02
                    };
                    let (mut out, last) = this.framer.push(data, flag);
                    if let Some(last) = last {
                        out.extend_from_slice(&this.rewrite_last(&last));
                    }
                    if out.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
                }
                Err(frame) => frame,
            };
            return Poll::Ready(Some(Ok(match frame.into_trailers() {
                Ok(mut trailers) => {
                    append(&mut trailers, "", &this.trailers);
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            })));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_passes_messages_and_isolates_the_final_frame_across_chunks() {
        let mut body = envelope(0, b"hello").to_vec();
        body.extend_from_slice(&envelope(0x02, b"{}"));
        let mut framer = Framer::default();
        let mut out = Vec::new();
        let mut last = None;
        for byte in body {
            let (o, l) = framer.push(Bytes::copy_from_slice(&[byte]), 0x02);
            out.extend_from_slice(&o);
            last = last.or(l);
        }
        assert_eq!(out, envelope(0, b"hello").to_vec());
        assert_eq!(last.as_deref(), Some(&b"{}"[..]));
    }
}

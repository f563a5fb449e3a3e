//! gRPC and gRPC-Web with the JSON codec (`application/grpc+json`,
//! `application/grpc-web+json`), which connect-go serves and tonic does
//! not: each request message is turned into protobuf on its way in, each
//! response message into JSON on its way out, with the same pbjson mapping
//! the Connect JSON path uses. Envelopes are transcoded one at a time as
//! they complete, so client streams stay streams; a message's length
//! prefix is checked against the limit before it is buffered, and a
//! compressed one is inflated only up to the limit.

use std::collections::HashMap;
use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use http_body::Frame;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Length of a message's envelope header (flags, big-endian length).
const HEADER: usize = 5;
/// Envelope flag: the payload is compressed.
const COMPRESSED: u8 = 0x01;
/// Envelope flag: gRPC-Web trailers, passed through untouched.
const TRAILERS: u8 = 0x80;

/// Why a message could not be transcoded.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The JSON is not the method's message.
    #[error("invalid JSON message: {0}")]
    Json(#[from] serde_json::Error),
    /// The protobuf is not the method's message.
    #[error("invalid protobuf message: {0}")]
    Proto(#[from] prost::DecodeError),
    /// A compressed payload is not gzip.
    #[error("invalid gzip message: {0}")]
    Gzip(std::io::Error),
    /// A message over the limit, before or after inflating.
    #[error("message over the limit of {0} bytes")]
    TooLarge(usize),
    /// The body ended inside an envelope.
    #[error("the body ended inside a message")]
    Truncated,
}

type Transcode = fn(&[u8]) -> Result<Vec<u8>, TranscodeError>;

/// How one method's messages move between JSON and protobuf.
#[derive(Debug, Clone, Copy)]
pub struct JsonMethod {
    request: Transcode,
    response: Transcode,
}

impl JsonMethod {
    /// The transcoding of a method taking `Req` and answering `Resp`.
    pub fn of<Req, Resp>() -> Self
    where
        Req: prost::Message + DeserializeOwned,
        Resp: prost::Message + Default + Serialize,
    {
        Self {
            request: json_to_proto::<Req>,
            response: proto_to_json::<Resp>,
        }
    }
}

fn json_to_proto<T: prost::Message + DeserializeOwned>(
    json: &[u8],
) -> Result<Vec<u8>, TranscodeError> {
    Ok(serde_json::from_slice::<T>(json)?.encode_to_vec())
}

fn proto_to_json<T: prost::Message + Default + Serialize>(
    proto: &[u8],
) -> Result<Vec<u8>, TranscodeError> {
    Ok(serde_json::to_vec(&T::decode(proto)?)?)
}

/// Every method served with the JSON codec, by route path.
#[derive(Debug, Default)]
pub struct JsonMethods(HashMap<&'static str, JsonMethod>);

impl JsonMethods {
    /// Adds the method at `path` (`/package.Service/Method`).
    #[must_use]
    pub fn with(mut self, path: &'static str, method: JsonMethod) -> Self {
        self.0.insert(path, method);
        self
    }

    /// Whether the method at `path` is served with JSON.
    pub fn contains(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }
}

/// Transcodes a JSON gRPC or gRPC-Web call of a known method; anything
/// else passes untouched (and a JSON call of an unknown method is refused
/// by the codec check behind this layer).
pub(super) async fn transcode(
    methods: Arc<JsonMethods>,
    max_message: usize,
    mut req: Request,
    next: Next,
) -> Response {
    let Some((proto_type, json_type)) = json_types(&req) else {
        return next.run(req).await;
    };
    let Some(method) = methods.0.get(req.uri().path()).copied() else {
        return next.run(req).await;
    };
    req.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(proto_type));
    let req = req.map(|body| Body::new(Transcoded::new(body, method.request, max_message)));
    let response = next.run(req).await;
    let (mut parts, body) = response.into_parts();
    let is_grpc = parts
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !is_grpc {
        return Response::from_parts(parts, body);
    }
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(json_type));
    // Responses are envd's own messages; the limit guards requests.
    let body = Body::new(Transcoded::new(body, method.response, usize::MAX));
    Response::from_parts(parts, body)
}

/// The protobuf content type to hand tonic and the JSON one to answer
/// with, for a JSON gRPC or gRPC-Web request.
fn json_types(req: &Request) -> Option<(&'static str, &'static str)> {
    let content_type = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/grpc+json") {
        Some(("application/grpc+proto", "application/grpc+json"))
    } else if essence.eq_ignore_ascii_case("application/grpc-web+json") {
        Some(("application/grpc-web+proto", "application/grpc-web+json"))
    } else {
        None
    }
}

/// An enveloped body whose messages are transcoded as they complete.
struct Transcoded {
    inner: Body,
    buffered: BytesMut,
    transcode: Transcode,
    max_message: usize,
    failed: bool,
}

impl Transcoded {
    fn new(inner: Body, transcode: Transcode, max_message: usize) -> Self {
        Self {
            inner,
            buffered: BytesMut::new(),
            transcode,
            max_message,
            failed: false,
        }
    }

    /// Transcodes every complete envelope buffered so far.
    fn drain(&mut self) -> Result<Option<Bytes>, TranscodeError> {
        let mut out = BytesMut::new();
        while self.buffered.len() >= HEADER {
            let flags = self.buffered[0];
            let mut length = [0; 4];
            length.copy_from_slice(&self.buffered[1..HEADER]);
            let length = u32::from_be_bytes(length) as usize;
            if length > self.max_message {
                return Err(TranscodeError::TooLarge(self.max_message));
            }
            if self.buffered.len() < HEADER + length {
                break;
            }
            let frame = self.buffered.split_to(HEADER + length);
            if flags & TRAILERS != 0 {
                out.extend_from_slice(&frame);
                continue;
            }
            let payload = &frame[HEADER..];
            let message = if flags & COMPRESSED != 0 {
                (self.transcode)(&inflate(payload, self.max_message)?)?
            } else {
                (self.transcode)(payload)?
            };
            out.put_u8(0);
            out.put_u32(
                u32::try_from(message.len())
                    .map_err(|_| TranscodeError::TooLarge(self.max_message))?,
            );
            out.extend_from_slice(&message);
        }
        Ok((!out.is_empty()).then(|| out.freeze()))
    }
}

/// Inflates a gzip payload, refusing one that grows past `limit`.
fn inflate(payload: &[u8], limit: usize) -> Result<Vec<u8>, TranscodeError> {
    let mut inflated = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(payload)
        .take(cap)
        .read_to_end(&mut inflated)
        .map_err(TranscodeError::Gzip)?;
    if inflated.len() > limit {
        return Err(TranscodeError::TooLarge(limit));
    }
    Ok(inflated)
}

/// A transcoding failure as the body error tonic reports: its status is
/// found in the error's source chain.
fn body_error(e: &TranscodeError) -> axum::Error {
    let status = match e {
        TranscodeError::TooLarge(_) => tonic::Status::resource_exhausted(e.to_string()),
        TranscodeError::Gzip(_) | TranscodeError::Truncated => {
            tonic::Status::internal(e.to_string())
        }
        TranscodeError::Json(_) | TranscodeError::Proto(_) => {
            tonic::Status::invalid_argument(e.to_string())
        }
    };
    axum::Error::new(status)
}

impl http_body::Body for Transcoded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            match this.drain() {
                Ok(Some(out)) => return Poll::Ready(Some(Ok(Frame::data(out)))),
                Ok(None) => {}
                Err(e) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(body_error(&e))));
                }
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut data) => {
                        while data.has_remaining() {
                            let chunk = data.chunk().len();
                            this.buffered.extend_from_slice(data.chunk());
                            data.advance(chunk);
                        }
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) if this.buffered.is_empty() => return Poll::Ready(None),
                Poll::Ready(None) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(body_error(&TranscodeError::Truncated))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envd_proto::filesystem::{StatRequest, StatResponse};
    use http_body_util::BodyExt;
    use prost::Message;

    use crate::rpc::one_message::test_body::{chunked, envelope};

    async fn transcoded(body: Body, transcode: Transcode, max: usize) -> Result<Vec<u8>, String> {
        let collected = Transcoded::new(body, transcode, max)
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(collected.to_bytes().to_vec())
    }

    #[tokio::test]
    async fn json_requests_become_protobuf_whatever_the_chunking() {
        let method = JsonMethod::of::<StatRequest, StatResponse>();
        let mut body = envelope(0, br#"{"path":"/a"}"#);
        body.extend(envelope(0, br#"{"path":"/b"}"#));
        let mut expected = envelope(0, &StatRequest { path: "/a".into() }.encode_to_vec());
        expected.extend(envelope(
            0,
            &StatRequest { path: "/b".into() }.encode_to_vec(),
        ));
        for size in [1, 4, 5, 17, 1024] {
            let got = transcoded(chunked(&body, size), method.request, 1024).await;
            assert_eq!(got.unwrap(), expected, "chunks of {size}");
        }
    }

    #[tokio::test]
    async fn gzip_messages_are_inflated_within_the_limit() {
        use std::io::Write;
        let method = JsonMethod::of::<StatRequest, StatResponse>();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(br#"{"path":"/a"}"#).unwrap();
        let body = envelope(COMPRESSED, &gz.finish().unwrap());
        let expected = envelope(0, &StatRequest { path: "/a".into() }.encode_to_vec());
        assert_eq!(
            transcoded(chunked(&body, 3), method.request, 64)
                .await
                .unwrap(),
            expected
        );
        // Inflating past the limit is refused.
        let err = transcoded(chunked(&body, 3), method.request, 8)
            .await
            .unwrap_err();
        assert!(err.contains("limit"), "{err}");
    }

    #[tokio::test]
    async fn bad_input_is_an_error_not_a_misread() {
        let method = JsonMethod::of::<StatRequest, StatResponse>();
        let over = vec![0, 0, 0, 4, 0];
        for (what, body, needle) in [
            ("not JSON", envelope(0, b"\x0a\x01/"), "JSON"),
            ("over the limit", over, "limit"),
            (
                "truncated",
                envelope(0, br#"{"path":"/"}"#)[..9].to_vec(),
                "ended",
            ),
        ] {
            let err = transcoded(chunked(&body, 4), method.request, 64)
                .await
                .unwrap_err();
            assert!(err.contains(needle), "{what}: {err}");
        }
    }

    #[tokio::test]
    async fn responses_become_json_and_grpc_web_trailers_pass() {
        let method = JsonMethod::of::<StatRequest, StatResponse>();
        let mut body = envelope(0, &StatResponse::default().encode_to_vec());
        let trailers = envelope(TRAILERS, b"grpc-status: 0\r\n");
        body.extend(&trailers);
        let mut expected = envelope(0, b"{}");
        expected.extend(&trailers);
        let got = transcoded(chunked(&body, 2), method.response, usize::MAX).await;
        assert_eq!(got.unwrap(), expected);
    }
}

//! gzip request bodies of Connect unary calls (`Content-Encoding: gzip`),
//! inflated here so a body that is not the gzip it claims is the client's
//! error — `invalid_argument` (HTTP 400) — where connectrpc-axum reports
//! any body failure as `internal`. The decompressed size is still bounded
//! by the library's message limit, which stops reading at the limit.

use std::io;
use std::sync::{Arc, OnceLock};

use async_compression::tokio::bufread::GzipDecoder;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use connectrpc_axum::ConnectError;
use futures::{StreamExt, TryStreamExt};
use http::Method;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use tokio_util::io::{ReaderStream, StreamReader};

use super::content_type::{Kind, Methods, connect_kind};
use crate::error::{Error, RequestError};

/// Inflated chunks handed to the library; its limit counts them.
const CHUNK: usize = 64 * 1024;

/// Inflates a unary Connect call's gzip body and turns a corrupt one into
/// `invalid_argument`. `max_message` leaves a body whose declared length is
/// already over the limit to the library, which refuses it unread.
pub(super) async fn inflate(
    methods: Arc<Methods>,
    max_message: usize,
    req: Request,
    next: Next,
) -> Response {
    if !is_gzip_unary(&methods, &req) || declared_length(&req).is_some_and(|n| n > max_message) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    parts.headers.remove(CONTENT_ENCODING);
    parts.headers.remove(CONTENT_LENGTH);
    let corrupt = Arc::new(OnceLock::new());
    let compressed = StreamReader::new(body.into_data_stream().map_err(io::Error::other));
    let mut decoder = GzipDecoder::new(compressed);
    // Concatenated members are one body, as in Go's gzip reader.
    decoder.multiple_members(true);
    let seen = corrupt.clone();
    let inflated = ReaderStream::with_capacity(decoder, CHUNK).inspect(move |chunk| {
        // Transport failures arrive as `Other`; the decoder's own are data errors.
        if let Err(e) = chunk
            && e.kind() != io::ErrorKind::Other
        {
            drop(seen.set(e.to_string()));
        }
    });
    let response = next
        .run(Request::from_parts(parts, Body::from_stream(inflated)))
        .await;
    match corrupt.get() {
        Some(reason) => ConnectError::from(Error::from(RequestError::BadEncoding(reason.clone())))
            .into_response(),
        None => response,
    }
}

fn is_gzip_unary(methods: &Methods, req: &Request) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    req.method() == Method::POST
        && header(CONTENT_ENCODING).is_some_and(|c| c.trim().eq_ignore_ascii_case("gzip"))
        && header(CONTENT_TYPE).and_then(connect_kind) == Some(Kind::Unary)
        && methods.kind(req.uri().path()) == Some(Kind::Unary)
}

fn declared_length(req: &Request) -> Option<usize> {
    req.headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

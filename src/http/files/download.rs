//! `GET /files`: streams a file from disk in constant memory, identity with
//! HTTP `ServeContent` semantics (ranges, conditionals, sniffed type) or
//! gzip-compressed when the client prefers it.
//!
//! Multi-range requests are answered with `multipart/byteranges`, like Go;
//! ranges that add up to more than the file are ignored (full 200). An
//! identity GET of the whole file or one range also offers the file to
//! the connection, which sends it by `sendfile(2)` on HTTP/1.x.

use std::hash::{BuildHasher, Hasher};
use std::io::SeekFrom;
use std::os::fd::AsFd;
use std::path::Path;

use async_compression::Level;
use async_compression::tokio::bufread::GzipEncoder;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_RANGE, CONTENT_TYPE, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, RANGE,
    VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt, BufReader};
use tokio_util::io::ReaderStream;

use super::conditional::{self, Outcome};
use super::encoding::{self, Encoding};
use super::range::{self, ByteRange, RangeError};
use super::{Error, Params, content_type, disposition, lookup};
use crate::auth::signing::Operation;
use crate::fs::read;
use crate::server::SendFile;
use crate::state::AppState;

/// Read size when streaming from disk.
const CHUNK: usize = 256 * 1024;

pub(super) async fn get(
    State(state): State<AppState>,
    method: Method,
    version: Version,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    // HEAD shares this handler; only a GET has a body to hand over.
    let zero_copy = (method == Method::GET).then_some(version);
    match serve(&state, &uri, &headers, zero_copy).await {
        Ok(response) => response,
        Err(crate::error::Error::Files(Error::RangeNotSatisfiable { size, no_overlap })) => {
            let err = Error::RangeNotSatisfiable { size, no_overlap };
            let mut response = crate::error::Error::from(err).into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_RANGE, value(&format!("bytes */{size}")));
            headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
            response
        }
        Err(e) => e.into_response(),
    }
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn header<'a>(headers: &'a HeaderMap, name: &axum::http::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn serve(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    zero_copy: Option<Version>,
) -> Result<Response, crate::error::Error> {
    let params = Params::parse(uri)?;
    params.authorize(state, headers, Operation::Read)?;
    let defaults = state.defaults.snapshot();
    let user = lookup(params.user_name(&defaults))?;
    let path = crate::fs::path::resolve(
        params.path.as_deref().unwrap_or(""),
        &user.home,
        defaults.workdir.as_deref(),
    )?;
    let (file, meta) = crate::fs::read::open(&path).await.map_err(Error::from)?;

    let accept = header(headers, &ACCEPT_ENCODING);
    let mut chosen = encoding::negotiate(accept).ok_or(Error::NoAcceptableEncoding)?;
    let name = disposition::base_name(path.to_str().unwrap_or_default());
    let mut response_headers = HeaderMap::new();
    response_headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    response_headers.insert(CONTENT_DISPOSITION, value(&disposition::inline(name)));
    let conditional = [RANGE, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE]
        .iter()
        .any(|h| headers.contains_key(h));
    if conditional {
        if !encoding::identity_acceptable(accept) {
            return Err(Error::IdentityNotAcceptable.into());
        }
        chosen = Encoding::Identity;
    }
    let by_extension = content_type::by_extension(name);
    match chosen {
        Encoding::Gzip => {
            let content_type = by_extension
                .as_deref()
                .unwrap_or("application/octet-stream");
            response_headers.insert(CONTENT_TYPE, value(content_type));
            response_headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            let encoder =
                GzipEncoder::with_quality(BufReader::with_capacity(CHUNK, file), Level::Fastest);
            let body = Body::from_stream(ReaderStream::with_capacity(encoder, CHUNK));
            Ok((StatusCode::OK, response_headers, body).into_response())
        }
        Encoding::Identity => {
            let served = identity(file, &meta, &path, by_extension, headers, response_headers);
            served.await.map(|(response, offer)| match offer {
                Some(offer) => with_offer(response, offer, zero_copy),
                None => response,
            })
        }
    }
}

/// A file range the connection may send itself: the file, offset, length.
type Offer = (std::fs::File, u64, u64);

/// Attaches `offer` for the connection when the request allows it.
fn with_offer(mut response: Response, offer: Offer, zero_copy: Option<Version>) -> Response {
    let (file, offset, len) = offer;
    if let Some(send) = zero_copy.and_then(|v| SendFile::offer(v, file, offset, len)) {
        response.extensions_mut().insert(send);
    }
    response
}

/// A second descriptor for `file`, for an [`Offer`] (`None` if the
/// process is out of descriptors: the response is streamed instead).
fn duplicate(file: &File) -> Option<std::fs::File> {
    file.as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from)
}

/// Go `ServeContent`: conditionals, ranges, sniffed type, exact lengths.
/// Whole-file and single-range answers come with their [`Offer`].
async fn identity(
    mut file: File,
    meta: &std::fs::Metadata,
    path: &Path,
    by_extension: Option<String>,
    request: &HeaderMap,
    mut headers: HeaderMap,
) -> Result<(Response, Option<Offer>), crate::error::Error> {
    let size = meta.len();
    let modified = meta.modified().ok().and_then(conditional::last_modified);
    if let Some(modified) = modified {
        headers.insert(LAST_MODIFIED, value(&httpdate::fmt_http_date(modified)));
    }
    let use_range = match conditional::evaluate(request, modified) {
        Outcome::NotModified => {
            return Ok(((StatusCode::NOT_MODIFIED, headers).into_response(), None));
        }
        Outcome::Failed => return Err(Error::PreconditionFailed.into()),
        Outcome::Serve { use_range } => use_range,
    };
    let content_type = match by_extension {
        Some(ct) => ct,
        None => sniff(&mut file, path).await?.to_owned(),
    };
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let mut ranges = match header(request, &RANGE).filter(|_| use_range) {
        Some(spec) => range::parse(spec, size).map_err(|e| Error::RangeNotSatisfiable {
            size,
            no_overlap: e == RangeError::NoOverlap,
        })?,
        None => Vec::new(),
    };
    // Overlapping ranges larger than the file: send it once instead.
    if ranges.iter().map(|r| r.length).sum::<u64>() > size {
        ranges.clear();
    }
    let read_err = |source| Error::from(read::Error::io(path, source));
    match ranges.as_slice() {
        [] => {
            headers.insert(CONTENT_TYPE, value(&content_type));
            headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
            let offer = duplicate(&file).map(|dup| (dup, 0, size));
            let body = Body::from_stream(ReaderStream::with_capacity(file.take(size), CHUNK));
            Ok(((StatusCode::OK, headers, body).into_response(), offer))
        }
        [only] => {
            file.seek(SeekFrom::Start(only.start))
                .await
                .map_err(read_err)?;
            headers.insert(CONTENT_TYPE, value(&content_type));
            headers.insert(CONTENT_RANGE, value(&only.content_range(size)));
            headers.insert(CONTENT_LENGTH, HeaderValue::from(only.length));
            let offer = duplicate(&file).map(|dup| (dup, only.start, only.length));
            let body =
                Body::from_stream(ReaderStream::with_capacity(file.take(only.length), CHUNK));
            Ok((
                (StatusCode::PARTIAL_CONTENT, headers, body).into_response(),
                offer,
            ))
        }
        _ => {
            let boundary = boundary();
            let (body, length) = byteranges(file, ranges, &boundary, &content_type, size);
            headers.insert(
                CONTENT_TYPE,
                value(&format!("multipart/byteranges; boundary={boundary}")),
            );
            headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
            Ok((
                (StatusCode::PARTIAL_CONTENT, headers, body).into_response(),
                None,
            ))
        }
    }
}

/// `DetectContentType` of the file's first bytes.
async fn sniff(file: &mut File, path: &Path) -> Result<&'static str, Error> {
    let head = read::head(file, path, content_type::SNIFF_LEN).await?;
    Ok(content_type::sniff(&head))
}

/// A boundary unlikely to occur in any file (process-random hash keys).
fn boundary() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut out = String::with_capacity(32);
    for salt in [0u8, 1] {
        let mut hasher = state.build_hasher();
        hasher.write_u8(salt);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

/// A `multipart/byteranges` body (laid out like Go's `multipart.Writer`)
/// and its exact length.
fn byteranges(
    mut file: File,
    ranges: Vec<ByteRange>,
    boundary: &str,
    content_type: &str,
    size: u64,
) -> (Body, u64) {
    let parts: Vec<(Bytes, ByteRange)> = ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let lead = if i == 0 { "" } else { "\r\n" };
            let head = format!(
                "{lead}--{boundary}\r\nContent-Range: {}\r\nContent-Type: {content_type}\r\n\r\n",
                r.content_range(size)
            );
            (Bytes::from(head), r)
        })
        .collect();
    let closing = Bytes::from(format!("\r\n--{boundary}--\r\n"));
    let length = parts
        .iter()
        .map(|(head, r)| head.len() as u64 + r.length)
        .sum::<u64>()
        + closing.len() as u64;
    let stream = async_stream::try_stream! {
        for (head, r) in parts {
            yield head;
            file.seek(SeekFrom::Start(r.start)).await?;
            let mut chunks = ReaderStream::with_capacity((&mut file).take(r.length), CHUNK);
            while let Some(chunk) = chunks.next().await {
                yield chunk?;
            }
        }
        yield closing;
    };
    (
        Body::from_stream::<_>(
            Box::pin(stream) as futures::stream::BoxStream<'static, std::io::Result<Bytes>>
        ),
        length,
    )
}

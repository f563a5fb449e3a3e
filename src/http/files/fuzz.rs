//! Entry points for the fuzz targets in `fuzz/` (built by cargo-afl with
//! `--cfg fuzzing`) and for the regression tests that replay their
//! corpora. Each takes the fuzzer's raw bytes and runs one decoder of
//! untrusted `/files` input the way the handlers do; a panic is a finding.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::{Params, encoding, metadata, range, signing};
use crate::auth::AccessToken;

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The fuzzer's bytes as a URI query: the visible ASCII characters, no
/// fragment (anything else would only fail to parse as a URI).
pub(crate) fn query(data: &[u8]) -> String {
    text(data)
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '#')
        .collect()
}

/// `Range` against a file size taken from the first 8 bytes.
pub fn range(data: &[u8]) {
    let (size, header) = data.split_at(data.len().min(8));
    let mut bytes = [0u8; 8];
    bytes[..size.len()].copy_from_slice(size);
    let size = u64::from_le_bytes(bytes);
    if let Ok(ranges) = range::parse(&text(header), size) {
        for r in ranges {
            let inside =
                r.length > 0 && r.start.checked_add(r.length).is_some_and(|end| end <= size);
            assert!(inside, "{r:?} outside a file of {size}");
        }
    }
}

/// `Accept-Encoding` and `Content-Encoding`.
pub fn encodings(data: &[u8]) {
    let header = text(data);
    let _ = encoding::negotiate(Some(&header));
    let _ = encoding::identity_acceptable(Some(&header));
    let _ = encoding::content_encoding(Some(&header));
}

/// `X-Metadata-*` headers, one `name: value` per line.
pub fn metadata(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(&line[colon + 1..]),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    if let Ok(parsed) = metadata::from_headers(&headers) {
        let total: usize = parsed.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(
            total <= crate::fs::metadata::MAX_TOTAL,
            "{total} bytes of metadata accepted"
        );
        assert!(
            parsed
                .keys()
                .all(|k| k.len() <= crate::fs::metadata::MAX_KEY)
        );
    }
}

/// A signed-URL query string (`path`, `username`, `signature`,
/// `signature_expiration`), checked against a set token.
pub fn signed_url(data: &[u8]) {
    let Ok(uri) = format!("/files?{}", query(data)).parse::<Uri>() else {
        return;
    };
    let Ok(params) = Params::parse(&uri) else {
        return;
    };
    let token = AccessToken::default();
    token.set("fuzz-token".to_owned());
    let request = signing::Request {
        path: params.path.as_deref(),
        username: params.username.as_deref(),
        signature: params.signature.as_deref(),
        expiration: params.signature_expiration,
        header_token: None,
    };
    for operation in [signing::Operation::Read, signing::Operation::Write] {
        let _ = signing::validate(&token, operation, &request, 1_700_000_000);
    }
}

/// A multipart body: the first line is the `Content-Type`, the rest the
/// body, read part by part as the upload handler reads it.
pub fn multipart(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let content_type = text(&data[..split]).into_owned();
    let body = bytes::Bytes::copy_from_slice(data.get(split + 1..).unwrap_or_default());
    let Ok(boundary) = multer::parse_boundary(&content_type) else {
        return;
    };
    // The body is in memory: no runtime is needed to poll it.
    futures::executor::block_on(async move {
        let stream = futures::stream::iter([Ok::<_, std::io::Error>(body)]);
        let mut form = multer::Multipart::new(stream, boundary);
        while let Ok(Some(mut field)) = form.next_field().await {
            let _ = (field.name(), field.file_name());
            while let Ok(Some(_chunk)) = field.chunk().await {}
        }
    });
}

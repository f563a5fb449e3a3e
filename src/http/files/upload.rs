//! `POST /files`: a raw (`application/octet-stream`) or multipart body,
//! optionally gzip-compressed as a whole, streamed to disk part by part.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_compression::tokio::bufread::GzipDecoder;
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio_util::io::{ReaderStream, StreamReader};

use super::encoding::{self, Encoding};
use super::{Error, Params, disposition, lookup, metadata};
use crate::auth::signing::Operation;
use crate::config::Defaults;
use crate::fs::metadata::Metadata;
use crate::fs::write::{self, Owner};
use crate::identity::User;
use crate::state::AppState;

/// Decompressed chunk size.
const CHUNK: usize = 256 * 1024;
/// The fixed part of a gzip member header.
const GZIP_HEADER: usize = 10;

type Content = BoxStream<'static, io::Result<Bytes>>;

/// One written file, as the SDKs expect it.
#[derive(Debug, serde::Serialize)]
struct Entry {
    path: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    metadata: Metadata,
}

pub(super) async fn post(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = Shared::new(body);
    match handle(&state, &parts, body.clone()).await {
        Ok(response) => response,
        Err(e) => {
            crate::http::drain::discard(body).await;
            e.into_response()
        }
    }
}

async fn handle(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Shared,
) -> Result<Response, crate::error::Error> {
    let headers = &parts.headers;
    let params = Params::parse(&parts.uri)?;
    params.authorize(state, headers, Operation::Write)?;
    let defaults = state.defaults.snapshot();
    let user_name = params.user_name(&defaults);
    let coding = encoding::content_encoding(header(headers, &CONTENT_ENCODING))
        .map_err(Error::UnsupportedContentEncoding)?;
    let content = decoded(body, coding).await?;
    let user = lookup(user_name)?;
    let metadata = metadata::from_headers(headers).map_err(Error::from)?;
    let upload = Upload {
        params: &params,
        user: &user,
        defaults: &defaults,
        metadata: &metadata,
    };

    let content_type = header(headers, &CONTENT_TYPE).unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let written = if media == "application/octet-stream" {
        let expected = header(headers, &CONTENT_LENGTH)
            .filter(|_| coding == Encoding::Identity)
            .and_then(|v| v.parse().ok());
        vec![upload.raw(content, expected).await?]
    } else if media.starts_with("multipart/") {
        upload.multipart(content, content_type).await?
    } else {
        return Err(Error::UnsupportedContentType(content_type.to_owned()).into());
    };

    let entries: Vec<Entry> = written
        .into_iter()
        .map(|path| {
            let path = path.to_string_lossy().into_owned();
            Entry {
                name: disposition::base_name(&path).to_owned(),
                path,
                kind: "file",
                metadata: metadata.clone(),
            }
        })
        .collect();
    Ok(Json(entries).into_response())
}

fn header<'a>(headers: &'a HeaderMap, name: &axum::http::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request body, shared so that what is left of it can be read and
/// discarded after a failure: a client still sending a large body then
/// reads the error instead of a connection reset.
#[derive(Clone)]
struct Shared(Arc<Mutex<Content>>);

impl Shared {
    fn new(body: Body) -> Self {
        Self(Arc::new(Mutex::new(
            body.into_data_stream().map_err(io::Error::other).boxed(),
        )))
    }
}

impl futures::Stream for Shared {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Never contended: one reader at a time, and no await under the lock.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .poll_next_unpin(cx)
    }
}

/// The request body, gunzipped as a whole when `coding` says so. The gzip
/// header is checked before anything is written, so a body that is not
/// gzip is a 400 and touches no file.
async fn decoded(body: Shared, coding: Encoding) -> Result<Content, Error> {
    let mut raw = body.boxed();
    if coding == Encoding::Identity {
        return Ok(raw);
    }
    let mut head = BytesMut::new();
    while head.len() < GZIP_HEADER {
        match raw.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(Error::Decompress(e.to_string())),
            None if head.is_empty() => return Err(Error::Decompress("EOF".into())),
            None => return Err(Error::Decompress("unexpected EOF".into())),
        }
    }
    if head[..3] != [0x1f, 0x8b, 8] {
        return Err(Error::Decompress("gzip: invalid header".into()));
    }
    let whole = futures::stream::iter([Ok(head.freeze())]).chain(raw);
    let mut decoder = GzipDecoder::new(StreamReader::new(whole));
    // Concatenated members are one stream, as in Go's gzip reader.
    decoder.multiple_members(true);
    Ok(ReaderStream::with_capacity(decoder, CHUNK).boxed())
}

/// What every file of one request shares.
struct Upload<'a> {
    params: &'a Params,
    user: &'a User,
    defaults: &'a Defaults,
    /// Given to every file written.
    metadata: &'a Metadata,
}

impl Upload<'_> {
    fn options(&self, expected: Option<u64>) -> write::Options {
        write::Options {
            owner: Owner {
                uid: self.user.uid,
                gid: self.user.gid,
            },
            expected,
            metadata: self.metadata.clone(),
        }
    }

    fn resolve(&self, requested: &str) -> Result<PathBuf, crate::error::Error> {
        Ok(crate::fs::path::resolve(
            requested,
            &self.user.home,
            self.defaults.workdir.as_deref(),
        )?)
    }

    /// `application/octet-stream`: the body is the file at `path`.
    async fn raw(
        &self,
        content: Content,
        expected: Option<u64>,
    ) -> Result<PathBuf, crate::error::Error> {
        let requested = self.params.path.as_deref().ok_or(Error::PathRequired)?;
        let target = self.resolve(requested)?;
        write::write_file(&target, self.options(expected), content)
            .await
            .map_err(Error::from)?;
        Ok(target)
    }

    /// `multipart/*`: every part named `file`, in order. Files written
    /// before a failing part stay written.
    async fn multipart(
        &self,
        content: Content,
        content_type: &str,
    ) -> Result<Vec<PathBuf>, crate::error::Error> {
        let boundary =
            multer::parse_boundary(content_type).map_err(|e| Error::Multipart(e.to_string()))?;
        let mut form = multer::Multipart::new(content, boundary);
        let mut written: Vec<PathBuf> = Vec::new();
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| Error::Multipart(e.to_string()))?
        {
            // Other parts are skipped by the next `next_field`.
            if field.name() != Some("file") {
                continue;
            }
            let requested = match (&self.params.path, field.file_name()) {
                (Some(path), _) => path.clone(),
                (None, Some(name)) => name.to_owned(),
                (None, None) => return Err(Error::MissingFilename.into()),
            };
            let target = self.resolve(&requested)?;
            if written.contains(&target) {
                return Err(duplicate(&target, &written).into());
            }
            let part = field.map_err(io::Error::other);
            match write::write_file(&target, self.options(None), part).await {
                Ok(_) => written.push(target),
                Err(write::Error::Source(e)) => return Err(Error::Multipart(e.to_string()).into()),
                Err(e) => return Err(Error::from(e).into()),
            }
        }
        Ok(written)
    }
}

fn duplicate(target: &std::path::Path, written: &[PathBuf]) -> Error {
    let others: Vec<String> = written
        .iter()
        .filter(|p| p.as_path() != target)
        .map(|p| p.display().to_string())
        .collect();
    Error::DuplicatePath {
        path: target.display().to_string(),
        also: if others.is_empty() {
            String::new()
        } else {
            format!(
                ", also the following files were uploaded: {}",
                others.join(", ")
            )
        },
    }
}

/// Targets that resolve through the home directory or the default workdir.
/// Here both are temporary directories, so even a wrong resolution cannot
/// write anywhere real (the end-to-end tests only name absolute targets).
#[cfg(test)]
mod tests {
    use nix::unistd::{Gid, Uid};

    use super::*;

    struct Fixture {
        home: tempfile::TempDir,
        workdir: tempfile::TempDir,
        user: User,
        defaults: Defaults,
        params: Params,
        metadata: Metadata,
    }

    impl Fixture {
        /// An upload with no query parameters, as `f.user`.
        fn upload(&self) -> Upload<'_> {
            Upload {
                params: &self.params,
                user: &self.user,
                defaults: &self.defaults,
                metadata: &self.metadata,
            }
        }
    }

    fn fixture() -> Fixture {
        let home = tempfile::tempdir().unwrap();
        let workdir = tempfile::tempdir().unwrap();
        let user = User {
            name: "root".into(),
            uid: Uid::current(),
            gid: Gid::current(),
            home: home.path().to_owned(),
            groups: Vec::new(),
            shell: "/bin/sh".into(),
        };
        let defaults = Defaults {
            workdir: Some(workdir.path().to_owned()),
            ..Defaults::default()
        };
        Fixture {
            home,
            workdir,
            user,
            defaults,
            params: Params::default(),
            metadata: Metadata::new(),
        }
    }

    fn content(data: &'static [u8]) -> Content {
        futures::stream::iter([Ok(Bytes::from_static(data))]).boxed()
    }

    fn is_empty(dir: &tempfile::TempDir) -> bool {
        std::fs::read_dir(dir.path()).unwrap().next().is_none()
    }

    const BOUNDARY: &str = "b0undary";

    /// Uploads `body`, a multipart body delimited by [`BOUNDARY`].
    async fn multipart(
        upload: &Upload<'_>,
        body: &'static [u8],
    ) -> Result<Vec<PathBuf>, crate::error::Error> {
        upload
            .multipart(
                content(body),
                &format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .await
    }

    #[tokio::test]
    async fn raw_body_without_path_is_rejected_before_any_write() {
        let f = fixture();
        let upload = f.upload();
        let err = upload.raw(content(b"raw"), None).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "path query parameter is required for raw body upload"
        );
        assert!(is_empty(&f.home) && is_empty(&f.workdir));
    }

    #[tokio::test]
    async fn multipart_part_without_filename_or_path_is_rejected() {
        let f = fixture();
        let upload = f.upload();
        let body: &'static [u8] = b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno name\r\n--b0undary--\r\n";
        let err = multipart(&upload, body).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing filename in multipart part 'file' and no path query parameter"
        );
        assert!(is_empty(&f.home) && is_empty(&f.workdir));
    }

    #[tokio::test]
    async fn relative_multipart_filename_lands_in_the_home_directory() {
        let f = fixture();
        let upload = f.upload();
        let body: &'static [u8] = b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"docs/rel.txt\"\r\n\r\nrel\r\n--b0undary--\r\n";
        let written = multipart(&upload, body).await.unwrap();
        let want = f.home.path().join("docs/rel.txt");
        assert_eq!(written, vec![want.clone()]);
        assert_eq!(std::fs::read(&want).unwrap(), b"rel");
        assert!(is_empty(&f.workdir));
    }

    #[test]
    fn targets_resolve_like_every_other_path() {
        let f = fixture();
        let upload = f.upload();
        let home = f.home.path();
        assert_eq!(upload.resolve("a/../b.txt").unwrap(), home.join("b.txt"));
        assert_eq!(upload.resolve("~/c.txt").unwrap(), home.join("c.txt"));
        assert_eq!(upload.resolve("").unwrap(), f.workdir.path());
        assert!(upload.resolve("~bob/x").is_err());
    }
}

//! File contents over `GET`/`POST /files`: bytes, text and streams, never
//! buffering a whole file on the streaming paths; file metadata on every
//! upload; `POST /files/compose`.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio::io::AsyncRead;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::client::Client;
use crate::error::{Code, Error, Result};

/// Files and directories; get it from [`Client::files`].
///
/// Contents travel over plain HTTP (`/files`); metadata operations and
/// watches are `filesystem.Filesystem` RPCs.
#[derive(Debug, Clone)]
pub struct Files {
    pub(crate) client: Client,
    /// Sent as `X-Metadata-<key>` with every upload.
    metadata: BTreeMap<String, String>,
}

/// A file written by an upload, as envd reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct WriteInfo {
    /// The base name.
    pub name: String,
    /// The resolved absolute path.
    pub path: String,
    /// Always `file`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The file's metadata (`user.e2b.*` extended attributes) as envd
    /// stored it; empty when the upload sent none.
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

/// A download in progress: a [`Stream`] of chunks as they arrive.
pub struct FileStream {
    inner: BoxStream<'static, Result<Bytes>>,
    len: Option<u64>,
}

impl std::fmt::Debug for FileStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStream")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl FileStream {
    /// The file size, when envd sent `Content-Length`.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// Whether envd announced an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    /// The download as an [`AsyncRead`].
    pub fn into_reader(self) -> impl AsyncRead + Send + Unpin + 'static {
        StreamReader::new(self.inner.map_err(std::io::Error::other))
    }
}

impl Stream for FileStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// Sending a request to one of envd's HTTP endpoints.
pub(crate) trait SendChecked {
    /// Sends the request; a transport failure and a non-2xx answer (see
    /// [`check`]) both come back as an [`Error`].
    fn send_checked(self) -> impl Future<Output = Result<reqwest::Response>> + Send;
}

impl SendChecked for reqwest::RequestBuilder {
    async fn send_checked(self) -> Result<reqwest::Response> {
        check(self.send().await.map_err(Error::transport)?).await
    }
}

/// Turns a non-2xx response into an [`Error`] carrying the HTTP status and
/// the code, message and reason from envd's JSON error body.
pub(crate) async fn check(response: reqwest::Response) -> Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        message: String,
        #[serde(default)]
        connect_code: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    }
    let text = response.text().await.unwrap_or_default();
    let mut reason = None;
    let mut code = None;
    let message = match serde_json::from_str::<Body>(&text) {
        Ok(body) => {
            reason = body.reason;
            code = body.connect_code.as_deref().and_then(Code::from_name);
            body.message
        }
        Err(_) if text.trim().is_empty() => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
        Err(_) => text.trim().to_owned(),
    };
    Err(Error::http(status.as_u16(), code, message).with_reason_name(reason.as_deref()))
}

impl Files {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            metadata: BTreeMap::new(),
        }
    }

    /// The same API acting as `user` (path resolution and file ownership).
    #[must_use]
    pub fn as_user(&self, user: impl Into<String>) -> Self {
        Self {
            client: self.client.with_user(user),
            metadata: self.metadata.clone(),
        }
    }

    /// The same API whose writes (every `write*` method, one file or many)
    /// give each written file exactly this metadata, sent as
    /// `X-Metadata-<key>` headers and stored by envd as `user.e2b.<key>`
    /// extended attributes. An overwrite replaces the file's whole set, so
    /// writing without metadata clears it. Keys are case-insensitive
    /// (envd lower-cases them); keys and values must be printable ASCII
    /// (a key at most 246 bytes, the whole set at most 4096), else the
    /// write fails with [`InvalidArgument`](crate::Code::InvalidArgument):
    /// envd's `400 invalid metadata`, or before sending when a key or value
    /// cannot be an HTTP header.
    #[must_use]
    pub fn with_metadata<I, K, V>(&self, metadata: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            client: self.client.clone(),
            metadata: metadata
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// An upload request carrying the metadata headers; a key or value
    /// that cannot be an HTTP header is refused before anything is sent.
    fn upload_request(&self, path: Option<&str>) -> Result<reqwest::RequestBuilder> {
        let mut request = self.files_request(reqwest::Method::POST, path);
        for (key, value) in &self.metadata {
            let name = reqwest::header::HeaderName::try_from(format!("x-metadata-{key}")).map_err(
                |e| Error::invalid_argument(format!("invalid metadata key {key:?}")).with_source(e),
            )?;
            let value = reqwest::header::HeaderValue::from_str(value).map_err(|e| {
                Error::invalid_argument(format!("invalid metadata value for key {key:?}"))
                    .with_source(e)
            })?;
            request = request.header(name, value);
        }
        Ok(request)
    }

    fn files_request(
        &self,
        method: reqwest::Method,
        path: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(path) = path {
            query.push(("path", path));
        }
        if let Some(user) = self.client.user() {
            query.push(("username", user));
        }
        self.client.http_request(method, "/files").query(&query)
    }

    /// Starts a download of `path`; chunks arrive as envd sends them.
    pub async fn read_stream(&self, path: &str) -> Result<FileStream> {
        let response = self
            .files_request(reqwest::Method::GET, Some(path))
            .header("accept-encoding", "identity")
            .send_checked()
            .await?;
        let len = response.content_length();
        Ok(FileStream {
            inner: response.bytes_stream().map_err(Error::transport).boxed(),
            len,
        })
    }

    /// Downloads `path` as an [`AsyncRead`].
    pub async fn read_reader(&self, path: &str) -> Result<impl AsyncRead + Send + Unpin + 'static> {
        Ok(self.read_stream(path).await?.into_reader())
    }

    /// Downloads `path` into memory.
    pub async fn read(&self, path: &str) -> Result<Bytes> {
        self.files_request(reqwest::Method::GET, Some(path))
            .header("accept-encoding", "identity")
            .send_checked()
            .await?
            .bytes()
            .await
            .map_err(Error::transport)
    }

    /// Downloads `path` as UTF-8 text; other bytes are an
    /// [`InvalidArgument`](crate::Code::InvalidArgument) error.
    pub async fn read_text(&self, path: &str) -> Result<String> {
        let bytes = self.read(path).await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            Error::invalid_argument(format!("{path} is not valid UTF-8")).with_source(e)
        })
    }

    async fn upload(&self, path: &str, body: reqwest::Body) -> Result<WriteInfo> {
        let response = self
            .upload_request(Some(path))?
            .header("content-type", "application/octet-stream")
            .body(body)
            .send_checked()
            .await?;
        let mut written: Vec<WriteInfo> = response.json().await.map_err(Error::transport)?;
        if written.is_empty() {
            return Err(Error::protocol("envd reported no written file"));
        }
        Ok(written.swap_remove(0))
    }

    /// Writes `data` to `path` (parents created, file replaced).
    pub async fn write(&self, path: &str, data: impl Into<Bytes>) -> Result<WriteInfo> {
        self.upload(path, reqwest::Body::from(data.into())).await
    }

    /// Writes text to `path`.
    pub async fn write_text(&self, path: &str, text: impl Into<String>) -> Result<WriteInfo> {
        self.write(path, Bytes::from(text.into())).await
    }

    /// Streams `reader` into `path` without buffering it (chunked upload).
    pub async fn write_reader<R>(&self, path: &str, reader: R) -> Result<WriteInfo>
    where
        R: AsyncRead + Send + 'static,
    {
        self.upload(path, reqwest::Body::wrap_stream(ReaderStream::new(reader)))
            .await
    }

    /// Streams the chunks of `stream` into `path` without buffering them.
    pub async fn write_stream<S, E>(&self, path: &str, stream: S) -> Result<WriteInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        self.upload(path, reqwest::Body::wrap_stream(stream)).await
    }

    /// Writes several files in one multipart request, in order.
    pub async fn write_many<I, P, D>(&self, files: I) -> Result<Vec<WriteInfo>>
    where
        I: IntoIterator<Item = (P, D)>,
        P: Into<String>,
        D: Into<Bytes>,
    {
        let mut form = reqwest::multipart::Form::new();
        for (path, data) in files {
            let part = reqwest::multipart::Part::stream(reqwest::Body::from(data.into()))
                .file_name(path.into())
                .mime_str("application/octet-stream")
                .map_err(Error::transport)?;
            form = form.part("file", part);
        }
        self.upload_request(None)?
            .multipart(form)
            .send_checked()
            .await?
            .json()
            .await
            .map_err(Error::transport)
    }

    /// Concatenates `sources`, in order, into `destination` (replacing it,
    /// parents created, owned by the user) and then deletes the sources
    /// (`POST /files/compose`). The sources must be regular files other
    /// than the destination. Paths resolve like every other path (relative
    /// to the user's home).
    pub async fn compose<I, S>(&self, sources: I, destination: &str) -> Result<WriteInfo>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        #[derive(serde::Serialize)]
        struct Request<'a> {
            source_paths: Vec<String>,
            destination: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            username: Option<&'a str>,
        }
        let body = Request {
            source_paths: sources.into_iter().map(Into::into).collect(),
            destination,
            username: self.client.user(),
        };
        self.client
            .http_request(reqwest::Method::POST, "/files/compose")
            .json(&body)
            .send_checked()
            .await?
            .json()
            .await
            .map_err(Error::transport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn error_of(status: u16, body: &str) -> Error {
        let response = http::Response::builder()
            .status(status)
            .body(body.to_owned())
            .unwrap();
        check(reqwest::Response::from(response)).await.unwrap_err()
    }

    #[tokio::test]
    async fn the_body_names_the_code_and_the_status_is_the_fallback() {
        let named = error_of(
            409,
            r#"{"code":409,"connectCode":"failed_precondition","message":"not yet","reason":"ERROR_REASON_NOT_INITIALIZED"}"#,
        )
        .await;
        assert_eq!(named.code(), Code::FailedPrecondition);
        assert_eq!(named.http_status(), Some(409));
        assert_eq!(named.message(), "not yet");
        // E2B's body (no connectCode), plain text and an unknown name: the status decides.
        let e2b = error_of(409, r#"{"code":409,"message":"exists"}"#).await;
        assert_eq!(e2b.code(), Code::AlreadyExists);
        assert_eq!(
            error_of(401, "bad token").await.code(),
            Code::Unauthenticated
        );
        let unknown = error_of(404, r#"{"code":404,"connectCode":"nope","message":"x"}"#).await;
        assert_eq!(unknown.code(), Code::NotFound);
    }
}

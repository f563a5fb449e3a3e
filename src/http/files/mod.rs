//! `GET /files` (download) and `POST /files` (upload), spec §5.6–5.7, and
//! `POST /files/compose` (§5.8).
//!
//! `/files` is excluded from the general token guard: it accepts either the
//! `X-Access-Token` header or a signed URL (§6.3), checked here.
//! `/files/compose` is guarded like every other route.

mod compose;
mod conditional;
mod content_type;
mod disposition;
mod download;
mod encoding;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
mod metadata;
mod range;
mod upload;

use std::path::PathBuf;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query};
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};

use crate::auth::signing::{self, Operation};
use crate::config::Defaults;
use crate::identity::{self, User};
use crate::state::AppState;

/// What `/files` requests fail with beyond the shared error kinds. The
/// messages are the wire messages SDKs show.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query parameter has the wrong format.
    #[error("Invalid format for parameter {name}: {value:?}")]
    BadParameter {
        /// The parameter.
        name: &'static str,
        /// The value received.
        value: String,
    },
    /// Neither a valid token header nor a valid signature.
    #[error(transparent)]
    Signing(#[from] signing::Error),
    /// The requested user does not exist.
    #[error("error looking up user '{name}': {reason}")]
    User {
        /// The name looked up.
        name: String,
        /// Why it failed.
        reason: String,
    },
    /// The file to download does not exist.
    #[error("path '{}' does not exist", .0.display())]
    NotFound(PathBuf),
    /// The download path is a directory.
    #[error("path '{}' is a directory", .0.display())]
    IsDirectory(PathBuf),
    /// The download path is a device, FIFO or socket.
    #[error("path '{}' is not a regular file", .0.display())]
    NotRegularFile(PathBuf),
    /// The file exists but cannot be read.
    #[error("error reading file '{}': {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `Accept-Encoding` allows nothing envd can send.
    #[error("error parsing Accept-Encoding: no acceptable encoding found, supported: [gzip]")]
    NoAcceptableEncoding,
    /// A range or conditional request that forbids identity.
    #[error("identity encoding not acceptable for Range or conditional request")]
    IdentityNotAcceptable,
    /// `If-Match` / `If-Unmodified-Since` failed.
    #[error("precondition failed")]
    PreconditionFailed,
    /// `Range` cannot be satisfied for a file of `size` bytes.
    #[error("invalid range{}", if *.no_overlap { ": failed to overlap" } else { "" })]
    RangeNotSatisfiable {
        /// The file size, for `Content-Range: bytes */size`.
        size: u64,
        /// Whether the ranges were valid but all past the end.
        no_overlap: bool,
    },
    /// The request body is not valid gzip.
    #[error("error decompressing request body: {0}")]
    Decompress(String),
    /// `Content-Encoding` other than identity or gzip.
    #[error(
        "error decompressing request body: unsupported Content-Encoding: {0}, supported: [gzip]"
    )]
    UnsupportedContentEncoding(String),
    /// The `X-Metadata-*` headers cannot be stored.
    #[error("invalid metadata: {0}")]
    InvalidMetadata(#[from] metadata::Invalid),
    /// An `application/octet-stream` upload without `path`.
    #[error("path query parameter is required for raw body upload")]
    PathRequired,
    /// Neither multipart nor octet-stream.
    #[error(
        "unsupported content type: {0}, expected multipart/form-data or application/octet-stream"
    )]
    UnsupportedContentType(String),
    /// The multipart body is malformed.
    #[error("error parsing multipart form: {0}")]
    Multipart(String),
    /// A `file` part without a filename, and no `path` parameter.
    #[error("missing filename in multipart part 'file' and no path query parameter")]
    MissingFilename,
    /// Two parts resolve to the same path.
    #[error(
        "you cannot upload multiple files to the same path '{path}' in one upload request, only the first specified file was uploaded{also}"
    )]
    DuplicatePath {
        /// The path both parts resolve to.
        path: String,
        /// `, also the following files were uploaded: …` or empty.
        also: String,
    },
    /// Writing an uploaded file failed.
    #[error(transparent)]
    Write(#[from] crate::fs::write::Error),
}

/// The `/files` routes. Upload bodies have no size limit: they are
/// streamed to disk. A compose body is read up to its own bound.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/files", get(download::get).post(upload::post))
        .layer(DefaultBodyLimit::disable())
        .route("/files/compose", post(compose::post))
}

/// The query parameters of both routes. A parameter that is present but
/// empty is present.
#[derive(Debug, Default)]
struct Params {
    path: Option<String>,
    username: Option<String>,
    signature: Option<String>,
    signature_expiration: Option<i64>,
}

impl Params {
    /// Parses the query; the first occurrence of a parameter wins.
    fn parse(uri: &Uri) -> Result<Self, Error> {
        let pairs: Vec<(String, String)> = Query::try_from_uri(uri)
            .map(|Query(pairs)| pairs)
            .unwrap_or_default();
        let mut params = Self::default();
        let mut expiration = None;
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "path" => &mut params.path,
                "username" => &mut params.username,
                "signature" => &mut params.signature,
                "signature_expiration" => &mut expiration,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        if let Some(value) = expiration {
            params.signature_expiration =
                Some(value.trim().parse().map_err(|_| Error::BadParameter {
                    name: "signature_expiration",
                    value,
                })?);
        }
        Ok(params)
    }

    /// Checks the token header or the signature for `operation`.
    fn authorize(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        operation: Operation,
    ) -> Result<(), Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let request = signing::Request {
            path: self.path.as_deref(),
            username: self.username.as_deref(),
            signature: self.signature.as_deref(),
            expiration: self.signature_expiration,
            header_token: headers.get("x-access-token").map(|v| v.as_bytes()),
        };
        Ok(signing::validate(&state.token, operation, &request, now)?)
    }

    /// The user name: the `username` parameter verbatim when present (even
    /// empty), else the default user.
    fn user_name(&self, defaults: &Defaults) -> String {
        self.username
            .clone()
            .unwrap_or_else(|| defaults.user.clone())
    }
}

/// Looks `name` up in passwd; failures are 401.
fn lookup(name: String) -> Result<User, Error> {
    identity::lookup(&name).map_err(|e| {
        let reason = match e {
            identity::Error::UnknownUser(_) => format!("user: unknown user {name}"),
            identity::Error::Lookup { source, .. } => source.to_string(),
        };
        Error::User { name, reason }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Params, Error> {
        Params::parse(&format!("/files?{query}").parse().unwrap())
    }

    #[test]
    fn params_keep_presence_and_raw_values() {
        let p =
            parse("path=%2Fa%20b%2B&username=&signature=v1_a%2Bb&signature_expiration=17").unwrap();
        assert_eq!(p.path.as_deref(), Some("/a b+"));
        assert_eq!(p.username.as_deref(), Some(""));
        assert_eq!(p.signature.as_deref(), Some("v1_a+b"));
        assert_eq!(p.signature_expiration, Some(17));
        let p = parse("path=first&path=second").unwrap();
        assert_eq!(p.path.as_deref(), Some("first"));
        assert_eq!(p.username, None);
        assert!(matches!(
            parse("signature_expiration=soon"),
            Err(Error::BadParameter { .. })
        ));
    }

    #[test]
    fn unknown_user_message() {
        let err = lookup("no-such-user-envd".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error looking up user 'no-such-user-envd': user: unknown user no-such-user-envd"
        );
    }
}

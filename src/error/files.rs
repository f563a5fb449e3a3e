//! The errors of `GET`/`POST /files` and `POST /files/compose` (spec
//! §5.6–5.8).

use crate::{auth, fs};

/// What `/files` requests fail with beyond the shared error kinds. The
/// messages are the wire messages SDKs show. The adapter detects most of
/// them; they live here, with [`super::RequestError`], so the error table
/// names them without importing the adapter.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
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
    Signing(#[from] auth::signing::Error),
    /// The requested user does not exist.
    #[error("error looking up user '{name}': {reason}")]
    User {
        /// The name looked up.
        name: String,
        /// Why it failed.
        reason: String,
    },
    /// The file to download cannot be opened or read.
    #[error(transparent)]
    Read(#[from] fs::read::Error),
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
    InvalidMetadata(#[from] fs::metadata::Invalid),
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
    Write(#[from] fs::write::Error),
}

//! The daemon's error type and the only place that maps errors to Connect
//! codes and HTTP statuses.
//!
//! Domain modules return their own typed errors; adapters convert them with
//! `?` into [`Error`] and never choose a code or status themselves.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use connectrpc_axum::{Code, ConnectError};

use crate::http::files;
use crate::{auth, fs, host, identity, process, upgrade};

mod reason;

/// The Connect error-detail type envd attaches to every RPC error.
const DETAIL_TYPE: &str = "envd.common.v1.ErrorDetail";

/// The binary `ErrorDetail` for `reason`.
fn detail_bytes(reason: envd_proto::envd::common::v1::ErrorReason) -> Vec<u8> {
    let detail = envd_proto::envd::common::v1::ErrorDetail {
        reason: reason.into(),
    };
    prost::Message::encode_to_vec(&detail)
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A process operation failed.
    #[error(transparent)]
    Process(#[from] process::Error),
    /// The request's user could not be used.
    #[error(transparent)]
    Identity(#[from] identity::Error),
    /// A path could not be resolved.
    #[error(transparent)]
    Path(#[from] fs::path::Error),
    /// The request itself is malformed.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A process event stream ended abnormally.
    #[error(transparent)]
    Stream(#[from] process::Fault),
    /// A guest integration (metrics, page cache, clock) failed.
    #[error(transparent)]
    Host(#[from] host::Error),
    /// The access token is set and the request does not carry it.
    #[error(transparent)]
    Unauthorized(#[from] auth::Unauthorized),
    /// `/init` rejected its `accessToken`.
    #[error(transparent)]
    InitToken(#[from] auth::InitTokenError),
    /// A `/files` download or upload failed.
    #[error(transparent)]
    Files(#[from] files::Error),
    /// A filesystem RPC failed.
    #[error(transparent)]
    Fs(#[from] fs::Error),
    /// `/files/compose` failed.
    #[error(transparent)]
    Compose(#[from] fs::compose::Error),
    /// `/freeze` or `/unfreeze` failed.
    #[error(transparent)]
    Freeze(#[from] host::freeze::Error),
    /// `/fsfreeze` or `/fsthaw` failed.
    #[error(transparent)]
    FsFreeze(#[from] host::fsfreeze::Error),
    /// `/init caBundle` could not be installed.
    #[error(transparent)]
    Ca(#[from] host::ca::Error),
    /// `/init volumeMounts` could not be mounted.
    #[error(transparent)]
    Mount(#[from] host::mounts::Error),
    /// A live upgrade did not happen.
    #[error(transparent)]
    Upgrade(#[from] upgrade::Error),
    /// envd is shutting down; the client should reconnect to its successor.
    #[error("envd is shutting down")]
    ShuttingDown,
}

/// Malformed requests, detected by the adapters.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A required oneof was not set.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A header value could not be parsed.
    #[error("invalid {header} header: {value:?}")]
    BadHeader {
        /// Header name.
        header: &'static str,
        /// The value received.
        value: String,
    },
    /// The `Authorization` header is not `Basic` with a base64 user.
    #[error("invalid Authorization header: {0}")]
    BadAuthorization(&'static str),
    /// The signal is not one clients may send.
    #[error("invalid signal: {0}")]
    UnsupportedSignal(i32),
    /// Input arrived on a stream before it selected a process.
    #[error("stream input: data received before start")]
    InputBeforeStart,
    /// A request body is not the JSON the endpoint takes.
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// A request body is not the gzip its `Content-Encoding` claims.
    #[error("request body is not valid gzip: {0}")]
    BadEncoding(String),
    /// A request body field has an unusable value.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
}

impl Error {
    /// The Connect code for this error (spec §3.6).
    pub fn code(&self) -> Code {
        use process::Error as P;
        match self {
            Self::Process(e) => match e {
                P::PidNotFound(_) | P::TagNotFound(_) => Code::NotFound,
                P::CwdMissing(_)
                | P::CwdDenied { .. }
                | P::Path(_)
                | P::InvalidPtySize { .. }
                | P::Spawn(_) => Code::InvalidArgument,
                P::CloseStdinOnPty => Code::Unknown,
                P::Io(_)
                | P::NotAPty
                | P::StdinOnPty
                | P::StdinClosed
                | P::WriteStdin(_)
                | P::WritePty(_)
                | P::Resize(_)
                | P::Signal(_) => Code::Internal,
                P::SequenceGap { .. } => Code::Aborted,
                P::SequenceOutOfRange { .. } | P::OffsetOutOfRange { .. } => Code::OutOfRange,
                P::SequenceBacklog { .. } => Code::ResourceExhausted,
            },
            Self::Stream(process::Fault::FellBehind(_)) => Code::ResourceExhausted,
            Self::Stream(process::Fault::Closed) => Code::Unavailable,
            Self::Identity(_) => Code::Unauthenticated,
            Self::Path(_) => Code::InvalidArgument,
            Self::Host(_) => Code::Internal,
            Self::Files(e) => files_code(e),
            Self::Fs(e) => fs_code(e),
            Self::Compose(e) => compose_code(e),
            Self::Freeze(e) => lifecycle_code(e),
            Self::FsFreeze(e) => lifecycle_code(e),
            Self::Ca(e) => lifecycle_code(e),
            Self::Mount(e) => lifecycle_code(e),
            Self::Upgrade(e) => upgrade_code(e),
            Self::ShuttingDown => Code::Unavailable,
            Self::Unauthorized(_) => Code::Unauthenticated,
            Self::InitToken(e) => match e {
                auth::InitTokenError::Mismatch | auth::InitTokenError::ResetNotAuthorized => {
                    Code::Unauthenticated
                }
                auth::InitTokenError::Malformed(_) => Code::InvalidArgument,
            },
            Self::Request(e) => match e {
                RequestError::Missing(_) | RequestError::BadHeader { .. } => Code::InvalidArgument,
                RequestError::BadAuthorization(_) => Code::Unauthenticated,
                RequestError::UnsupportedSignal(_) => Code::Unimplemented,
                RequestError::InputBeforeStart => Code::FailedPrecondition,
                RequestError::InvalidBody(_)
                | RequestError::BadEncoding(_)
                | RequestError::InvalidField { .. } => Code::InvalidArgument,
            },
        }
    }

    /// The HTTP status for this error on plain-HTTP endpoints.
    pub fn status(&self) -> StatusCode {
        // Download outcomes that have no Connect code of their own.
        match self {
            Self::Files(
                files::Error::NoAcceptableEncoding | files::Error::IdentityNotAcceptable,
            ) => {
                return StatusCode::NOT_ACCEPTABLE;
            }
            Self::Files(files::Error::RangeNotSatisfiable { .. }) => {
                return StatusCode::RANGE_NOT_SATISFIABLE;
            }
            Self::Files(files::Error::PreconditionFailed) => {
                return StatusCode::PRECONDITION_FAILED;
            }
            Self::Upgrade(upgrade::Error::NotInitialized | upgrade::Error::Busy) => {
                return StatusCode::CONFLICT;
            }
            Self::Upgrade(upgrade::Error::TooLarge(_)) => return StatusCode::PAYLOAD_TOO_LARGE,
            _ => {}
        }
        match self.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                StatusCode::BAD_REQUEST
            }
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::ResourceExhausted => StatusCode::INSUFFICIENT_STORAGE,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message sent to clients. Internal errors are logged in full and
    /// sent as they are: they carry OS errors, not secrets, and the SDKs
    /// show them to users who need them to debug.
    fn message(&self) -> String {
        self.to_string()
    }
}

impl From<Error> for ConnectError {
    fn from(err: Error) -> Self {
        let code = err.code();
        if code == Code::Internal || code == Code::Unknown {
            tracing::warn!(error = %err, ?code, "request failed");
        }
        let detail = detail_bytes(err.reason());
        ConnectError::new(code, err.message()).add_detail(DETAIL_TYPE, detail)
    }
}

/// The Connect code of a `/files` error (spec §5.6, §5.7).
fn files_code(e: &files::Error) -> Code {
    use files::Error as F;
    match e {
        F::Signing(_) | F::User { .. } => Code::Unauthenticated,
        F::NotFound(_) => Code::NotFound,
        F::BadParameter { .. }
        | F::IsDirectory(_)
        | F::NotRegularFile(_)
        | F::NoAcceptableEncoding
        | F::IdentityNotAcceptable
        | F::Decompress(_)
        | F::UnsupportedContentEncoding(_)
        | F::PathRequired
        | F::UnsupportedContentType(_)
        | F::MissingFilename
        | F::InvalidMetadata(_)
        | F::DuplicatePath { .. } => Code::InvalidArgument,
        F::PreconditionFailed => Code::FailedPrecondition,
        F::RangeNotSatisfiable { .. } => Code::OutOfRange,
        F::Read { .. } | F::Multipart(_) => Code::Internal,
        F::Write(w) => match w {
            fs::write::Error::IsDirectory(_) | fs::write::Error::Source(_) => Code::InvalidArgument,
            fs::write::Error::NoInodes(_)
            | fs::write::Error::NoSpace { .. }
            | fs::write::Error::Metadata(fs::metadata::StoreError::NoSpace(_)) => {
                Code::ResourceExhausted
            }
            fs::write::Error::Parents(_)
            | fs::write::Error::Io { .. }
            | fs::write::Error::Metadata(fs::metadata::StoreError::Io(_)) => Code::Internal,
        },
    }
}

/// The Connect code of a `/files/compose` error (spec §5.8).
fn compose_code(e: &fs::compose::Error) -> Code {
    use fs::compose::Error as C;
    match e {
        C::NoSources | C::NoDestination | C::SourceIsDestination(_) | C::NotRegular(_) => {
            Code::InvalidArgument
        }
        C::SourceNotFound(_) => Code::NotFound,
        C::NoSpace => Code::ResourceExhausted,
        C::Parents(_) | C::Io { .. } => Code::Internal,
    }
}

/// The lifecycle operations' errors, by what the orchestrator should do.
trait Lifecycle {
    fn code(&self) -> Code;
}

/// Another freeze/unfreeze is running: retry (503, never queued).
impl Lifecycle for host::freeze::Error {
    fn code(&self) -> Code {
        match self {
            Self::Busy => Code::Unavailable,
            _ => Code::Internal,
        }
    }
}

/// Another fsfreeze/fsthaw is running: retry (503); an ioctl failed: 500.
impl Lifecycle for host::fsfreeze::Error {
    fn code(&self) -> Code {
        match self {
            Self::Busy => Code::Unavailable,
            _ => Code::Internal,
        }
    }
}

/// `/init` apply errors are 400 (spec §5.4, [E2B]); CA lock contention 503.
impl Lifecycle for host::ca::Error {
    fn code(&self) -> Code {
        match self {
            Self::Busy => Code::Unavailable,
            Self::Invalid(_) => Code::InvalidArgument,
            Self::Write { .. } => Code::FailedPrecondition,
            Self::Join(_) => Code::Internal,
        }
    }
}

/// `/init` apply errors are 400 (spec §5.4, [E2B]).
impl Lifecycle for host::mounts::Error {
    fn code(&self) -> Code {
        match self {
            Self::RelativePath(_) => Code::InvalidArgument,
            _ => Code::FailedPrecondition,
        }
    }
}

fn lifecycle_code(e: &impl Lifecycle) -> Code {
    e.code()
}

/// The Connect code of a live-upgrade error (spec §5.8).
fn upgrade_code(e: &upgrade::Error) -> Code {
    use upgrade::Error as U;
    match e {
        U::NotInitialized | U::Busy => Code::FailedPrecondition,
        U::BadTarget(_) | U::NotExecutable(_) | U::Body(_) => Code::InvalidArgument,
        U::TooLarge(_) => Code::ResourceExhausted,
        U::BinaryMissing(_) => Code::NotFound,
        U::WriteBinary(_) | U::SchemaRejected { .. } | U::Capture(_) | U::Exec(_) => Code::Internal,
    }
}

/// The Connect code of a filesystem RPC error (spec §4.4).
fn fs_code(e: &fs::Error) -> Code {
    use fs::Error as F;
    match e {
        F::NotFound(_)
        | F::SourceNotFound(_)
        | F::PathNotFound(_)
        | F::WatchPathNotFound(_)
        | F::WatcherNotFound(_) => Code::NotFound,
        F::DirExists(_) => Code::AlreadyExists,
        F::ExistsNotADirectory(_)
        | F::NotADirectory(_)
        | F::WatchNotADirectory(_)
        | F::NetworkMount(_)
        | F::RemoveRoot => Code::InvalidArgument,
        F::CyclicSymlink(_) => Code::FailedPrecondition,
        F::Watch(_) | F::Dirs(_) => Code::Internal,
        F::Stat { source, .. }
        | F::Resolve { source, .. }
        | F::ReadDir { source, .. }
        | F::Rename { source, .. }
        | F::Remove { source, .. } => io_code(source.kind()),
    }
}

/// The one `io::ErrorKind` → Connect code table, for I/O failures that
/// have no code of their own. Everything not listed is `internal` (§4.4).
pub(crate) fn io_code(kind: std::io::ErrorKind) -> Code {
    use std::io::ErrorKind as K;
    match kind {
        K::NotFound => Code::NotFound,
        K::AlreadyExists => Code::AlreadyExists,
        K::PermissionDenied => Code::PermissionDenied,
        K::StorageFull | K::QuotaExceeded => Code::ResourceExhausted,
        // ENAMETOOLONG: a component over 255 bytes is the caller's mistake.
        K::InvalidFilename => Code::InvalidArgument,
        _ => Code::Internal,
    }
}

/// The JSON error body of every plain-HTTP endpoint.
#[derive(Debug, serde::Serialize)]
pub struct HttpErrorBody {
    /// HTTP status code.
    pub code: u16,
    /// What went wrong.
    pub message: String,
    /// The `envd.common.v1.ErrorReason` value name.
    pub reason: &'static str,
    /// The same reason as a Connect error detail, so Connect clients that
    /// get this body for an RPC (the token guard answers before routing)
    /// find it where they look.
    pub details: [HttpErrorDetail; 1],
}

/// A Connect error detail in JSON: the message type and its binary
/// encoding in unpadded standard base64.
#[derive(Debug, serde::Serialize)]
pub struct HttpErrorDetail {
    /// `envd.common.v1.ErrorDetail`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The encoded `ErrorDetail`.
    pub value: String,
}

/// Builds the JSON error response for `status`, `message` and `reason`.
fn http_error(
    status: StatusCode,
    message: String,
    reason: envd_proto::envd::common::v1::ErrorReason,
) -> Response {
    let mut response = (
        status,
        axum::Json(HttpErrorBody {
            code: status.as_u16(),
            message,
            reason: reason.as_str_name(),
            details: [HttpErrorDetail {
                kind: DETAIL_TYPE,
                value: base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD_NO_PAD,
                    detail_bytes(reason),
                ),
            }],
        }),
    )
        .into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response.headers_mut().insert(
        "x-content-type-options",
        axum::http::HeaderValue::from_static("nosniff"),
    );
    // Also in a header: Connect clients do not read the body of a failed
    // streaming call, but they do keep its headers.
    response.headers_mut().insert(
        REASON_HEADER,
        axum::http::HeaderValue::from_static(reason.as_str_name()),
    );
    response
}

/// The response header that repeats a plain-HTTP error's reason.
pub const REASON_HEADER: &str = "envd-error-reason";

impl Error {
    /// The response `/init` sends: the same status as every other endpoint,
    /// with the message as a plain-text body (spec §5.4: the host and the
    /// E2B orchestrator read `/init` errors as text).
    pub fn into_plain_text_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, %status, "request failed");
        }
        (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            self.message(),
        )
            .into_response()
    }
}

impl Error {
    /// The gRPC / gRPC-Web answer for requests rejected before reaching a
    /// handler: a trailers-only response (HTTP 200, `grpc-status` and the
    /// reason detail in the headers), which gRPC clients read as a status
    /// instead of failing on a JSON body. `content_type` is the request's.
    pub fn into_grpc_response(self, content_type: &axum::http::HeaderValue) -> Response {
        let status = tonic::Status::from(ConnectError::from(self));
        let mut response: Response = status.into_http();
        // gRPC-Web clients expect their own content type back.
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, content_type.clone());
        response
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, %status, "request failed");
        }
        let reason = self.reason();
        http_error(status, self.message(), reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_statuses() {
        use host::{ca, freeze, fsfreeze, mounts};
        let status = |e: Error| e.status().as_u16();
        assert_eq!(status(freeze::Error::Busy.into()), 503);
        assert_eq!(status(freeze::Error::NotCgroup2("/x".into()).into()), 500);
        assert_eq!(status(fsfreeze::Error::Busy.into()), 503);
        assert_eq!(
            status(
                fsfreeze::Error::Freeze {
                    path: "/".into(),
                    source: std::io::Error::from_raw_os_error(95)
                }
                .into()
            ),
            500
        );
        assert_eq!(status(ca::Error::Busy.into()), 503);
        assert_eq!(status(ca::Error::Invalid("x").into()), 400);
        assert_eq!(
            status(
                ca::Error::Write {
                    path: "/x".into(),
                    source: std::io::Error::from_raw_os_error(13)
                }
                .into()
            ),
            400
        );
        assert_eq!(status(mounts::Error::RelativePath("x".into()).into()), 400);
        assert_eq!(
            status(
                mounts::Error::TimedOut {
                    target: "t".into(),
                    path: "/p".into(),
                    after: std::time::Duration::from_secs(10)
                }
                .into()
            ),
            400
        );
    }
}

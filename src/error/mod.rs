//! The daemon's error type and the only place that maps errors to Connect
//! codes, reasons and HTTP statuses: [`Error::classify`] decides all three
//! together, per variant (`table.rs`), and `respond.rs` turns that into the
//! answer of every protocol (Connect, gRPC and gRPC-Web, plain HTTP).
//!
//! Domain modules return their own typed errors; adapters convert them with
//! `?` into [`Error`] and never choose a code or status themselves. This
//! module sits below the adapters: it names domain errors, never `http` or
//! `rpc` types.

use crate::{auth, fs, host, identity, process, upgrade};

mod files;
mod respond;
mod table;

pub use files::FilesError;
pub use respond::{HttpErrorBody, HttpErrorDetail, REASON_HEADER};
pub use table::Class;

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
    Files(#[from] FilesError),
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
    /// A gRPC call's `grpc-timeout` passed before it finished.
    #[error("deadline exceeded")]
    DeadlineExceeded,
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

//! The SDK's one error type: a Connect code, a message and, for plain-HTTP
//! calls, the HTTP status. Callers branch on [`Error::code`], never on text.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use envd_proto::envd::common::v1::{ErrorDetail, ErrorReason};
use prost::Message;

/// The fully qualified name of the detail envd attaches to errors.
pub(crate) const DETAIL_TYPE: &str = "envd.common.v1.ErrorDetail";

/// `google.rpc.Status`, the payload of `grpc-status-details-bin`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<RpcAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcAny {
    #[prost(string, tag = "1")]
    pub(crate) type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
}

/// The envd reason carried in a `google.rpc.Status`, if any.
fn reason_from_details(details: &[u8]) -> Option<ErrorReason> {
    let status = RpcStatus::decode(details).ok()?;
    status
        .details
        .iter()
        .filter(|any| any.type_url.rsplit('/').next() == Some(DETAIL_TYPE))
        .find_map(|any| ErrorDetail::decode(any.value.as_slice()).ok())
        .and_then(|detail| ErrorReason::try_from(detail.reason).ok())
        .filter(|reason| *reason != ErrorReason::Unspecified)
}

/// A Connect (and gRPC) status code.
///
/// Plain-HTTP failures (`/files`, `/init`, …) carry one too: envd's JSON
/// error body names it (`connectCode`); a body without one falls back to
/// [`Code::from_http_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// The operation was cancelled.
    Canceled,
    /// Unknown error.
    Unknown,
    /// The request was malformed or named something invalid.
    InvalidArgument,
    /// The deadline passed before the operation finished.
    DeadlineExceeded,
    /// A path, process or watcher does not exist.
    NotFound,
    /// The thing to create already exists.
    AlreadyExists,
    /// The caller may not do this.
    PermissionDenied,
    /// Out of space, quota or rate.
    ResourceExhausted,
    /// The system is not in a state that allows the operation.
    FailedPrecondition,
    /// The operation was aborted.
    Aborted,
    /// Out of range (e.g. an unsatisfiable byte range).
    OutOfRange,
    /// The server does not implement this.
    Unimplemented,
    /// An internal server error.
    Internal,
    /// The server is unreachable, or a stream stalled past its keepalive.
    Unavailable,
    /// Unrecoverable data loss.
    DataLoss,
    /// Missing or wrong access token, or unknown user.
    Unauthenticated,
}

impl Code {
    /// The Connect wire name, e.g. `not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canceled => "canceled",
            Self::Unknown => "unknown",
            Self::InvalidArgument => "invalid_argument",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::PermissionDenied => "permission_denied",
            Self::ResourceExhausted => "resource_exhausted",
            Self::FailedPrecondition => "failed_precondition",
            Self::Aborted => "aborted",
            Self::OutOfRange => "out_of_range",
            Self::Unimplemented => "unimplemented",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::DataLoss => "data_loss",
            Self::Unauthenticated => "unauthenticated",
        }
    }

    /// The code named `name` on the wire (`"not_found"`), as envd's JSON
    /// error bodies carry it in `connectCode`.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|code| code.as_str() == name)
    }

    /// The fallback for a failed plain-HTTP response whose body names no
    /// code (`/init`'s plain text, a proxy's 502, an older envd): 400 and
    /// 406 invalid_argument, 401 unauthenticated, 403 permission_denied,
    /// 404 not_found, 408 and 504 deadline_exceeded, 409 already_exists,
    /// 412 failed_precondition, 413, 429 and 507 resource_exhausted, 416
    /// out_of_range, 499 canceled, 500 internal, 501 unimplemented, 502 and
    /// 503 unavailable; anything else unknown. The same table as sdk-ts's,
    /// both tested against `conformance/http-status-fallback.json`.
    pub fn from_http_status(status: u16) -> Self {
        match status {
            400 | 406 => Self::InvalidArgument,
            401 => Self::Unauthenticated,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            408 | 504 => Self::DeadlineExceeded,
            409 => Self::AlreadyExists,
            412 => Self::FailedPrecondition,
            413 | 429 | 507 => Self::ResourceExhausted,
            416 => Self::OutOfRange,
            499 => Self::Canceled,
            500 => Self::Internal,
            501 => Self::Unimplemented,
            502 | 503 => Self::Unavailable,
            _ => Self::Unknown,
        }
    }

    fn from_tonic(code: tonic::Code) -> Self {
        match code {
            tonic::Code::Cancelled => Self::Canceled,
            tonic::Code::InvalidArgument => Self::InvalidArgument,
            tonic::Code::DeadlineExceeded => Self::DeadlineExceeded,
            tonic::Code::NotFound => Self::NotFound,
            tonic::Code::AlreadyExists => Self::AlreadyExists,
            tonic::Code::PermissionDenied => Self::PermissionDenied,
            tonic::Code::ResourceExhausted => Self::ResourceExhausted,
            tonic::Code::FailedPrecondition => Self::FailedPrecondition,
            tonic::Code::Aborted => Self::Aborted,
            tonic::Code::OutOfRange => Self::OutOfRange,
            tonic::Code::Unimplemented => Self::Unimplemented,
            tonic::Code::Internal => Self::Internal,
            tonic::Code::Unavailable => Self::Unavailable,
            tonic::Code::DataLoss => Self::DataLoss,
            tonic::Code::Unauthenticated => Self::Unauthenticated,
            // `Ok` never reaches an error; treat it like anything unexpected.
            tonic::Code::Ok | tonic::Code::Unknown => Self::Unknown,
        }
    }
}

/// Every code, for [`Code::from_name`].
const ALL: [Code; 16] = [
    Code::Canceled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from envd or from reaching it.
///
/// Opaque on purpose: inspect it with [`code`](Error::code),
/// [`message`](Error::message), [`http_status`](Error::http_status) and
/// [`source`](StdError::source). New failure kinds never change this type.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    code: Code,
    message: String,
    http_status: Option<u16>,
    reason: Option<ErrorReason>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                code,
                message: message.into(),
                http_status: None,
                reason: None,
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// A copy with the same code, message and status (the source is not
    /// cloneable and is dropped), for reporting one failure to many waiters.
    pub(crate) fn duplicate(&self) -> Self {
        let mut copy = Self::new(self.inner.code, self.inner.message.clone());
        copy.inner.http_status = self.inner.http_status;
        copy.inner.reason = self.inner.reason;
        copy
    }

    /// A failed plain-HTTP response: `code` is the body's `connectCode`,
    /// else the status's fallback.
    pub(crate) fn http(status: u16, code: Option<Code>, message: impl Into<String>) -> Self {
        let code = code.unwrap_or_else(|| Code::from_http_status(status));
        let mut error = Self::new(code, message);
        error.inner.http_status = Some(status);
        error
    }

    /// Sets the reason from envd's JSON error body (`reason` is the
    /// `ErrorReason` value name).
    pub(crate) fn with_reason_name(mut self, name: Option<&str>) -> Self {
        self.inner.reason = name
            .and_then(ErrorReason::from_str_name)
            .filter(|reason| *reason != ErrorReason::Unspecified);
        self
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// A server stream delivered nothing, not even a keepalive, for `waited`.
    /// The one reason the SDK reports itself: `ErrorReason::StreamStalled`
    /// (envd never sends it).
    pub(crate) fn stalled(what: &str, waited: Duration, interval: Duration) -> Self {
        let mut error = Self::new(
            Code::Unavailable,
            format!(
                "{what} stream stalled: no message, not even a keepalive, for {:.1}s \
                 (3x the {}s keepalive interval)",
                waited.as_secs_f64(),
                interval.as_secs()
            ),
        );
        error.inner.reason = Some(ErrorReason::StreamStalled);
        error
    }

    /// A server stream broke the protocol (e.g. no start event first).
    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    pub(crate) fn transport(error: reqwest::Error) -> Self {
        let code = if error.is_timeout() {
            Code::DeadlineExceeded
        } else {
            Code::Unavailable
        };
        Self::new(code, format!("HTTP request failed: {error}")).with_source(error)
    }

    /// The Connect code.
    pub fn code(&self) -> Code {
        self.inner.code
    }

    /// The server's (or the SDK's) message. For display only: branch on
    /// [`code`](Error::code).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The HTTP status, for failures of the plain-HTTP endpoints
    /// (`/files`, `/init`, `/health`, …). `None` for RPCs.
    pub fn http_status(&self) -> Option<u16> {
        self.inner.http_status
    }

    /// envd's finer reason, when it sent one: tells apart failures that share
    /// a code (a missing path and a missing process are both `NotFound`).
    pub fn reason(&self) -> Option<ErrorReason> {
        self.inner.reason
    }

    /// Shorthand for `code() == Code::NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.inner.code == Code::NotFound
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        let code = Code::from_tonic(status.code());
        let message = status.message().to_owned();
        let message = if message.is_empty() {
            code.as_str().to_owned()
        } else {
            message
        };
        let mut error = Self::new(code, message);
        error.inner.reason = reason_from_details(status.details());
        if let Some(source) = status.source() {
            error.inner.message = format!("{}: {source}", error.inner.message);
        }
        error.with_source(status)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.inner.code)
            .field("message", &self.inner.message);
        if let Some(status) = self.inner.http_status {
            d.field("http_status", &status);
        }
        if let Some(reason) = self.inner.reason {
            d.field("reason", &reason);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.http_status {
            Some(status) => write!(
                f,
                "{} (HTTP {status}): {}",
                self.inner.code, self.inner.message
            ),
            None => write!(f, "{}: {}", self.inner.code, self.inner.message),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallback is the shared table, status for status.
    #[test]
    fn http_status_fallback_is_the_shared_table() {
        let shared: serde_json::Value =
            serde_json::from_str(include_str!("../../conformance/http-status-fallback.json"))
                .unwrap();
        let codes = shared["codes"].as_object().unwrap();
        let otherwise = shared["otherwise"].as_str().unwrap();
        for status in 100..=599u16 {
            let want = codes
                .get(&status.to_string())
                .map_or(otherwise, |c| c.as_str().unwrap());
            let error = Error::http(status, None, "x");
            assert_eq!(error.code().as_str(), want, "HTTP {status}");
            assert_eq!(error.http_status(), Some(status));
        }
    }

    #[test]
    fn the_body_code_wins_over_the_status() {
        let error = Error::http(409, Code::from_name("failed_precondition"), "x");
        assert_eq!(error.code(), Code::FailedPrecondition);
        for code in ALL {
            assert_eq!(Code::from_name(code.as_str()), Some(code));
        }
        assert_eq!(Code::from_name("NOT_FOUND"), None);
    }

    #[test]
    fn tonic_status_keeps_code_and_message() {
        let error = Error::from(tonic::Status::not_found("process with pid 7 not found"));
        assert_eq!(error.code(), Code::NotFound);
        assert_eq!(error.message(), "process with pid 7 not found");
        assert_eq!(error.http_status(), None);
        assert_eq!(error.code().as_str(), "not_found");
        assert_eq!(error.reason(), None);
    }

    #[test]
    fn reason_comes_from_the_status_details() {
        let detail = ErrorDetail {
            reason: ErrorReason::ProcessNotFound.into(),
        };
        let status = RpcStatus {
            code: 5,
            message: "process with pid 7 not found".into(),
            details: vec![RpcAny {
                type_url: format!("type.googleapis.com/{DETAIL_TYPE}"),
                value: detail.encode_to_vec(),
            }],
        };
        let status = tonic::Status::with_details(
            tonic::Code::NotFound,
            "process with pid 7 not found",
            status.encode_to_vec().into(),
        );
        let error = Error::from(status);
        assert_eq!(error.reason(), Some(ErrorReason::ProcessNotFound));
        let http =
            Error::http(404, None, "x").with_reason_name(Some("ERROR_REASON_PATH_NOT_FOUND"));
        assert_eq!(http.reason(), Some(ErrorReason::PathNotFound));
        assert_eq!(http.duplicate().reason(), Some(ErrorReason::PathNotFound));
    }

    #[test]
    fn a_stall_reports_the_stream_stalled_reason() {
        let error = Error::stalled("Start", Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!(error.code(), Code::Unavailable);
        assert_eq!(error.reason(), Some(ErrorReason::StreamStalled));
        assert_eq!(error.duplicate().reason(), Some(ErrorReason::StreamStalled));
        assert!(error.message().contains("keepalive"), "{error}");
    }
}

//! The one error table: per variant, the Connect code, the
//! [`ErrorReason`] and the HTTP status together (spec §3.6, §4.4, §5).
//! Every protocol answers from it — Connect and gRPC statuses, the gRPC
//! deadline trailer, plain-HTTP bodies.

use std::io;

use axum::http::StatusCode;
use connectrpc_axum::Code;
use envd_proto::envd::common::v1::ErrorReason as R;

use super::{Error, FilesError, RequestError};
use crate::{auth, fs, host, identity, process, upgrade};

/// How an error is answered on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    /// The Connect code (and so the gRPC status).
    pub code: Code,
    /// What tells this error apart from others with the same code.
    pub reason: R,
    /// The status on plain-HTTP endpoints.
    pub status: StatusCode,
}

impl Class {
    /// `code` and `reason`, with the HTTP status that goes with `code`.
    const fn new(code: Code, reason: R) -> Self {
        Self {
            code,
            reason,
            status: status_of(code),
        }
    }

    /// The same, answered with `status` on plain HTTP (download outcomes
    /// and live-upgrade refusals HTTP has its own status for).
    const fn status(self, status: StatusCode) -> Self {
        Self { status, ..self }
    }
}

/// The HTTP status for a Connect code, where a variant names none itself.
const fn status_of(code: Code) -> StatusCode {
    match code {
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

use Class as C;

impl Error {
    /// The code, reason and HTTP status this error is answered with.
    pub fn classify(&self) -> Class {
        match self {
            Self::Process(e) => process(e),
            Self::Stream(process::Fault::FellBehind(_)) => {
                C::new(Code::ResourceExhausted, R::StreamFellBehind)
            }
            Self::Stream(process::Fault::Closed) => C::new(Code::Unavailable, R::Internal),
            Self::Identity(identity::Error::UnknownUser(_)) => {
                C::new(Code::Unauthenticated, R::UnknownUser)
            }
            Self::Identity(identity::Error::Lookup { .. }) => {
                C::new(Code::Unauthenticated, R::Internal)
            }
            Self::Path(_) => C::new(Code::InvalidArgument, R::InvalidPath),
            Self::Request(e) => request(e),
            Self::Host(_) => C::new(Code::Internal, R::Internal),
            Self::Unauthorized(_) => C::new(Code::Unauthenticated, R::AccessTokenInvalid),
            Self::InitToken(auth::InitTokenError::Malformed(_)) => {
                C::new(Code::InvalidArgument, R::InvalidRequest)
            }
            Self::InitToken(
                auth::InitTokenError::Mismatch | auth::InitTokenError::ResetNotAuthorized,
            ) => C::new(Code::Unauthenticated, R::AccessTokenInvalid),
            Self::Files(e) => files(e),
            Self::Fs(e) => filesystem(e),
            Self::Compose(e) => compose(e),
            Self::Freeze(e) => lifecycle(e),
            Self::FsFreeze(e) => lifecycle(e),
            Self::Ca(e) => lifecycle(e),
            Self::Mount(e) => lifecycle(e),
            Self::Upgrade(e) => upgrade(e),
            Self::ShuttingDown => C::new(Code::Unavailable, R::ShuttingDown),
            Self::DeadlineExceeded => C::new(Code::DeadlineExceeded, R::Unspecified),
        }
    }
}

fn process(e: &process::Error) -> Class {
    use process::Error as P;
    match e {
        P::PidNotFound(_) | P::TagNotFound(_) => C::new(Code::NotFound, R::ProcessNotFound),
        P::CwdMissing(_) => C::new(Code::InvalidArgument, R::CwdNotFound),
        P::CwdDenied { source, .. } => C::new(
            Code::InvalidArgument,
            match source.raw_os_error() {
                Some(libc::EACCES) => R::PermissionDenied,
                Some(libc::ELOOP) => R::SymlinkLoop,
                _ => R::CwdNotFound,
            },
        ),
        P::Path(_) => C::new(Code::InvalidArgument, R::InvalidPath),
        P::InvalidPtySize { .. } => C::new(Code::InvalidArgument, R::InvalidPtySize),
        P::Spawn(_) => C::new(Code::InvalidArgument, R::SpawnFailed),
        P::CloseStdinOnPty => C::new(Code::Unknown, R::PtyNotAllowed),
        P::StdinOnPty => C::new(Code::Internal, R::PtyNotAllowed),
        P::NotAPty => C::new(Code::Internal, R::PtyRequired),
        P::StdinClosed => C::new(Code::Internal, R::StdinClosed),
        P::Io(source) | P::WriteStdin(source) | P::WritePty(source) => {
            C::new(Code::Internal, io_reason(source))
        }
        P::Resize(_) | P::Signal(_) => C::new(Code::Internal, R::Internal),
        P::SequenceGap { .. } => C::new(Code::Aborted, R::SequenceGap),
        P::SequenceOutOfRange { .. } => C::new(Code::OutOfRange, R::SequenceOutOfRange),
        P::OffsetOutOfRange { .. } => C::new(Code::OutOfRange, R::OffsetOutOfRange),
        P::SequenceBacklog { .. } => C::new(Code::ResourceExhausted, R::SequenceBacklog),
    }
}

fn request(e: &RequestError) -> Class {
    use RequestError as Q;
    match e {
        Q::Missing(_)
        | Q::BadHeader { .. }
        | Q::InvalidBody(_)
        | Q::BadEncoding(_)
        | Q::InvalidField { .. } => C::new(Code::InvalidArgument, R::InvalidRequest),
        Q::BadAuthorization(_) => C::new(Code::Unauthenticated, R::InvalidRequest),
        Q::UnsupportedSignal(_) => C::new(Code::Unimplemented, R::UnsupportedSignal),
        Q::InputBeforeStart => C::new(Code::FailedPrecondition, R::InvalidRequest),
    }
}

/// `/files` (spec §5.6, §5.7).
fn files(e: &FilesError) -> Class {
    use FilesError as F;
    use auth::signing::Error as S;
    match e {
        F::Signing(S::Expired) => C::new(Code::Unauthenticated, R::SignatureExpired),
        F::Signing(S::HeaderMismatch) => C::new(Code::Unauthenticated, R::AccessTokenInvalid),
        F::Signing(_) => C::new(Code::Unauthenticated, R::SignatureInvalid),
        F::User { .. } => C::new(Code::Unauthenticated, R::UnknownUser),
        F::Read(e) => read(e),
        F::NoAcceptableEncoding | F::IdentityNotAcceptable => {
            C::new(Code::InvalidArgument, R::NotAcceptable).status(StatusCode::NOT_ACCEPTABLE)
        }
        F::PreconditionFailed => C::new(Code::FailedPrecondition, R::PreconditionFailed)
            .status(StatusCode::PRECONDITION_FAILED),
        F::RangeNotSatisfiable { .. } => C::new(Code::OutOfRange, R::RangeNotSatisfiable)
            .status(StatusCode::RANGE_NOT_SATISFIABLE),
        F::BadParameter { .. }
        | F::Decompress(_)
        | F::UnsupportedContentEncoding(_)
        | F::PathRequired
        | F::UnsupportedContentType(_)
        | F::MissingFilename
        | F::InvalidMetadata(_)
        | F::DuplicatePath { .. } => C::new(Code::InvalidArgument, R::InvalidRequest),
        F::Multipart(_) => C::new(Code::Internal, R::InvalidRequest),
        F::Write(e) => write(e),
    }
}

fn read(e: &fs::read::Error) -> Class {
    use fs::read::Error as F;
    match e {
        F::NotFound(_) => C::new(Code::NotFound, R::PathNotFound),
        F::IsDirectory(_) => C::new(Code::InvalidArgument, R::IsADirectory),
        F::NotRegularFile(_) => C::new(Code::InvalidArgument, R::NotARegularFile),
        F::Io { source, .. } => C::new(Code::Internal, io_reason(source)),
    }
}

fn write(e: &fs::write::Error) -> Class {
    use fs::metadata::StoreError;
    use fs::write::Error as W;
    match e {
        W::IsDirectory(_) => C::new(Code::InvalidArgument, R::IsADirectory),
        W::Source(_) => C::new(Code::InvalidArgument, R::InvalidRequest),
        W::NoInodes(_) | W::NoSpace { .. } | W::Metadata(StoreError::NoSpace(_)) => {
            C::new(Code::ResourceExhausted, R::NoSpace)
        }
        W::Parents(d) => C::new(Code::Internal, dirs_reason(d)),
        W::Io { source, .. } | W::Metadata(StoreError::Io(source)) => {
            C::new(Code::Internal, io_reason(source))
        }
    }
}

/// Filesystem RPCs (spec §4.4).
fn filesystem(e: &fs::Error) -> Class {
    use fs::Error as F;
    match e {
        F::NotFound(_) | F::SourceNotFound(_) | F::PathNotFound(_) | F::WatchPathNotFound(_) => {
            C::new(Code::NotFound, R::PathNotFound)
        }
        F::WatcherNotFound(_) => C::new(Code::NotFound, R::WatcherNotFound),
        F::DirExists(_) => C::new(Code::AlreadyExists, R::PathExists),
        F::ExistsNotADirectory(_) => C::new(Code::InvalidArgument, R::PathExists),
        F::NotADirectory(_) | F::WatchNotADirectory(_) => {
            C::new(Code::InvalidArgument, R::NotADirectory)
        }
        F::NetworkMount(_) => C::new(Code::InvalidArgument, R::NetworkMount),
        F::RemoveRoot => C::new(Code::InvalidArgument, R::InvalidPath),
        F::CyclicSymlink(_) => C::new(Code::FailedPrecondition, R::SymlinkLoop),
        F::Watch(_) => C::new(Code::Internal, R::Internal),
        F::Dirs(d) => C::new(Code::Internal, dirs_reason(d)),
        F::Stat { source, .. }
        | F::Resolve { source, .. }
        | F::ReadDir { source, .. }
        | F::Rename { source, .. }
        | F::Remove { source, .. } => io(source),
    }
}

/// `/files/compose` (spec §5.8).
fn compose(e: &fs::compose::Error) -> Class {
    use fs::compose::Error as F;
    match e {
        F::NoSources | F::NoDestination | F::SourceIsDestination(_) => {
            C::new(Code::InvalidArgument, R::InvalidRequest)
        }
        F::NotRegular(_) => C::new(Code::InvalidArgument, R::NotARegularFile),
        F::SourceNotFound(_) => C::new(Code::NotFound, R::PathNotFound),
        F::NoSpace => C::new(Code::ResourceExhausted, R::NoSpace),
        F::Parents(d) => C::new(Code::Internal, dirs_reason(d)),
        F::Io { source, .. } => C::new(Code::Internal, io_reason(source)),
    }
}

/// The lifecycle operations' errors, by what the orchestrator should do.
trait Lifecycle {
    fn classify(&self) -> Class;
}

fn lifecycle(e: &impl Lifecycle) -> Class {
    e.classify()
}

/// Another freeze/unfreeze is running: retry (503, never queued).
impl Lifecycle for host::freeze::Error {
    fn classify(&self) -> Class {
        match self {
            Self::Busy => C::new(Code::Unavailable, R::Internal),
            _ => C::new(Code::Internal, R::Internal),
        }
    }
}

/// Another fsfreeze/fsthaw is running: retry (503); an ioctl failed: 500.
impl Lifecycle for host::fsfreeze::Error {
    fn classify(&self) -> Class {
        match self {
            Self::Busy => C::new(Code::Unavailable, R::Internal),
            _ => C::new(Code::Internal, R::Internal),
        }
    }
}

/// `/init` apply errors are 400 (spec §5.4, [E2B]); CA lock contention 503.
impl Lifecycle for host::ca::Error {
    fn classify(&self) -> Class {
        match self {
            Self::Busy => C::new(Code::Unavailable, R::Internal),
            Self::Invalid(_) => C::new(Code::InvalidArgument, R::InvalidRequest),
            Self::Write { .. } => C::new(Code::FailedPrecondition, R::Internal),
            Self::Join(_) => C::new(Code::Internal, R::Internal),
        }
    }
}

/// `/init` apply errors are 400 (spec §5.4, [E2B]).
impl Lifecycle for host::mounts::Error {
    fn classify(&self) -> Class {
        match self {
            Self::RelativePath(_) => C::new(Code::InvalidArgument, R::InvalidRequest),
            _ => C::new(Code::FailedPrecondition, R::Internal),
        }
    }
}

/// A live upgrade (spec §5.8): refused before `/init` or while another
/// runs is 409, an oversized binary 413.
fn upgrade(e: &upgrade::Error) -> Class {
    use upgrade::Error as U;
    match e {
        U::NotInitialized => {
            C::new(Code::FailedPrecondition, R::NotInitialized).status(StatusCode::CONFLICT)
        }
        U::Busy => C::new(Code::FailedPrecondition, R::UpgradeFailed).status(StatusCode::CONFLICT),
        U::BadTarget(_) | U::Body(_) => C::new(Code::InvalidArgument, R::InvalidRequest),
        U::NotExecutable(_) => C::new(Code::InvalidArgument, R::UpgradeBinaryInvalid),
        U::TooLarge(_) => C::new(Code::ResourceExhausted, R::PayloadTooLarge)
            .status(StatusCode::PAYLOAD_TOO_LARGE),
        U::BinaryMissing(_) => C::new(Code::NotFound, R::UpgradeBinaryInvalid),
        U::WriteBinary(source) => C::new(Code::Internal, io_reason(source)),
        U::SchemaRejected { .. } => C::new(Code::Internal, R::HandoverSchemaRejected),
        U::Capture(_) | U::Exec(_) => C::new(Code::Internal, R::UpgradeFailed),
    }
}

fn dirs_reason(e: &fs::dirs::Error) -> R {
    match e {
        fs::dirs::Error::NotADirectory(_) => R::NotADirectory,
        fs::dirs::Error::Create { source, .. } => io_reason(source),
    }
}

/// An I/O failure that has no code of its own, by its kind: everything
/// not listed is `internal` (§4.4).
fn io(e: &io::Error) -> Class {
    use io::ErrorKind as K;
    let code = match e.kind() {
        K::NotFound => Code::NotFound,
        K::AlreadyExists => Code::AlreadyExists,
        K::PermissionDenied => Code::PermissionDenied,
        K::StorageFull | K::QuotaExceeded => Code::ResourceExhausted,
        // ENAMETOOLONG: a component over 255 bytes is the caller's mistake.
        K::InvalidFilename => Code::InvalidArgument,
        _ => Code::Internal,
    };
    C::new(code, io_reason(e))
}

/// The reason for an I/O failure, by its kind; also for failures whose
/// code is fixed (a failed write is `internal` whatever its kind).
fn io_reason(e: &io::Error) -> R {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => R::PathNotFound,
        K::AlreadyExists => R::PathExists,
        K::PermissionDenied => R::PermissionDenied,
        K::StorageFull | K::QuotaExceeded => R::NoSpace,
        K::NotADirectory => R::NotADirectory,
        K::IsADirectory => R::IsADirectory,
        K::InvalidFilename => R::InvalidPath,
        _ => R::Internal,
    }
}

#[cfg(test)]
mod tests;

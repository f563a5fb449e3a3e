//! The [`ErrorReason`] of every error: the typed detail clients branch on
//! when several conditions share a Connect code.

use std::io;

use envd_proto::envd::common::v1::ErrorReason as R;

use super::{Error, RequestError};
use crate::http::files;
use crate::{auth, fs, identity, process, upgrade};

impl Error {
    /// The reason attached to this error's response.
    pub fn reason(&self) -> R {
        match self {
            Self::Process(e) => process_reason(e),
            Self::Identity(e) => match e {
                identity::Error::UnknownUser(_) => R::UnknownUser,
                identity::Error::Lookup { .. } => R::Internal,
            },
            Self::Path(_) => R::InvalidPath,
            Self::Request(RequestError::UnsupportedSignal(_)) => R::UnsupportedSignal,
            Self::Request(_) => R::InvalidRequest,
            Self::Stream(process::Fault::FellBehind(_)) => R::StreamFellBehind,
            Self::Stream(process::Fault::Closed) | Self::Host(_) => R::Internal,
            Self::ShuttingDown => R::ShuttingDown,
            Self::Unauthorized(_) => R::AccessTokenInvalid,
            Self::InitToken(e) => match e {
                auth::InitTokenError::Malformed(_) => R::InvalidRequest,
                auth::InitTokenError::Mismatch | auth::InitTokenError::ResetNotAuthorized => {
                    R::AccessTokenInvalid
                }
            },
            Self::Files(e) => files_reason(e),
            Self::Fs(e) => fs_reason(e),
            Self::Compose(e) => compose_reason(e),
            Self::Ca(crate::host::ca::Error::Invalid(_))
            | Self::Mount(crate::host::mounts::Error::RelativePath(_)) => R::InvalidRequest,
            Self::Freeze(_) | Self::FsFreeze(_) | Self::Ca(_) | Self::Mount(_) => R::Internal,
            Self::Upgrade(e) => match e {
                upgrade::Error::NotInitialized => R::NotInitialized,
                upgrade::Error::Busy => R::UpgradeFailed,
                upgrade::Error::BadTarget(_) | upgrade::Error::Body(_) => R::InvalidRequest,
                upgrade::Error::TooLarge(_) => R::PayloadTooLarge,
                upgrade::Error::BinaryMissing(_) | upgrade::Error::NotExecutable(_) => {
                    R::UpgradeBinaryInvalid
                }
                upgrade::Error::SchemaRejected { .. } => R::HandoverSchemaRejected,
                upgrade::Error::WriteBinary(source) => io_reason(source),
                upgrade::Error::Capture(_) | upgrade::Error::Exec(_) => R::UpgradeFailed,
            },
        }
    }
}

fn process_reason(e: &process::Error) -> R {
    use process::Error as P;
    match e {
        P::PidNotFound(_) | P::TagNotFound(_) => R::ProcessNotFound,
        P::CwdMissing(_) => R::CwdNotFound,
        P::Path(_) => R::InvalidPath,
        P::InvalidPtySize { .. } => R::InvalidPtySize,
        P::CwdDenied { source, .. } => match source.raw_os_error() {
            Some(libc::EACCES) => R::PermissionDenied,
            Some(libc::ELOOP) => R::SymlinkLoop,
            _ => R::CwdNotFound,
        },
        P::Spawn(_) => R::SpawnFailed,
        P::NotAPty => R::PtyRequired,
        P::StdinOnPty | P::CloseStdinOnPty => R::PtyNotAllowed,
        P::StdinClosed => R::StdinClosed,
        P::Io(source) | P::WriteStdin(source) | P::WritePty(source) => io_reason(source),
        P::Resize(_) | P::Signal(_) => R::Internal,
        P::SequenceGap { .. } => R::SequenceGap,
        P::SequenceOutOfRange { .. } => R::SequenceOutOfRange,
        P::SequenceBacklog { .. } => R::SequenceBacklog,
        P::OffsetOutOfRange { .. } => R::OffsetOutOfRange,
    }
}

fn files_reason(e: &files::Error) -> R {
    use files::Error as F;
    match e {
        F::Signing(auth::signing::Error::Expired) => R::SignatureExpired,
        F::Signing(auth::signing::Error::HeaderMismatch) => R::AccessTokenInvalid,
        F::Signing(_) => R::SignatureInvalid,
        F::User { .. } => R::UnknownUser,
        F::NotFound(_) => R::PathNotFound,
        F::IsDirectory(_) => R::IsADirectory,
        F::NotRegularFile(_) => R::NotARegularFile,
        F::NoAcceptableEncoding | F::IdentityNotAcceptable => R::NotAcceptable,
        F::PreconditionFailed => R::PreconditionFailed,
        F::RangeNotSatisfiable { .. } => R::RangeNotSatisfiable,
        F::BadParameter { .. }
        | F::Decompress(_)
        | F::UnsupportedContentEncoding(_)
        | F::PathRequired
        | F::UnsupportedContentType(_)
        | F::Multipart(_)
        | F::MissingFilename
        | F::InvalidMetadata(_)
        | F::DuplicatePath { .. } => R::InvalidRequest,
        F::Read { source, .. } => io_reason(source),
        F::Write(w) => match w {
            fs::write::Error::IsDirectory(_) => R::IsADirectory,
            fs::write::Error::Source(_) => R::InvalidRequest,
            fs::write::Error::NoInodes(_)
            | fs::write::Error::NoSpace { .. }
            | fs::write::Error::Metadata(fs::metadata::StoreError::NoSpace(_)) => R::NoSpace,
            fs::write::Error::Metadata(fs::metadata::StoreError::Io(source)) => io_reason(source),
            fs::write::Error::Parents(d) => dirs_reason(d),
            fs::write::Error::Io { source, .. } => io_reason(source),
        },
    }
}

fn fs_reason(e: &fs::Error) -> R {
    use fs::Error as F;
    match e {
        F::NotFound(_) | F::SourceNotFound(_) | F::PathNotFound(_) | F::WatchPathNotFound(_) => {
            R::PathNotFound
        }
        F::WatcherNotFound(_) => R::WatcherNotFound,
        F::DirExists(_) | F::ExistsNotADirectory(_) => R::PathExists,
        F::NotADirectory(_) | F::WatchNotADirectory(_) => R::NotADirectory,
        F::NetworkMount(_) => R::NetworkMount,
        F::RemoveRoot => R::InvalidPath,
        F::CyclicSymlink(_) => R::SymlinkLoop,
        F::Watch(_) => R::Internal,
        F::Dirs(d) => dirs_reason(d),
        F::Stat { source, .. }
        | F::Resolve { source, .. }
        | F::ReadDir { source, .. }
        | F::Rename { source, .. }
        | F::Remove { source, .. } => io_reason(source),
    }
}

fn compose_reason(e: &fs::compose::Error) -> R {
    use fs::compose::Error as C;
    match e {
        C::NoSources | C::NoDestination | C::SourceIsDestination(_) => R::InvalidRequest,
        C::SourceNotFound(_) => R::PathNotFound,
        C::NotRegular(_) => R::NotARegularFile,
        C::NoSpace => R::NoSpace,
        C::Parents(d) => dirs_reason(d),
        C::Io { source, .. } => io_reason(source),
    }
}

fn dirs_reason(e: &fs::dirs::Error) -> R {
    match e {
        fs::dirs::Error::NotADirectory(_) => R::NotADirectory,
        fs::dirs::Error::Create { source, .. } => io_reason(source),
    }
}

/// The reason for an I/O failure, by its kind (mirrors `io_code`).
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

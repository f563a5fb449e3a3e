use super::*;

fn class(e: impl Into<Error>) -> Class {
    e.into().classify()
}

#[test]
fn lifecycle_statuses() {
    use host::{ca, freeze, fsfreeze, mounts};
    let status = |e: Error| e.classify().status.as_u16();
    assert_eq!(status(freeze::Error::Busy.into()), 503);
    assert_eq!(status(freeze::Error::NotCgroup2("/x".into()).into()), 500);
    assert_eq!(status(fsfreeze::Error::Busy.into()), 503);
    assert_eq!(
        status(
            fsfreeze::Error::Freeze {
                path: "/".into(),
                source: io::Error::from_raw_os_error(95)
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
                source: io::Error::from_raw_os_error(13)
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

/// The statuses HTTP has of its own go with the code clients branch on.
#[test]
fn http_only_statuses_keep_their_code() {
    let cases = [
        (
            class(FilesError::NoAcceptableEncoding),
            (Code::InvalidArgument, R::NotAcceptable, 406),
        ),
        (
            class(FilesError::PreconditionFailed),
            (Code::FailedPrecondition, R::PreconditionFailed, 412),
        ),
        (
            class(FilesError::RangeNotSatisfiable {
                size: 1,
                no_overlap: true,
            }),
            (Code::OutOfRange, R::RangeNotSatisfiable, 416),
        ),
        (
            class(upgrade::Error::NotInitialized),
            (Code::FailedPrecondition, R::NotInitialized, 409),
        ),
        (
            class(upgrade::Error::TooLarge(1)),
            (Code::ResourceExhausted, R::PayloadTooLarge, 413),
        ),
    ];
    for (got, (code, reason, status)) in cases {
        assert_eq!(
            (got.code, got.reason, got.status.as_u16()),
            (code, reason, status)
        );
    }
}

#[test]
fn io_failures_by_kind() {
    let stat = |errno| {
        class(fs::Error::Stat {
            path: "/x".into(),
            source: io::Error::from_raw_os_error(errno),
        })
    };
    let enoent = stat(libc::ENOENT);
    assert_eq!(
        (enoent.code, enoent.reason),
        (Code::NotFound, R::PathNotFound)
    );
    let eacces = stat(libc::EACCES);
    assert_eq!(
        (eacces.code, eacces.reason, eacces.status.as_u16()),
        (Code::PermissionDenied, R::PermissionDenied, 403)
    );
    // A failed read keeps `internal` whatever its kind; the reason tells.
    let read = class(FilesError::Read(fs::read::Error::io(
        std::path::Path::new("/x"),
        io::Error::from_raw_os_error(libc::EISDIR),
    )));
    assert_eq!((read.code, read.reason), (Code::Internal, R::IsADirectory));
}

#[test]
fn a_deadline_is_grpc_status_4() {
    let deadline = Error::DeadlineExceeded;
    assert_eq!(deadline.classify().status.as_u16(), 504);
    let headers = deadline.grpc_status_headers();
    assert_eq!(headers["grpc-status"], "4");
    assert_eq!(headers["grpc-message"], "deadline exceeded");
}

//! Opening a file to send it (`GET /files`): the disk side of a download,
//! which the HTTP adapter streams, ranges and encodes.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Why a file cannot be read. The messages are the wire messages SDKs show.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not exist.
    #[error("path '{}' does not exist", .0.display())]
    NotFound(PathBuf),
    /// The path is a directory.
    #[error("path '{}' is a directory", .0.display())]
    IsDirectory(PathBuf),
    /// The path is a device, FIFO or socket.
    #[error("path '{}' is not a regular file", .0.display())]
    NotRegularFile(PathBuf),
    /// The file exists but cannot be read.
    #[error("error reading file '{}': {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Error {
    /// A read of `path` failed with `source`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Stats (following symlinks) and opens the regular file `path` for
/// reading. `O_NONBLOCK` keeps a FIFO swapped in after the stat from
/// blocking the open; it is cleared once the file is known to be regular,
/// so `sendfile` never sees `EAGAIN` from the file.
pub async fn open(path: &Path) -> Result<(File, std::fs::Metadata), Error> {
    let check = |meta: &std::fs::Metadata| {
        if meta.is_dir() {
            Err(Error::IsDirectory(path.to_owned()))
        } else if !meta.is_file() {
            Err(Error::NotRegularFile(path.to_owned()))
        } else {
            Ok(())
        }
    };
    let meta = tokio::fs::metadata(path).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound(path.to_owned())
        } else {
            Error::io(path, e)
        }
    })?;
    check(&meta)?;
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .await
        .map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().await.map_err(|e| Error::io(path, e))?;
    check(&meta)?;
    nix::fcntl::fcntl(
        &file,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .map_err(|e| Error::io(path, e.into()))?;
    Ok((file, meta))
}

/// The first `len` bytes of `file` (fewer if it is shorter), read from
/// the start; the file is left at its start again.
pub async fn head(file: &mut File, path: &Path, len: usize) -> Result<Vec<u8>, Error> {
    let mut head = Vec::with_capacity(len);
    (&mut *file)
        .take(len as u64)
        .read_to_end(&mut head)
        .await
        .map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(0))
        .await
        .map_err(|e| Error::io(path, e))?;
    Ok(head)
}

//! Why a filesystem operation failed. Each condition the spec gives its own
//! code (§4.4) is a variant; I/O failures keep their `io::Error` so
//! `crate::error` can map the error kind.

use std::io;
use std::path::PathBuf;

use super::dirs;
use super::watch::WatchError;

/// A failed filesystem operation. The messages follow the Go envd's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Stat (and every other entry lookup): the path does not exist.
    #[error("file not found: {}", .0.display())]
    NotFound(PathBuf),
    /// MakeDir: the directory exists.
    #[error("directory already exists: {}", .0.display())]
    DirExists(PathBuf),
    /// MakeDir: something that is not a directory exists at the path.
    #[error("path already exists but it is not a directory: {}", .0.display())]
    ExistsNotADirectory(PathBuf),
    /// Move: the source does not exist.
    #[error("source file not found: {}", .0.display())]
    SourceNotFound(PathBuf),
    /// ListDir: the path does not exist.
    #[error("path not found: {}", .0.display())]
    PathNotFound(PathBuf),
    /// ListDir: the path is not a directory.
    #[error("path is not a directory: {}", .0.display())]
    NotADirectory(PathBuf),
    /// ListDir: resolving the path loops.
    #[error("cyclic symlink or chain >255 links at {}", .0.display())]
    CyclicSymlink(PathBuf),
    /// Remove: the path is `/`. Wiping the whole machine is never what a
    /// request meant (an empty or mistyped path is the usual cause).
    #[error("refusing to remove the root directory")]
    RemoveRoot,
    /// WatchDir/CreateWatcher: the path does not exist.
    #[error("path {} not found", .0.display())]
    WatchPathNotFound(PathBuf),
    /// WatchDir/CreateWatcher: the path is not a directory.
    #[error("path {} not a directory", .0.display())]
    WatchNotADirectory(PathBuf),
    /// WatchDir/CreateWatcher: the path is on NFS, CIFS, SMB or FUSE.
    #[error("cannot watch path on network filesystem: {}", .0.display())]
    NetworkMount(PathBuf),
    /// GetWatcherEvents/RemoveWatcher: no watcher has this id.
    #[error("watcher with id {0} not found")]
    WatcherNotFound(String),
    /// The watcher could not be set up, or failed later.
    #[error("watcher error: {0}")]
    Watch(#[from] WatchError),
    /// MakeDir/Move: creating directories failed.
    #[error(transparent)]
    Dirs(#[from] dirs::Error),
    /// `stat`/`lstat`/`statfs` failed for another reason than absence.
    #[error("error getting file info for {}: {source}", .path.display())]
    Stat {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// ListDir: `realpath` of the root failed.
    #[error("error resolving path {}: {source}", .path.display())]
    Resolve {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// ListDir: a directory could not be read.
    #[error("error reading directory {}: {source}", .path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Move: `rename(2)` failed.
    #[error("error renaming: {} to {}: {source}", .from.display(), .to.display())]
    Rename {
        /// Source path.
        from: PathBuf,
        /// Destination path.
        to: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Remove failed.
    #[error("error removing file or directory: {}: {source}", .path.display())]
    Remove {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

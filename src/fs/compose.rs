//! Composing files (`POST /files/compose`, spec §5.8): regular source files
//! concatenated, in order, into a temporary file beside the destination,
//! which is then owned by the user and renamed over the destination; the
//! sources are deleted last.
//!
//! The content moves kernel-side (`copy_file_range`/`sendfile`, which
//! `std::io::copy` uses between files), so memory stays constant whatever
//! the sizes. Like uploads, envd works as root and gives the result (and
//! any parent it creates) to the user. A failure before the rename leaves
//! the destination and the sources as they were and removes the temporary.

use std::fs::File;
use std::io;
use std::os::unix::fs::fchown;
use std::path::{Path, PathBuf};

use super::dirs;
use super::temp::Temp;
use super::write::Owner;

/// Marks compose temporaries: `<dest>.e2b-compose.<uuid>.tmp`, the Go
/// envd's name, which watchers leave out.
const TEMP_MARK: &str = ".e2b-compose.";
/// The suffix of compose temporaries.
const TEMP_SUFFIX: &str = ".tmp";

/// Why a compose failed. The messages are the Go envd's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request names no source.
    #[error("source_paths must not be empty")]
    NoSources,
    /// The request names no destination.
    #[error("destination is required")]
    NoDestination,
    /// A source resolves to the destination itself.
    #[error("source path {0:?} cannot be the same as destination")]
    SourceIsDestination(String),
    /// A source does not exist.
    #[error("source file not found: {0}")]
    SourceNotFound(String),
    /// A source is a directory, device, FIFO or socket.
    #[error("source path is not a regular file: {0}")]
    NotRegular(String),
    /// The destination's parents could not be created.
    #[error("error ensuring directories: {0}")]
    Parents(#[from] dirs::Error),
    /// No space, inode or quota left.
    #[error("not enough disk space available")]
    NoSpace,
    /// Any other filesystem failure.
    #[error("error {action} {}: {source}", .path.display())]
    Io {
        /// What envd was doing.
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
}

/// One source: the path as requested (for messages) and as resolved.
#[derive(Debug, Clone)]
pub struct Source {
    /// As the client sent it.
    pub requested: String,
    /// Resolved for the user (§2.2).
    pub path: PathBuf,
}

/// Concatenates `sources` into `destination` as `owner`, then deletes the
/// sources. Blocking: run it on a blocking thread. Returns the number of
/// bytes written.
pub fn compose(sources: &[Source], destination: &Path, owner: Owner) -> Result<u64, Error> {
    if sources.is_empty() {
        return Err(Error::NoSources);
    }
    for source in sources {
        if source.path == destination {
            return Err(Error::SourceIsDestination(source.requested.clone()));
        }
        match std::fs::metadata(&source.path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(Error::NotRegular(source.requested.clone())),
            Err(_) => return Err(Error::SourceNotFound(source.requested.clone())),
        }
    }
    let parent = destination.parent().unwrap_or(Path::new("/"));
    dirs::ensure_dirs(parent, owner.uid, owner.gid)?;

    let (mut out, temp) = create_temp(destination)?;
    fchown(&out, Some(owner.uid.as_raw()), Some(owner.gid.as_raw())).map_err(|source| {
        Error::Io {
            action: "changing the owner of",
            path: temp.path().to_owned(),
            source,
        }
    })?;
    let mut total = 0u64;
    for source in sources {
        let mut input = File::open(&source.path).map_err(|e| Error::Io {
            action: "opening source file",
            path: source.path.clone(),
            source: e,
        })?;
        let path = &source.path;
        total += io::copy(&mut input, &mut out).map_err(|e| {
            full_or(e, |e| Error::Io {
                action: "composing source",
                path: path.clone(),
                source: e,
            })
        })?;
    }
    drop(out);
    commit(temp, destination)?;
    for source in sources {
        if let Err(e) = std::fs::remove_file(&source.path) {
            tracing::warn!(path = %source.path.display(), error = %e, "cannot remove composed source");
        }
    }
    Ok(total)
}

/// `NoSpace` for ENOSPC/EDQUOT, else what `other` makes of `e`.
fn full_or(e: io::Error, other: impl FnOnce(io::Error) -> Error) -> Error {
    if matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) {
        Error::NoSpace
    } else {
        other(e)
    }
}

/// Whether `name` is a compose temporary (watchers leave them out).
pub fn is_compose_temp(name: &std::ffi::OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.ends_with(TEMP_SUFFIX.as_bytes())
        && name
            .windows(TEMP_MARK.len())
            .any(|w| w == TEMP_MARK.as_bytes())
}

/// Creates `<destination>.e2b-compose.<uuid>.tmp`, mode 0666 less the
/// umask.
fn create_temp(destination: &Path) -> Result<(File, Temp), Error> {
    Temp::create("compose temporary", || {
        let mut name = destination.as_os_str().to_owned();
        name.push(format!("{TEMP_MARK}{}{TEMP_SUFFIX}", uuid_v4()));
        PathBuf::from(name)
    })
    .map_err(|(e, path)| {
        full_or(e, |source| Error::Io {
            action: "creating destination file",
            path,
            source,
        })
    })
}

/// Renames the filled temporary over `destination`.
fn commit(mut temp: Temp, destination: &Path) -> Result<(), Error> {
    temp.rename_onto(destination).map_err(|e| {
        full_or(e, |source| Error::Io {
            action: "finalizing compose into",
            path: destination.to_owned(),
            source,
        })
    })
}

/// A random (version 4) UUID in its text form.
fn uuid_v4() -> String {
    let hi = fastrand::u64(..);
    let lo = fastrand::u64(..);
    let hi = (hi & !0xf000) | 0x4000;
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_recognised_by_name() {
        let (file, temp) = create_temp(Path::new("/tmp/envd-compose-unit.txt")).unwrap();
        drop(file);
        let name = temp.path().file_name().unwrap().to_owned();
        assert!(is_compose_temp(&name), "{name:?}");
        let text = name.to_str().unwrap();
        let uuid = text
            .strip_prefix("envd-compose-unit.txt.e2b-compose.")
            .and_then(|r| r.strip_suffix(".tmp"))
            .unwrap();
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&uuid[14..15], "4");
        drop(temp);
        assert!(!Path::new("/tmp").join(&name).exists(), "removed on drop");
        assert!(!is_compose_temp(std::ffi::OsStr::new("notes.tmp")));
        assert!(!is_compose_temp(std::ffi::OsStr::new("a.e2b-compose.x")));
    }
}

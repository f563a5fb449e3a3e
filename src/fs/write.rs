//! Writing one uploaded file: parents created for the user, the content
//! streamed to disk in constant memory, the result owned by the user.
//!
//! A regular file is written to a temporary file in the same directory and
//! renamed over the target, so a failed or abandoned upload never leaves a
//! partial file and readers never see one. The temporary gets the file's
//! metadata before the rename, so no reader sees the new content with the
//! old metadata. An existing target's mode is kept less its set-user-ID and
//! set-group-ID bits (as a write by the kernel clears them); a new file
//! gets 0666 less the umask. Targets that cannot be replaced by a rename
//! are written in place (`O_TRUNC`, as the Go envd always does): devices,
//! FIFOs, files on
//! `/proc`, `/sys` and cgroup filesystems, hard-linked files (a rename would
//! detach the other names), dangling symlinks, and files in directories
//! where a temporary file cannot be created.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt, fchown};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::statfs;
use nix::unistd::{Gid, Uid};

use super::dirs;
use super::metadata::{self, Metadata};
use super::temp::Temp;

/// Chunks in flight between the request and the writer thread.
const CHANNEL_DEPTH: usize = 8;
/// Write buffer of the writer thread.
const WRITE_BUFFER: usize = 256 * 1024;

/// Who the written file (and created parents) belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: Uid,
    /// Group id.
    pub gid: Gid,
}

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The parent directories could not be created.
    #[error("error ensuring parent directories: {0}")]
    Parents(#[from] dirs::Error),
    /// The target is a directory.
    #[error("path is a directory: {}", .0.display())]
    IsDirectory(PathBuf),
    /// No inode (or quota) left to create the file.
    #[error("not enough inodes available: {0}")]
    NoInodes(io::Error),
    /// No space (or quota) left while writing.
    #[error("{}not enough disk space available", .expected.map(|n| format!("attempted to write {n} bytes: ")).unwrap_or_default())]
    NoSpace {
        /// The announced size, when the client sent one.
        expected: Option<u64>,
    },
    /// Storing the metadata failed.
    #[error(transparent)]
    Metadata(#[from] metadata::StoreError),
    /// Reading the content from the client failed.
    #[error("error reading request body: {0}")]
    Source(io::Error),
    /// Any other filesystem failure.
    #[error("error {action} '{}': {source}", .path.display())]
    Io {
        /// What envd was doing.
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Whether `e` means the filesystem (or the user's quota) is full.
fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// What to write besides the content.
#[derive(Debug, Clone)]
pub struct Options {
    /// Who the file belongs to.
    pub owner: Owner,
    /// The announced length, used only in the disk-full message.
    pub expected: Option<u64>,
    /// The file's whole metadata afterwards.
    pub metadata: Metadata,
}

/// Writes everything `content` yields to `target` as described by
/// `options`. Returns the number of bytes written.
pub async fn write_file<S>(target: &Path, options: Options, mut content: S) -> Result<u64, Error>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let Options {
        owner,
        expected,
        metadata,
    } = options;
    let prepared = {
        let owned = target.to_owned();
        tokio::task::spawn_blocking(move || prepare(&owned, owner))
            .await
            .map_err(joined(target))??
    };
    let Prepared {
        file,
        temp,
        final_path,
        regular,
    } = prepared;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let writer = tokio::task::spawn_blocking(move || -> io::Result<(File, u64)> {
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut written = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        Ok((file, written))
    });
    let mut source_error = None;
    while let Some(chunk) = content.next().await {
        match chunk {
            // A send error means the writer stopped; its result says why.
            Ok(chunk) => {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                source_error = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writer
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
    if let Some(e) = source_error {
        // `temp` is dropped here, removing the temporary file.
        return Err(Error::Source(e));
    }
    let (file, written) = written.map_err(|e| {
        if is_full(&e) {
            Error::NoSpace { expected }
        } else {
            io_err("writing", &final_path)(e)
        }
    })?;
    let path = final_path.clone();
    tokio::task::spawn_blocking(move || finish(file, temp, &path, regular, &metadata))
        .await
        .map_err(joined(target))??;
    Ok(written)
}

/// Stores the metadata (on the temporary file, before it is renamed into
/// place) and commits the temporary. Only regular files have metadata:
/// devices and `/proc`-style files refuse user attributes.
fn finish(
    file: File,
    temp: Option<TempFile>,
    final_path: &Path,
    regular: bool,
    metadata: &Metadata,
) -> Result<(), Error> {
    if regular {
        metadata::replace(&file, metadata)?;
    }
    drop(file);
    if let Some(temp) = temp {
        temp.commit(final_path, metadata).map_err(|e| match e {
            Commit::Io(e) => io_err("replacing", final_path)(e),
            Commit::Metadata(e) => Error::Metadata(e),
        })?;
    }
    Ok(())
}

/// A blocking task that panicked or was cancelled at shutdown.
fn joined(path: &Path) -> impl FnOnce(tokio::task::JoinError) -> Error {
    let path = path.to_owned();
    move |e| Error::Io {
        action: "writing",
        path,
        source: io::Error::other(e.to_string()),
    }
}

/// An open destination and, when replacing, the temporary file to rename.
struct Prepared {
    file: File,
    temp: Option<TempFile>,
    final_path: PathBuf,
    /// Whether the destination is a regular file (which can hold metadata).
    regular: bool,
}

/// How the target gets its new content.
enum Plan {
    /// Write a temporary file and rename it over `path`, keeping the mode
    /// (less set-id bits) and non-metadata user attributes of the
    /// `existing` file.
    Replace {
        path: PathBuf,
        existing: Option<std::fs::Metadata>,
    },
    /// Truncate and write the target itself.
    InPlace {
        /// Whether envd may change the owner (a regular file on a real filesystem).
        chown: bool,
    },
}

fn prepare(target: &Path, owner: Owner) -> Result<Prepared, Error> {
    let parent = target.parent().unwrap_or(Path::new("/"));
    dirs::ensure_dirs(parent, owner.uid, owner.gid)?;
    match plan(target)? {
        Plan::InPlace { chown } => in_place(target, owner, chown),
        Plan::Replace { path, existing } => match TempFile::create(&path, existing.is_some()) {
            Ok((file, temp)) => {
                fchown(&file, Some(owner.uid.as_raw()), Some(owner.gid.as_raw()))
                    .map_err(io_err("changing the owner of", &path))?;
                if let Some(existing) = existing {
                    file.set_permissions(Permissions::from_mode(without_set_id(existing.mode())))
                        .map_err(io_err("setting the mode of", &path))?;
                    metadata::carry_over_user_xattrs(&path, &file);
                }
                Ok(Prepared {
                    file,
                    temp: Some(temp),
                    final_path: path,
                    regular: true,
                })
            }
            Err(e) if is_full(&e) => Err(Error::NoInodes(e)),
            // No temporary file possible here (read-only directory, special
            // filesystem): an existing file can still be written in place.
            Err(_) if existing.is_some() => in_place(&path, owner, true),
            Err(e) => Err(io_err("creating", target)(e)),
        },
    }
}

/// The permission bits of `st_mode` a write leaves: the kernel clears
/// set-user-ID, and set-group-ID when group execute is set (without it,
/// set-group-ID marks mandatory locking, not a privilege).
fn without_set_id(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o7777;
    mode &= !libc::S_ISUID;
    if mode & libc::S_IXGRP != 0 {
        mode &= !libc::S_ISGID;
    }
    mode
}

fn plan(target: &Path) -> Result<Plan, Error> {
    let link = match std::fs::symlink_metadata(target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Plan::Replace {
                path: target.to_owned(),
                existing: None,
            });
        }
        Err(e) => return Err(io_err("checking", target)(e)),
    };
    let (path, meta) = if link.file_type().is_symlink() {
        // Replace the file the link points to, keeping the link.
        match std::fs::canonicalize(target)
            .and_then(|real| Ok((real.clone(), std::fs::metadata(real)?)))
        {
            Ok(resolved) => resolved,
            // Dangling: opening through the link creates its target.
            Err(_) => return Ok(Plan::InPlace { chown: true }),
        }
    } else {
        (target.to_owned(), link)
    };
    if meta.is_dir() {
        return Err(Error::IsDirectory(target.to_owned()));
    }
    if !meta.is_file() {
        return Ok(Plan::InPlace { chown: false });
    }
    if on_special_fs(&path) {
        return Ok(Plan::InPlace { chown: false });
    }
    if meta.nlink() > 1 {
        return Ok(Plan::InPlace { chown: true });
    }
    Ok(Plan::Replace {
        path,
        existing: Some(meta),
    })
}

/// `/proc`, `/sys` and friends: files there are not replaced by renames.
fn on_special_fs(path: &Path) -> bool {
    const SPECIAL: [statfs::FsType; 7] = [
        statfs::PROC_SUPER_MAGIC,
        statfs::SYSFS_MAGIC,
        statfs::CGROUP_SUPER_MAGIC,
        statfs::CGROUP2_SUPER_MAGIC,
        statfs::DEBUGFS_MAGIC,
        statfs::SECURITYFS_MAGIC,
        statfs::TRACEFS_MAGIC,
    ];
    statfs::statfs(path).is_ok_and(|s| SPECIAL.contains(&s.filesystem_type()))
}

/// Opens `target` with `O_TRUNC` (mode 0666 less the umask when created).
/// `O_NONBLOCK` keeps a FIFO without a reader from blocking forever; it is
/// cleared once open. With `chown` (a regular file), an existing file is
/// given to `owner` before it is opened, as the Go envd does (which also
/// clears its set-id bits), a created one right after.
fn in_place(target: &Path, owner: Owner, chown: bool) -> Result<Prepared, Error> {
    let existed = chown && std::fs::metadata(target).is_ok();
    if existed {
        std::os::unix::fs::chown(target, Some(owner.uid.as_raw()), Some(owner.gid.as_raw()))
            .map_err(io_err("changing the owner of", target))?;
    }
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o666)
        .custom_flags(libc::O_NONBLOCK)
        .open(target)
        .map_err(|e| {
            if is_full(&e) {
                Error::NoInodes(e)
            } else {
                io_err("opening", target)(e)
            }
        })?;
    let flags = fcntl(&file, FcntlArg::F_GETFL).map_err(|e| io_err("opening", target)(e.into()))?;
    let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    fcntl(&file, FcntlArg::F_SETFL(flags)).map_err(|e| io_err("opening", target)(e.into()))?;
    if chown && !existed {
        fchown(&file, Some(owner.uid.as_raw()), Some(owner.gid.as_raw()))
            .map_err(io_err("changing the owner of", target))?;
    }
    Ok(Prepared {
        file,
        temp: None,
        final_path: target.to_owned(),
        regular: chown,
    })
}

/// What renaming an upload's temporary file into place does to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// The upload creates the file.
    Creates,
    /// The upload replaces an existing file.
    Replaces,
}

/// Whether `name` is one of the temporary files uploads are written to
/// before they are renamed into place (watchers leave them out), and what
/// its rename does. The name says it, so a watcher can report the upload
/// as the in-place write it stands for.
pub fn upload_temp(name: &std::ffi::OsStr) -> Option<Landing> {
    let name = name.as_encoded_bytes();
    let stem = name
        .strip_prefix(b".")?
        .strip_suffix(TEMP_SUFFIX.as_bytes())?;
    if stem.ends_with(REPLACE_MARK.as_bytes()) {
        Some(Landing::Replaces)
    } else {
        Some(Landing::Creates)
    }
}

/// The suffix of upload temporary files.
const TEMP_SUFFIX: &str = ".envd-upload";
/// What precedes [`TEMP_SUFFIX`] in the name of a temporary that replaces
/// an existing file.
const REPLACE_MARK: &str = ".replace";
/// The same for a temporary that creates the file.
const CREATE_MARK: &str = ".create";
/// The longest prefix of the target's name kept in a temporary's name, so
/// the temporary's stays below `NAME_MAX` (255 bytes).
const NAME_KEPT: usize = 180;

/// A temporary file next to the target; removed on drop unless committed.
struct TempFile(Temp);

impl TempFile {
    /// Creates `.<name>.<unique>.{create,replace}.envd-upload` beside
    /// `target`, mode 0666 less the umask, like a fresh file.
    fn create(target: &Path, replaces: bool) -> io::Result<(File, Self)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = target.parent().unwrap_or(Path::new("/"));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let mut end = name.len().min(NAME_KEPT);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let name = &name[..end];
        let mark = if replaces { REPLACE_MARK } else { CREATE_MARK };
        let (file, temp) = Temp::create("temporary upload file", || {
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            dir.join(format!(
                ".{name}.{:x}{unique:x}{nanos:x}{mark}{TEMP_SUFFIX}",
                std::process::id()
            ))
        })
        .map_err(|(e, _)| e)?;
        Ok((file, Self(temp)))
    }

    /// Renames the temporary file over `target`. If the rename is refused
    /// (the target is a mount point, say), copies the content in place and
    /// gives the target `metadata`.
    fn commit(mut self, target: &Path, metadata: &Metadata) -> Result<(), Commit> {
        if self.0.rename_onto(target).is_ok() {
            return Ok(());
        }
        let mut from = File::open(self.0.path()).map_err(Commit::Io)?;
        let mut to = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(target)
            .map_err(Commit::Io)?;
        io::copy(&mut from, &mut to).map_err(Commit::Io)?;
        metadata::replace(&to, metadata).map_err(Commit::Metadata)
    }
}

/// Why a temporary could not be committed.
enum Commit {
    Io(io::Error),
    Metadata(metadata::StoreError),
}

#[cfg(test)]
mod tests;

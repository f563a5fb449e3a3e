//! Stat, MakeDir, Move, ListDir and Remove (spec §4.3) on paths already
//! resolved for the request's user. All of them block: run them off the
//! async workers.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};

use super::dirs::ensure_dirs;
use super::entry::{EntryInfo, FileType, Names, entry_info};
use super::{Error, path};

/// Describes `path` (a symlink describes the link).
pub fn stat(path: &Path) -> Result<EntryInfo, Error> {
    entry_info(path, &mut Names::default())
}

/// Creates the directory `path` and its missing parents, each owned by
/// `uid:gid`. An existing directory is [`Error::DirExists`].
pub fn make_dir(path: &Path, uid: Uid, gid: Gid) -> Result<EntryInfo, Error> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(Error::DirExists(path.to_owned())),
        Ok(_) => return Err(Error::ExistsNotADirectory(path.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Stat {
                path: path.to_owned(),
                source,
            });
        }
    }
    ensure_dirs(path, uid, gid)?;
    stat(path)
}

/// Renames `source` to `destination` (replacing an existing file there),
/// first creating the destination's missing parents owned by `uid:gid`.
/// Returns the destination's entry.
pub fn move_path(
    source: &Path,
    destination: &Path,
    uid: Uid,
    gid: Gid,
) -> Result<EntryInfo, Error> {
    if let Some(parent) = destination.parent() {
        ensure_dirs(parent, uid, gid)?;
    }
    std::fs::rename(source, destination).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Error::SourceNotFound(source.to_owned())
        } else {
            Error::Rename {
                from: source.to_owned(),
                to: destination.to_owned(),
                source: e,
            }
        }
    })?;
    stat(destination)
}

/// Lists `requested` to `depth` levels (0 counts as 1): depth first, in
/// lexical order within each directory, never following symlinks below the
/// root. Only the root's symlinks are resolved, and every entry's path is
/// reported under `requested`, not under the resolved root.
pub fn list_dir(requested: &Path, depth: u32) -> Result<Vec<EntryInfo>, Error> {
    let max_depth = depth.max(1);
    let root = std::fs::canonicalize(requested).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            Error::PathNotFound(requested.to_owned())
        } else if source.raw_os_error() == Some(libc::ELOOP) {
            Error::CyclicSymlink(requested.to_owned())
        } else {
            Error::Resolve {
                path: requested.to_owned(),
                source,
            }
        }
    })?;
    match std::fs::metadata(&root) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(Error::NotADirectory(requested.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::PathNotFound(requested.to_owned()));
        }
        Err(source) => return Err(Error::Stat { path: root, source }),
    }

    let mut names = Names::default();
    let mut entries = Vec::new();
    // Directories being walked: (path relative to the root, their depth,
    // the children not yet visited, in reverse lexical order).
    let mut stack = vec![(PathBuf::new(), 1, sorted_children(&root, true)?)];
    while let Some((dir, level, children)) = stack.last_mut() {
        let Some(child) = children.pop() else {
            stack.pop();
            continue;
        };
        let (level, relative) = (*level, dir.join(child));
        let mut entry = match entry_info(&root.join(&relative), &mut names) {
            Ok(entry) => entry,
            // Removed while we walked: skip it.
            Err(Error::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        entry.path = path::clean(&requested.join(&relative));
        let descend = level < max_depth
            && entry.kind == FileType::Directory
            && entry.symlink_target.is_none();
        entries.push(entry);
        if descend {
            let children = sorted_children(&root.join(&relative), false)?;
            stack.push((relative, level + 1, children));
        }
    }
    Ok(entries)
}

/// The names in `dir`, in reverse lexical (byte) order so popping yields
/// them in order. A vanished subdirectory has no children.
fn sorted_children(dir: &Path, is_root: bool) -> Result<Vec<OsString>, Error> {
    let read_error = |source| Error::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let reader = match std::fs::read_dir(dir) {
        Ok(reader) => reader,
        Err(e) if !is_root && e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_error(e)),
    };
    let mut names = reader
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(read_error)?;
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names)
}

/// `rm -rf path`: files and symlinks are unlinked, directories removed
/// with their contents. A missing path is success.
pub fn remove(path: &Path) -> Result<(), Error> {
    if path.parent().is_none() {
        return Err(Error::RemoveRoot);
    }
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Remove {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[EntryInfo], root: &Path) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                e.path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn list_dir_depth_and_order() {
        let tmp = tempfile::tempdir_in("/tmp").unwrap();
        let t = tmp.path();
        std::fs::create_dir_all(t.join("b/sub-1")).unwrap();
        std::fs::create_dir_all(t.join("b/sub-2")).unwrap();
        std::fs::write(t.join("b/sub-1/file.txt"), b"x").unwrap();
        std::fs::write(t.join("a"), b"x").unwrap();
        std::fs::write(t.join("B"), b"x").unwrap();
        assert_eq!(names(&list_dir(t, 0).unwrap(), t), ["B", "a", "b"]);
        assert_eq!(
            names(&list_dir(t, 2).unwrap(), t),
            ["B", "a", "b", "b/sub-1", "b/sub-2"]
        );
        assert_eq!(
            names(&list_dir(t, 3).unwrap(), t),
            ["B", "a", "b", "b/sub-1", "b/sub-1/file.txt", "b/sub-2"]
        );
    }

    #[test]
    fn remove_refuses_the_root() {
        assert!(matches!(remove(Path::new("/")), Err(Error::RemoveRoot)));
    }

    #[test]
    fn remove_missing_is_ok() {
        remove(Path::new("/tmp/envd-definitely-missing/x")).unwrap();
    }
}

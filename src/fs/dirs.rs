//! `EnsureDirs`: creates missing parents one component at a time, each
//! `0755` (umask applies) and owned by the acting user. Existing
//! directories are left as they are.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, chown};

/// Why the directories could not be created.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A component exists and is not a directory.
    #[error("path is a file: {}", .0.display())]
    NotADirectory(PathBuf),
    /// mkdir or chown failed.
    #[error("error creating directory {}: {source}", .path.display())]
    Create {
        /// The component.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Creates `dir` and every missing parent, owned by `uid:gid`.
pub fn ensure_dirs(dir: &Path, uid: Uid, gid: Gid) -> Result<(), Error> {
    let mut current = PathBuf::new();
    for component in dir.components() {
        current.push(component);
        match std::fs::metadata(&current) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => return Err(Error::NotADirectory(current)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Create {
                    path: current,
                    source,
                });
            }
        }
        match std::fs::DirBuilder::new().mode(0o755).create(&current) {
            Ok(()) => {}
            // Someone else created it meanwhile: still ours to chown.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && current.is_dir() => {}
            Err(source) => {
                return Err(Error::Create {
                    path: current,
                    source,
                });
            }
        }
        chown(&current, Some(uid), Some(gid)).map_err(|e| Error::Create {
            path: current.clone(),
            source: e.into(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn creates_missing_parents_owned_by_user_and_rejects_files() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("a/b/c");
        ensure_dirs(&target, Uid::from_raw(65534), Gid::from_raw(65534)).unwrap();
        let meta = std::fs::metadata(tmp.path().join("a/b")).unwrap();
        assert!(meta.is_dir());
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        // Existing directories are not re-chowned.
        assert_eq!(std::fs::metadata(tmp.path()).unwrap().uid(), 0);
        std::fs::write(tmp.path().join("file"), b"x").unwrap();
        assert!(matches!(
            ensure_dirs(
                &tmp.path().join("file/sub"),
                Uid::from_raw(0),
                Gid::from_raw(0)
            ),
            Err(Error::NotADirectory(_))
        ));
    }
}

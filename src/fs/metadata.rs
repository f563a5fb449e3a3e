//! File metadata (E2B ≥ 0.6.2, spec §4.2, §5.7): a set of `key: value`
//! strings stored as the extended attributes `user.e2b.<key>`.
//!
//! Reading is best effort (unreadable or non-UTF-8 entries are skipped, a
//! filesystem without user xattrs has none). Writing replaces the whole
//! set; a filesystem without user xattrs is not an error either, only a
//! full one is.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::Path;

use crate::sys;

/// Metadata keys and their values.
pub type Metadata = BTreeMap<String, String>;

/// Prefix of the extended attributes that hold metadata.
pub const XATTR_PREFIX: &str = "user.e2b.";

/// The longest key: `user.e2b.` plus the key fit `XATTR_NAME_MAX` (255).
pub const MAX_KEY: usize = 246;
/// The most bytes all names and values may take together.
pub const MAX_TOTAL: usize = 4096;

/// Why the metadata headers were refused.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// A key with a byte outside printable ASCII.
    #[error("key {0:?} contains characters other than printable ASCII")]
    KeyNotPrintable(String),
    /// A value with a byte outside printable ASCII.
    #[error("value of key {0:?} contains characters other than printable ASCII")]
    ValueNotPrintable(String),
    /// A key longer than [`MAX_KEY`] bytes.
    #[error("key {key:?} is {len} bytes long, more than {MAX_KEY}")]
    KeyTooLong {
        /// The key.
        key: String,
        /// Its length.
        len: usize,
    },
    /// More than [`MAX_TOTAL`] bytes of names and values.
    #[error(
        "metadata takes {0} bytes (names with the user.e2b. prefix and values), more than {MAX_TOTAL}"
    )]
    TooLarge(usize),
}

/// Namespace of the extended attributes any user may set on own files.
const USER_NAMESPACE: &str = "user.";

/// The metadata of `path` itself (a symlink's own, not its target's).
pub fn read(path: &Path) -> Metadata {
    let Ok(names) = sys::list_xattrs(path) else {
        return Metadata::new();
    };
    names
        .iter()
        .filter_map(|name| {
            let key = name.to_str()?.strip_prefix(XATTR_PREFIX)?;
            let value = sys::get_xattr(path, OsStr::new(name)).ok()?;
            Some((key.to_owned(), String::from_utf8(value).ok()?))
        })
        .collect()
}

/// Why metadata could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No space (or quota) left for the attributes.
    #[error("not enough disk space available to store metadata: {0}")]
    NoSpace(io::Error),
    /// Any other failure.
    #[error("error setting metadata: {0}")]
    Io(io::Error),
}

/// Whether `e` says the filesystem has no user extended attributes.
fn unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EOPNOTSUPP)
}

fn store_error(e: io::Error) -> StoreError {
    if matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) {
        StoreError::NoSpace(e)
    } else {
        StoreError::Io(e)
    }
}

/// Makes `metadata` the whole metadata of the open `file`: every
/// `user.e2b.*` attribute not in it is removed (also when it is empty),
/// the others are set. Other attributes are left alone.
pub fn replace(file: &File, metadata: &Metadata) -> Result<(), StoreError> {
    let names = match sys::flist_xattrs(file) {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) => return Err(store_error(e)),
    };
    for name in &names {
        let stale = name
            .to_str()
            .and_then(|n| n.strip_prefix(XATTR_PREFIX))
            .is_some_and(|key| !metadata.contains_key(key));
        if stale {
            match sys::fremove_xattr(file, name) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
    }
    for (key, value) in metadata {
        let name = OsString::from(format!("{XATTR_PREFIX}{key}"));
        match sys::fset_xattr(file, &name, value.as_bytes()) {
            Ok(()) => {}
            Err(e) if unsupported(&e) => return Ok(()),
            Err(e) => return Err(store_error(e)),
        }
    }
    Ok(())
}

/// Copies the user attributes of `from` that are not metadata to the open
/// `to` (a replacement of `from` keeps them, as an in-place write would).
/// Best effort: an attribute that cannot be copied is left out.
pub fn carry_over_user_xattrs(from: &Path, to: &File) {
    let Ok(names) = sys::list_xattrs(from) else {
        return;
    };
    for name in names {
        let Some(text) = name.to_str() else { continue };
        if !text.starts_with(USER_NAMESPACE) || text.starts_with(XATTR_PREFIX) {
            continue;
        }
        if let Ok(value) = sys::get_xattr(from, &name)
            && let Err(e) = sys::fset_xattr(to, &name, &value)
        {
            tracing::debug!(path = %from.display(), name = text, error = %e, "extended attribute not carried over");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails the test, rather than letting it pass having checked
    /// nothing, where `dir` has no user xattrs.
    fn require_user_xattrs(dir: &Path) {
        let probe = File::create(dir.join("probe")).unwrap();
        if let Err(e) = sys::fset_xattr(&probe, OsStr::new("user.probe"), b"1") {
            panic!(
                "setting a user xattr in {}: {e}; this test needs a filesystem with user xattrs at /tmp",
                dir.display()
            );
        }
    }

    #[test]
    fn replace_sets_and_clears_only_metadata() {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        require_user_xattrs(dir.path());
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        sys::fset_xattr(&file, OsStr::new("user.other"), b"kept").unwrap();
        let first = Metadata::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        replace(&file, &first).unwrap();
        assert_eq!(read(&path), first);
        let second = Metadata::from([("b".into(), "3".into())]);
        replace(&file, &second).unwrap();
        assert_eq!(read(&path), second);
        replace(&file, &Metadata::new()).unwrap();
        assert!(read(&path).is_empty());
        assert_eq!(
            sys::get_xattr(&path, OsStr::new("user.other")).unwrap(),
            b"kept"
        );
    }
}

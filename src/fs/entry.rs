//! `EntryInfo`: what Stat, ListDir, MakeDir, Move and watch events report
//! about one path (spec §4.2). Symlinks are described by `lstat`, except
//! that their type and mode come from the fully resolved target.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};

use super::Error;
use crate::identity;

/// What kind of entry a path is. Symlinks report their target's kind, so
/// there is no symlink kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// Anything else: devices, fifos, sockets, broken or cyclic symlinks.
    Other,
}

/// A modification time: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mtime {
    /// Whole seconds (negative before 1970).
    pub secs: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: u32,
}

/// Everything envd reports about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Last path element (`/` for the root).
    pub name: String,
    /// Kind (of the target, for a symlink).
    pub kind: FileType,
    /// The path as the request resolved it (symlinks not resolved).
    pub path: PathBuf,
    /// `lstat` size: a symlink's is the length of its text.
    pub size: i64,
    /// Permission bits only (`st_mode & 0o777`), of the target for a symlink.
    pub mode: u32,
    /// Go's `FileMode.String()` of the `lstat` mode, e.g. `drwxr-xr-x`.
    pub permissions: String,
    /// Owner name, or the decimal uid when passwd has none.
    pub owner: String,
    /// Group name, or the decimal gid when the group database has none.
    pub group: String,
    /// `lstat` mtime; `None` when it is exactly the epoch.
    pub modified: Option<Mtime>,
    /// For a symlink: the fully resolved target, or the path itself when
    /// it cannot be resolved (broken or cyclic).
    pub symlink_target: Option<PathBuf>,
    /// `user.e2b.<key>` extended attributes as `<key>: value` (best effort).
    pub metadata: BTreeMap<String, String>,
}

/// Owner and group names looked up so far, so listing a large directory
/// reads passwd once per distinct id.
#[derive(Debug, Default)]
pub struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    fn user(&mut self, uid: u32) -> String {
        self.users
            .entry(uid)
            .or_insert_with(|| identity::user_name(Uid::from_raw(uid)))
            .clone()
    }

    fn group(&mut self, gid: u32) -> String {
        self.groups
            .entry(gid)
            .or_insert_with(|| identity::group_name(Gid::from_raw(gid)))
            .clone()
    }
}

/// Describes `path` without following it if it is a symlink.
pub fn entry_info(path: &Path, names: &mut Names) -> Result<EntryInfo, Error> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            Error::NotFound(path.to_owned())
        } else {
            Error::Stat {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let (kind, mode, symlink_target) = if meta.file_type().is_symlink() {
        let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let (kind, mode) = match std::fs::metadata(&target) {
            Ok(t) => (kind_of(&t), t.mode() & 0o777),
            Err(_) => (FileType::Other, 0),
        };
        (kind, mode, Some(target))
    } else {
        (kind_of(&meta), meta.mode() & 0o777, None)
    };
    let modified = match (meta.mtime(), meta.mtime_nsec()) {
        (0, 0) => None,
        (secs, nanos) => Some(Mtime {
            secs,
            nanos: u32::try_from(nanos).unwrap_or(0),
        }),
    };
    Ok(EntryInfo {
        name: base_name(path),
        kind,
        path: path.to_owned(),
        size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
        mode,
        permissions: permissions(meta.mode()),
        owner: names.user(meta.uid()),
        group: names.group(meta.gid()),
        modified,
        symlink_target,
        metadata: super::metadata::read(path),
    })
}

fn kind_of(meta: &std::fs::Metadata) -> FileType {
    let t = meta.file_type();
    if t.is_file() {
        FileType::File
    } else if t.is_dir() {
        FileType::Directory
    } else {
        FileType::Other
    }
}

/// Go's `filepath.Base`: the last element, trailing slashes ignored; `/`
/// for the root and `.` for an empty path.
fn base_name(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return ".".to_owned();
    }
    let trimmed = match bytes.iter().rposition(|b| *b != b'/') {
        Some(end) => &bytes[..=end],
        None => return "/".to_owned(),
    };
    let start = trimmed
        .iter()
        .rposition(|b| *b == b'/')
        .map_or(0, |i| i + 1);
    String::from_utf8_lossy(&trimmed[start..]).into_owned()
}

/// Go's `FileMode.String()` for a Linux `st_mode`: one letter per set type
/// or special bit in Go's order `d a l T L D p S u g c t ?` (or `-` when
/// none is set), then `rwxrwxrwx`. Linux modes never set Go's append,
/// exclusive, temporary or irregular bits, so `a l T ?` never appear.
pub fn permissions(st_mode: u32) -> String {
    let format = st_mode & libc::S_IFMT;
    let mut out = String::with_capacity(13);
    let flags = [
        ('d', format == libc::S_IFDIR),
        ('L', format == libc::S_IFLNK),
        ('D', format == libc::S_IFBLK || format == libc::S_IFCHR),
        ('p', format == libc::S_IFIFO),
        ('S', format == libc::S_IFSOCK),
        ('u', st_mode & libc::S_ISUID != 0),
        ('g', st_mode & libc::S_ISGID != 0),
        ('c', format == libc::S_IFCHR),
        ('t', st_mode & libc::S_ISVTX != 0),
    ];
    out.extend(flags.iter().filter(|(_, set)| *set).map(|(c, _)| c));
    if out.is_empty() {
        out.push('-');
    }
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        out.push(if st_mode & (1 << (8 - i)) != 0 {
            c
        } else {
            '-'
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_strings_follow_go() {
        let cases = [
            (libc::S_IFREG | 0o644, "-rw-r--r--"),
            (libc::S_IFDIR | 0o755, "drwxr-xr-x"),
            (libc::S_IFLNK | 0o777, "Lrwxrwxrwx"),
            (libc::S_IFDIR | libc::S_ISVTX | 0o777, "dtrwxrwxrwx"),
            (libc::S_IFREG | libc::S_ISUID | 0o755, "urwxr-xr-x"),
            (libc::S_IFREG | libc::S_ISGID | 0o755, "grwxr-xr-x"),
            (libc::S_IFCHR | 0o666, "Dcrw-rw-rw-"),
            (libc::S_IFBLK | 0o660, "Drw-rw----"),
            (libc::S_IFIFO | 0o644, "prw-r--r--"),
            (libc::S_IFSOCK | 0o755, "Srwxr-xr-x"),
            (libc::S_IFREG, "----------"),
        ];
        for (mode, want) in cases {
            assert_eq!(permissions(mode), want, "mode {mode:o}");
        }
    }

    #[test]
    fn base_name_like_go() {
        assert_eq!(base_name(Path::new("/")), "/");
        assert_eq!(base_name(Path::new("//")), "/");
        assert_eq!(base_name(Path::new("")), ".");
        assert_eq!(base_name(Path::new("/a/b/")), "b");
        assert_eq!(base_name(Path::new("a")), "a");
    }
}

//! The passwd and group files, read directly.
//!
//! A static binary cannot use glibc's NSS (it would `dlopen` the modules of
//! whatever glibc the VM has), so envd reads the two files its sandboxes
//! use, as Go's pure `os/user` does. Lines that are empty, comments, NIS
//! `+`/`-` entries or malformed are skipped; the first matching entry wins.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};

/// A passwd entry, the fields envd uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PasswdEntry {
    pub(super) name: String,
    pub(super) uid: Uid,
    pub(super) gid: Gid,
    pub(super) home: PathBuf,
    pub(super) shell: PathBuf,
}

/// Where the two databases live.
#[derive(Debug, Clone, Copy)]
pub(super) struct Databases<'a> {
    pub(super) passwd: &'a Path,
    pub(super) group: &'a Path,
}

impl Databases<'static> {
    /// The system's `/etc/passwd` and `/etc/group`.
    pub(super) fn system() -> Self {
        Self {
            passwd: Path::new("/etc/passwd"),
            group: Path::new("/etc/group"),
        }
    }
}

impl Databases<'_> {
    /// The first passwd entry matching `want`.
    pub(super) fn find_user(
        &self,
        want: impl Fn(&PasswdEntry) -> bool,
    ) -> io::Result<Option<PasswdEntry>> {
        find(self.passwd, |fields| {
            parse_passwd(fields).filter(|entry| want(entry))
        })
    }

    /// The name of group `gid`.
    pub(super) fn group_name(&self, gid: Gid) -> io::Result<Option<String>> {
        find(self.group, |fields| {
            let group = parse_group(fields)?;
            (group.gid == gid).then(|| lossy(group.name))
        })
    }

    /// `primary` followed by every group listing `user` as a member, in file
    /// order without repeats, as `getgrouplist` returns them. A missing group
    /// file means no supplementary groups.
    pub(super) fn group_list(&self, user: &str, primary: Gid) -> io::Result<Vec<Gid>> {
        let mut groups = vec![primary];
        let file = match File::open(self.group) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(groups),
            Err(e) => return Err(e),
        };
        for line in BufReader::new(file).split(b'\n') {
            let line = line?;
            let Some(group) = parse_group(&fields(&line)) else {
                continue;
            };
            let member = group
                .members
                .split(|&b| b == b',')
                .any(|m| m == user.as_bytes());
            if member && !groups.contains(&group.gid) {
                groups.push(group.gid);
            }
        }
        Ok(groups)
    }
}

/// The first `parse(fields)` that yields a value, over the lines of `path`.
fn find<T>(path: &Path, mut parse: impl FnMut(&[&[u8]]) -> Option<T>) -> io::Result<Option<T>> {
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        if let Some(found) = parse(&fields(&line?)) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The colon-separated fields of a line; none for blank lines, comments
/// and NIS compat entries.
fn fields(line: &[u8]) -> Vec<&[u8]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.first() {
        None | Some(b'#' | b'+' | b'-') => Vec::new(),
        Some(_) => line.split(|&b| b == b':').collect(),
    }
}

/// `name:password:uid:gid:gecos:home:shell`.
fn parse_passwd(fields: &[&[u8]]) -> Option<PasswdEntry> {
    let [name, _, uid, gid, _, home, shell] = fields else {
        return None;
    };
    if name.is_empty() {
        return None;
    }
    Some(PasswdEntry {
        name: lossy(name),
        uid: Uid::from_raw(number(uid)?),
        gid: Gid::from_raw(number(gid)?),
        home: PathBuf::from(OsStr::from_bytes(home)),
        shell: PathBuf::from(OsStr::from_bytes(shell)),
    })
}

/// A group line's fields.
struct GroupEntry<'a> {
    name: &'a [u8],
    gid: Gid,
    members: &'a [u8],
}

/// `name:password:gid:member,member`.
fn parse_group<'a>(fields: &[&'a [u8]]) -> Option<GroupEntry<'a>> {
    let [name, _, gid, members] = fields else {
        return None;
    };
    if name.is_empty() {
        return None;
    }
    Some(GroupEntry {
        name,
        gid: Gid::from_raw(number(gid)?),
        members,
    })
}

/// A decimal id; anything else (empty, signs, overflow) is malformed.
fn number(field: &[u8]) -> Option<u32> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests;

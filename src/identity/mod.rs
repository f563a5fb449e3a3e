//! Users and groups from the passwd and group files.
//!
//! The home directory always comes from passwd (root's is `/root`), never
//! synthesised from the name. The files are read directly ([`db`]), not
//! through glibc's NSS, so the static binary needs no `libnss_*` at run time.

mod db;

use std::path::PathBuf;

use nix::errno::Errno;
use nix::unistd::{Gid, Uid};

use db::Databases;

/// A user that processes run as and paths resolve for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: Uid,
    /// Primary group id.
    pub gid: Gid,
    /// Home directory from passwd.
    pub home: PathBuf,
    /// Primary and supplementary group ids, as `initgroups` would set them.
    pub groups: Vec<Gid>,
    /// Login shell from passwd (`/bin/sh` when the entry names none).
    pub shell: PathBuf,
}

/// A user that cannot be looked up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No passwd entry.
    #[error("invalid username: '{0}'")]
    UnknownUser(String),
    /// The lookup itself failed.
    #[error("error looking up user '{name}': {source}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// Why.
        source: nix::Error,
    },
}

/// Looks up `name` in passwd, with its supplementary groups.
pub fn lookup(name: &str) -> Result<User, Error> {
    lookup_in(&Databases::system(), name)
}

/// Name of `uid`, or its number when passwd has none.
pub fn user_name(uid: Uid) -> String {
    user_name_in(&Databases::system(), uid)
}

/// Name of `gid`, or its number when the group database has none.
pub fn group_name(gid: Gid) -> String {
    group_name_in(&Databases::system(), gid)
}

fn lookup_in(dbs: &Databases<'_>, name: &str) -> Result<User, Error> {
    let lookup_err = |e: std::io::Error| Error::Lookup {
        name: name.to_owned(),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    };
    let pw = dbs
        .find_user(|entry| entry.name == name)
        .map_err(lookup_err)?
        .ok_or_else(|| Error::UnknownUser(name.to_owned()))?;
    let groups = dbs.group_list(name, pw.gid).map_err(lookup_err)?;
    Ok(User {
        name: pw.name,
        uid: pw.uid,
        gid: pw.gid,
        home: pw.home,
        groups,
        shell: if pw.shell.as_os_str().is_empty() {
            PathBuf::from("/bin/sh")
        } else {
            pw.shell
        },
    })
}

fn user_name_in(dbs: &Databases<'_>, uid: Uid) -> String {
    dbs.find_user(|entry| entry.uid == uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

fn group_name_in(dbs: &Databases<'_>, gid: Gid) -> String {
    dbs.group_name(gid)
        .ok()
        .flatten()
        .unwrap_or_else(|| gid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_home_comes_from_passwd() {
        let root = lookup("root").unwrap();
        assert_eq!(root.uid, Uid::from_raw(0));
        assert_eq!(root.home, PathBuf::from("/root"));
        assert!(root.groups.contains(&Gid::from_raw(0)));
    }

    #[test]
    fn unknown_user_is_typed() {
        assert!(matches!(
            lookup("no-such-user-xyz"),
            Err(Error::UnknownUser(_))
        ));
    }
}

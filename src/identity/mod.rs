//! Users and groups from the passwd and group databases.
//!
//! The home directory always comes from passwd (root's is `/root`), never
//! synthesised from the name.

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{Gid, Group, Uid, User as PwUser};

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
    let lookup_err = |source| Error::Lookup {
        name: name.to_owned(),
        source,
    };
    let pw = PwUser::from_name(name)
        .map_err(lookup_err)?
        .ok_or_else(|| Error::UnknownUser(name.to_owned()))?;
    let cname = CString::new(name).map_err(|_| Error::UnknownUser(name.to_owned()))?;
    let groups = nix::unistd::getgrouplist(&cname, pw.gid).map_err(lookup_err)?;
    Ok(User {
        name: pw.name,
        uid: pw.uid,
        gid: pw.gid,
        home: pw.dir,
        groups,
    })
}

/// Name of `uid`, or its number when passwd has none.
pub fn user_name(uid: Uid) -> String {
    PwUser::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// Name of `gid`, or its number when the group database has none.
pub fn group_name(gid: Gid) -> String {
    Group::from_gid(gid)
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
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

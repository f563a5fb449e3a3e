use std::fs;

use tempfile::TempDir;

use super::*;
use crate::identity::{Error, group_name_in, lookup_in, user_name_in};

const PASSWD: &str = "\
# a comment, then a blank line

root:x:0:0:root:/root:/bin/bash
+nisuser::::::
broken:x:12
baduid:x:-1:0::/nowhere:/bin/sh
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\r
bob:x:1001:100::/srv/bob home:/bin/sh
alice:x:2000:2000::/shadowed:/bin/sh
";

const GROUP: &str = "\
root:x:0:
users:x:100:alice,bob
# wheel:x:10:alice
docker:x:999:bob,alice
alice:x:1000:
dup:x:100:alice
empty::7:
notanumber:x:1x:alice
";

struct Files {
    _dir: TempDir,
    passwd: PathBuf,
    group: PathBuf,
}

impl Files {
    fn new(passwd: &str, group: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let passwd_path = dir.path().join("passwd");
        let group_path = dir.path().join("group");
        fs::write(&passwd_path, passwd).unwrap();
        if let Some(group) = group {
            fs::write(&group_path, group).unwrap();
        }
        Self {
            _dir: dir,
            passwd: passwd_path,
            group: group_path,
        }
    }

    fn dbs(&self) -> Databases<'_> {
        Databases {
            passwd: &self.passwd,
            group: &self.group,
        }
    }
}

#[test]
fn user_with_home_and_groups_in_getgrouplist_order() {
    let files = Files::new(PASSWD, Some(GROUP));
    let alice = lookup_in(&files.dbs(), "alice").unwrap();
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.uid, Uid::from_raw(1000));
    assert_eq!(alice.gid, Gid::from_raw(1000));
    assert_eq!(alice.home, PathBuf::from("/home/alice"));
    // Primary first, then memberships in file order; gid 100 listed twice
    // appears once; commented and malformed lines are ignored.
    let gids: Vec<u32> = alice.groups.iter().map(|g| g.as_raw()).collect();
    assert_eq!(gids, [1000, 100, 999]);
}

#[test]
fn home_with_spaces_and_member_not_prefix_matched() {
    let files = Files::new(PASSWD, Some("bobby:x:5:bobby,xbob\nusers:x:100:bob\n"));
    let bob = lookup_in(&files.dbs(), "bob").unwrap();
    assert_eq!(bob.home, PathBuf::from("/srv/bob home"));
    // Primary gid 100 is also listed as a membership: once.
    let gids: Vec<u32> = bob.groups.iter().map(|g| g.as_raw()).collect();
    assert_eq!(gids, [100]);
}

#[test]
fn missing_group_file_leaves_only_the_primary_group() {
    let files = Files::new(PASSWD, None);
    let root = lookup_in(&files.dbs(), "root").unwrap();
    assert_eq!(root.groups, [Gid::from_raw(0)]);
}

#[test]
fn unknown_and_skipped_entries_are_unknown_users() {
    let files = Files::new(PASSWD, Some(GROUP));
    for name in [
        "nobody-here",
        "",
        "broken",
        "baduid",
        "+nisuser",
        "nisuser",
        "# a comment",
    ] {
        assert!(
            matches!(lookup_in(&files.dbs(), name), Err(Error::UnknownUser(ref n)) if n == name),
            "{name:?}"
        );
    }
}

#[test]
fn missing_passwd_file_is_a_lookup_error() {
    let files = Files::new(PASSWD, Some(GROUP));
    fs::remove_file(&files.passwd).unwrap();
    match lookup_in(&files.dbs(), "root") {
        Err(Error::Lookup { name, source }) => {
            assert_eq!(name, "root");
            assert_eq!(source, nix::errno::Errno::ENOENT);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn names_by_id_first_entry_wins_and_fall_back_to_numbers() {
    let files = Files::new(PASSWD, Some(GROUP));
    let dbs = files.dbs();
    assert_eq!(user_name_in(&dbs, Uid::from_raw(0)), "root");
    assert_eq!(user_name_in(&dbs, Uid::from_raw(1001)), "bob");
    assert_eq!(user_name_in(&dbs, Uid::from_raw(4242)), "4242");
    assert_eq!(group_name_in(&dbs, Gid::from_raw(100)), "users");
    assert_eq!(group_name_in(&dbs, Gid::from_raw(7)), "empty");
    assert_eq!(group_name_in(&dbs, Gid::from_raw(4242)), "4242");
    fs::remove_file(&files.group).unwrap();
    assert_eq!(group_name_in(&dbs, Gid::from_raw(100)), "100");
}

#[test]
fn the_system_files_agree_with_this_machine() {
    // The real /etc files: root exists everywhere envd runs.
    let dbs = Databases::system();
    assert_eq!(user_name_in(&dbs, Uid::from_raw(0)), "root");
    assert_eq!(group_name_in(&dbs, Gid::from_raw(0)), "root");
}

//! `POST /freeze` and `/unfreeze` (spec §5.8, [E2B]): cgroup v2
//! `cgroup.freeze` of the cgroups user processes run in, so the
//! orchestrator can snapshot a quiescent guest.
//!
//! Semantics (E2B documents only the field names; this is our contract):
//! * **legacy** freezes the cgroups E2B's envd places processes in
//!   (§7.6): `<root>/user` and `<root>/ptys`, those that exist.
//! * **hierarchy** freezes every cgroup under `<root>` except envd's own
//!   and its ancestors: a breadth-first walk that writes `1` to the
//!   topmost cgroups that do not contain envd (cgroup v2 freezes a
//!   cgroup's descendants with it, so their subtrees need no write), and
//!   descends only into envd's ancestors. At most `maxCgroups` cgroups are
//!   visited; the rest are left alone and `truncated` is set.
//! * **envd is never frozen**: a cgroup that is envd's own or one of its
//!   ancestors (from `/proc/self/cgroup`, read on every call) is counted
//!   in `allowlisted` and never written, in either mode. If envd's cgroup
//!   cannot be determined, or the root is not a cgroup v2 filesystem,
//!   nothing is written and the call fails. Processes that live directly
//!   in envd's cgroup or an ancestor cannot be frozen without freezing
//!   envd, so they keep running.
//! * The root cgroup itself is never written.
//! * Without `maxWaitMs` the freeze is requested and the call returns;
//!   with it, the call then polls each cgroup's `cgroup.events` until it
//!   reports `frozen 1` or the time is up, and returns a [`FreezeResult`].
//! * **unfreeze** writes `0` to every cgroup under the root whose
//!   `cgroup.freeze` is `1` — what a freeze froze and anything else frozen
//!   there.
//! * One freeze or unfreeze runs at a time; a second one fails with
//!   [`Error::Busy`] at once instead of queueing (the orchestrator retries).

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The cgroups legacy mode freezes (E2B's envd puts PTYs and user
/// processes there).
pub const LEGACY_CGROUPS: [&str; 2] = ["user", "ptys"];

/// How many cgroups `/unfreeze` visits at most.
const UNFREEZE_LIMIT: usize = 65_536;

/// How often the wait polls `cgroup.events`.
const POLL: Duration = Duration::from_millis(5);

/// Which cgroups a freeze covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `<root>/user` and `<root>/ptys`.
    Legacy,
    /// Everything under the root except envd's own cgroup and ancestors.
    Hierarchy,
}

/// What a freeze asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreezeRequest {
    /// Which cgroups.
    pub mode: Mode,
    /// The most cgroups to visit.
    pub max_cgroups: usize,
    /// Wait this long for the cgroups to report frozen; `None`: don't wait.
    pub max_wait: Option<Duration>,
}

/// What a freeze did. Counts are cgroups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FreezeResult {
    /// The mode used.
    pub mode: Mode,
    /// Cgroups examined (candidates and envd's allowlisted ones).
    pub visited: u32,
    /// Cgroups left running because envd is in them.
    pub allowlisted: u32,
    /// The walk stopped at `maxCgroups`; some cgroups were not examined.
    pub truncated: bool,
    /// Candidates whose `cgroup.freeze` was already `1` (not written).
    pub pre_frozen: u32,
    /// Candidates `1` was written to (including writes that failed).
    pub requested: u32,
    /// Of the requested (successfully) and pre-frozen: `frozen 1` seen in
    /// time. Zero when the call did not wait.
    pub frozen: u32,
    /// Of those: still `frozen 0` when the wait ended.
    pub not_frozen: u32,
    /// Writes to `cgroup.freeze` that failed.
    pub failed: u32,
    /// Of those waited for: `cgroup.events` unreadable or without `frozen`.
    pub unobservable: u32,
    /// Time spent walking and writing, in milliseconds.
    pub sweep_ms: u64,
    /// Time spent waiting, in milliseconds.
    pub wait_ms: u64,
}

/// What an unfreeze did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnfreezeResult {
    /// Cgroups `0` was written to.
    pub thawed: u32,
    /// Writes that failed.
    pub failed: u32,
}

/// The last freeze and unfreeze, for `/init`'s `X-Envd-Freeze-Audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    /// The last freeze whose sweep completed (one that failed before
    /// writing anything, e.g. on a bad root, is not recorded).
    pub last_freeze: Option<FreezeRecord>,
    /// The last unfreeze, by `/unfreeze` or by `/init`.
    pub last_unfreeze: Option<UnfreezeRecord>,
}

/// One recorded freeze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FreezeRecord {
    /// When it finished (RFC 3339, UTC).
    pub at: String,
    /// Whether it waited (`maxWaitMs` given).
    pub waited: bool,
    /// What it did.
    #[serde(flatten)]
    pub result: FreezeResult,
}

/// One recorded unfreeze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnfreezeRecord {
    /// When it finished (RFC 3339, UTC).
    pub at: String,
    /// `"unfreeze"` or `"init"`.
    pub by: &'static str,
    /// What it did.
    #[serde(flatten)]
    pub result: UnfreezeResult,
}

/// Why a freeze or unfreeze failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another freeze or unfreeze is running.
    #[error("another freeze or unfreeze is in progress")]
    Busy,
    /// The cgroup root is not a cgroup v2 filesystem.
    #[error("{} is not a cgroup v2 filesystem", .0.display())]
    NotCgroup2(PathBuf),
    /// The cgroup root cannot be read.
    #[error("cgroup root {}: {source}", path.display())]
    Root {
        /// The root.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// envd's own cgroup could not be found, so freezing could freeze envd.
    #[error("cannot determine envd's own cgroup: {0}")]
    OwnCgroup(String),
    /// Some cgroups could not be thawed.
    #[error("{failed} cgroups could not be thawed (first: {}: {source})", path.display())]
    Thaw {
        /// How many writes failed.
        failed: u32,
        /// The first that failed.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The blocking worker died.
    #[error("freeze worker failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The cgroup freezer of one cgroup root.
#[derive(Debug)]
pub struct Freezer {
    root: PathBuf,
    running: tokio::sync::Mutex<()>,
    audit: Mutex<Audit>,
    /// Whether the last completed operation was a freeze.
    frozen: Mutex<bool>,
}

impl Freezer {
    /// A freezer for the cgroups under `root` (`--cgroup-root`).
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            running: tokio::sync::Mutex::new(()),
            audit: Mutex::new(Audit::default()),
            frozen: Mutex::new(false),
        }
    }

    /// The last freeze and unfreeze.
    pub fn audit(&self) -> Audit {
        self.audit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Freezes per `request`; [`Error::Busy`] if another operation runs.
    pub async fn freeze(&self, request: FreezeRequest) -> Result<FreezeResult, Error> {
        let _running = self.running.try_lock().map_err(|_| Error::Busy)?;
        let root = self.root.clone();
        let result = tokio::task::spawn_blocking(move || freeze(&root, request)).await??;
        *self.frozen.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.audit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_freeze = Some(FreezeRecord {
            at: now(),
            waited: request.max_wait.is_some(),
            result: result.clone(),
        });
        tracing::info!(?result, "cgroups frozen");
        Ok(result)
    }

    /// Thaws everything frozen under the root; [`Error::Busy`] if another
    /// operation runs.
    pub async fn unfreeze(&self) -> Result<UnfreezeResult, Error> {
        let running = self.running.try_lock().map_err(|_| Error::Busy)?;
        self.unfreeze_locked("unfreeze", running).await
    }

    /// `/init`'s safety net after a restore: if the last operation was a
    /// freeze, thaw (waiting for a running operation rather than failing).
    pub async fn thaw_if_frozen(&self) -> Result<(), Error> {
        let running = self.running.lock().await;
        if !*self.frozen.lock().unwrap_or_else(PoisonError::into_inner) {
            return Ok(());
        }
        self.unfreeze_locked("init", running).await.map(drop)
    }

    async fn unfreeze_locked(
        &self,
        by: &'static str,
        _running: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<UnfreezeResult, Error> {
        let root = self.root.clone();
        let (result, first_error) = tokio::task::spawn_blocking(move || unfreeze(&root)).await??;
        *self.frozen.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.audit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_unfreeze = Some(UnfreezeRecord {
            at: now(),
            by,
            result,
        });
        tracing::info!(?result, by, "cgroups thawed");
        match first_error {
            Some((path, source)) => Err(Error::Thaw {
                failed: result.failed,
                path,
                source,
            }),
            None => Ok(result),
        }
    }
}

fn now() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The canonical root, checked to be cgroup v2.
fn checked_root(root: &Path) -> Result<PathBuf, Error> {
    let canonical = root.canonicalize().map_err(|source| Error::Root {
        path: root.to_owned(),
        source,
    })?;
    let fs = nix::sys::statfs::statfs(&canonical).map_err(|e| Error::Root {
        path: canonical.clone(),
        source: e.into(),
    })?;
    if fs.filesystem_type() != nix::sys::statfs::CGROUP2_SUPER_MAGIC {
        return Err(Error::NotCgroup2(canonical));
    }
    Ok(canonical)
}

/// envd's own cgroup directory, as a path comparable with `root`'s
/// descendants.
fn own_cgroup(root: &Path) -> Result<PathBuf, Error> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Error::OwnCgroup(format!("/proc/self/cgroup: {e}")))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::OwnCgroup(format!("/proc/self/mountinfo: {e}")))?;
    own_cgroup_from(&cgroups, &mountinfo, root)
}

/// [`own_cgroup`] from the texts of `/proc/self/cgroup` and
/// `/proc/self/mountinfo`: the cgroup v2 mount that holds `root` (the
/// longest mount point that is a prefix of it), joined with envd's path.
fn own_cgroup_from(cgroups: &str, mountinfo: &str, root: &Path) -> Result<PathBuf, Error> {
    let relative = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| Error::OwnCgroup("no cgroup v2 entry in /proc/self/cgroup".into()))?;
    let (mount_root, mount_point) = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split(' ').next()? == "cgroup2").then_some(())?;
            let mut fields = left.split(' ').skip(3);
            Some((fields.next()?, PathBuf::from(fields.next()?)))
        })
        .filter(|(_, point)| root.starts_with(point))
        .max_by_key(|(_, point)| point.as_os_str().len())
        .ok_or_else(|| Error::OwnCgroup(format!("no cgroup v2 mount holds {}", root.display())))?;
    let inside = Path::new(relative)
        .strip_prefix(mount_root)
        .unwrap_or(Path::new(relative));
    let inside = inside.strip_prefix("/").unwrap_or(inside);
    Ok(mount_point.join(inside))
}

/// The child cgroups (directories) of `dir`, sorted for a stable order.
fn children(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn read_flag(path: &Path) -> io::Result<bool> {
    Ok(std::fs::read_to_string(path)?.trim() == "1")
}

/// The `frozen` value of `cgroup.events`; `None` when unobservable.
fn events_frozen(cgroup: &Path) -> Option<bool> {
    let events = std::fs::read_to_string(cgroup.join("cgroup.events")).ok()?;
    events.lines().find_map(|l| match l.trim() {
        "frozen 1" => Some(true),
        "frozen 0" => Some(false),
        _ => None,
    })
}

/// The blocking freeze: choose candidates, write, optionally wait.
fn freeze(root: &Path, request: FreezeRequest) -> Result<FreezeResult, Error> {
    let started = Instant::now();
    let root = checked_root(root)?;
    let own = own_cgroup(&root)?;
    let mut result = FreezeResult {
        mode: request.mode,
        visited: 0,
        allowlisted: 0,
        truncated: false,
        pre_frozen: 0,
        requested: 0,
        frozen: 0,
        not_frozen: 0,
        failed: 0,
        unobservable: 0,
        sweep_ms: 0,
        wait_ms: 0,
    };
    let mut wait_for = Vec::new();
    let mut visit = |cgroup: PathBuf, result: &mut FreezeResult| -> bool {
        result.visited += 1;
        if own.starts_with(&cgroup) {
            result.allowlisted += 1;
            return true;
        }
        let freeze_file = cgroup.join("cgroup.freeze");
        if read_flag(&freeze_file).unwrap_or(false) {
            result.pre_frozen += 1;
            wait_for.push(cgroup);
            return false;
        }
        result.requested += 1;
        match std::fs::write(&freeze_file, b"1") {
            Ok(()) => wait_for.push(cgroup),
            Err(e) => {
                result.failed += 1;
                tracing::warn!(cgroup = %cgroup.display(), error = %e, "cannot freeze cgroup");
            }
        }
        false
    };
    match request.mode {
        Mode::Legacy => {
            for name in LEGACY_CGROUPS {
                let cgroup = root.join(name);
                if cgroup.is_dir() {
                    visit(cgroup, &mut result);
                }
            }
        }
        Mode::Hierarchy => {
            let mut queue: VecDeque<PathBuf> = VecDeque::from([root.clone()]);
            'walk: while let Some(dir) = queue.pop_front() {
                let kids = children(&dir).map_err(|source| Error::Root {
                    path: dir.clone(),
                    source,
                })?;
                for child in kids {
                    if result.visited as usize >= request.max_cgroups {
                        result.truncated = true;
                        break 'walk;
                    }
                    // Only envd's ancestors are descended into.
                    if visit(child.clone(), &mut result) {
                        queue.push_back(child);
                    }
                }
            }
        }
    }
    result.sweep_ms = millis(started.elapsed());
    if let Some(max_wait) = request.max_wait {
        let waiting = Instant::now();
        let deadline = waiting + max_wait;
        let mut pending = wait_for;
        loop {
            pending.retain(|cgroup| match events_frozen(cgroup) {
                Some(true) => {
                    result.frozen += 1;
                    false
                }
                Some(false) => true,
                None => {
                    result.unobservable += 1;
                    false
                }
            });
            if pending.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
        }
        result.not_frozen = u32::try_from(pending.len()).unwrap_or(u32::MAX);
        result.wait_ms = millis(waiting.elapsed());
    }
    Ok(result)
}

type FirstError = Option<(PathBuf, io::Error)>;

/// The blocking unfreeze: `0` to every frozen cgroup under the root.
fn unfreeze(root: &Path) -> Result<(UnfreezeResult, FirstError), Error> {
    let root = checked_root(root)?;
    let mut result = UnfreezeResult {
        thawed: 0,
        failed: 0,
    };
    let mut first_error = None;
    let mut visited = 0_usize;
    let mut queue = VecDeque::from([root]);
    while let Some(dir) = queue.pop_front() {
        let kids = match children(&dir) {
            Ok(kids) => kids,
            // A cgroup removed meanwhile has nothing left to thaw.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Error::Root { path: dir, source }),
        };
        for child in kids {
            visited += 1;
            if visited > UNFREEZE_LIMIT {
                tracing::warn!(
                    limit = UNFREEZE_LIMIT,
                    "unfreeze stopped at its cgroup limit"
                );
                return Ok((result, first_error));
            }
            let freeze_file = child.join("cgroup.freeze");
            if read_flag(&freeze_file).unwrap_or(false) {
                match std::fs::write(&freeze_file, b"0") {
                    Ok(()) => result.thawed += 1,
                    Err(e) => {
                        result.failed += 1;
                        first_error.get_or_insert((child.clone(), e));
                    }
                }
            }
            queue.push_back(child);
        }
    }
    Ok((result, first_error))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 /../.. /other rw - cgroup2 cgroup2 rw";

    #[test]
    fn own_cgroup_joins_the_mount_holding_the_root() {
        let root = Path::new("/sys/fs/cgroup/unified/envd-test");
        let own = own_cgroup_from("1:cpu:/\n0::/envd-test/envd\n", MOUNTINFO, root).unwrap();
        assert_eq!(own, Path::new("/sys/fs/cgroup/unified/envd-test/envd"));
        assert!(own.starts_with(root));
        let own = own_cgroup_from("0::/\n", MOUNTINFO, root).unwrap();
        assert_eq!(own, Path::new("/sys/fs/cgroup/unified"));
        assert!(
            !own.starts_with(root),
            "the root is not an ancestor of envd"
        );
    }

    #[test]
    fn own_cgroup_unknown_is_an_error() {
        let root = Path::new("/sys/fs/cgroup/unified");
        assert!(own_cgroup_from("1:cpu:/\n", MOUNTINFO, root).is_err());
        assert!(own_cgroup_from("0::/\n", "", root).is_err());
        assert!(own_cgroup_from("0::/\n", MOUNTINFO, Path::new("/elsewhere")).is_err());
    }

    #[test]
    fn result_serialises_with_e2b_field_names() {
        let result = FreezeResult {
            mode: Mode::Hierarchy,
            visited: 1,
            allowlisted: 2,
            truncated: true,
            pre_frozen: 3,
            requested: 4,
            frozen: 5,
            not_frozen: 6,
            failed: 7,
            unobservable: 8,
            sweep_ms: 9,
            wait_ms: 10,
        };
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            serde_json::json!({"mode": "hierarchy", "visited": 1, "allowlisted": 2,
                "truncated": true, "preFrozen": 3, "requested": 4, "frozen": 5,
                "notFrozen": 6, "failed": 7, "unobservable": 8, "sweepMs": 9, "waitMs": 10})
        );
    }

    #[tokio::test]
    async fn a_root_that_is_not_cgroup2_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("user")).unwrap();
        let freezer = Freezer::new(dir.path().to_owned());
        let request = FreezeRequest {
            mode: Mode::Legacy,
            max_cgroups: 10,
            max_wait: None,
        };
        assert!(matches!(
            freezer.freeze(request).await,
            Err(Error::NotCgroup2(_))
        ));
        assert!(!dir.path().join("user/cgroup.freeze").exists());
        assert_eq!(freezer.audit(), Audit::default());
    }

    #[tokio::test]
    async fn a_second_operation_is_refused_not_queued() {
        let freezer = Freezer::new(PathBuf::from("/nonexistent-envd-cgroup-root"));
        let _running = freezer.running.try_lock().unwrap();
        let request = FreezeRequest {
            mode: Mode::Hierarchy,
            max_cgroups: 10,
            max_wait: None,
        };
        assert!(matches!(freezer.freeze(request).await, Err(Error::Busy)));
        assert!(matches!(freezer.unfreeze().await, Err(Error::Busy)));
    }
}

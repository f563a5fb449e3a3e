//! The inotify side of a watcher: arms the watches, turns kernel events
//! into [`Event`]s named relative to the watched directory, and keeps a
//! recursive watch's set of directories current.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use inotify::{Event as KernelEvent, EventMask, EventStream, Inotify, WatchDescriptor, WatchMask};
use tokio::task::JoinHandle;

use super::{Event, Op, Shared, WatchError, WatchOptions};
use crate::fs::Error;
use crate::fs::entry::{Names, entry_info};
use crate::fs::write::{Landing, upload_temp};

/// The kernel events fsnotify subscribes to.
fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::DELETE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
}

/// Bytes read from inotify at once (room for ~4000 short-named events).
const READ_BUFFER: usize = 64 * 1024;

/// Events handed to the queue at once while the kernel has more ready.
const BATCH: usize = 512;

/// What an upload is reported as when its temporary lands on the target:
/// what E2B's clients see for the Go envd's in-place write (create, chown,
/// write; or chown, truncate, write), whatever the kernel coalesced.
fn landing_ops(landing: Landing) -> [Op; 3] {
    match landing {
        Landing::Creates => [Op::Create, Op::Chmod, Op::Write],
        Landing::Replaces => [Op::Chmod, Op::Write, Op::Write],
    }
}

/// The inotify kernel event types in the order their ops are emitted.
const OP_ORDER: [(EventMask, Op); 5] = [
    (EventMask::CREATE.union(EventMask::MOVED_TO), Op::Create),
    (
        EventMask::MOVED_FROM.union(EventMask::MOVE_SELF),
        Op::Rename,
    ),
    (EventMask::ATTRIB, Op::Chmod),
    (EventMask::MODIFY, Op::Write),
    (EventMask::DELETE.union(EventMask::DELETE_SELF), Op::Remove),
];

/// A watched tree: which directory each watch descriptor stands for.
struct Tree {
    /// The watched directory as the request resolved it.
    root: PathBuf,
    options: WatchOptions,
    watches: inotify::Watches,
    /// Watched directories by descriptor, relative to `root` (empty for it).
    dirs: HashMap<WatchDescriptor, PathBuf>,
    /// Entries reported by scanning a new directory whose kernel create
    /// event may still be queued; those duplicates are dropped. Cleared
    /// whenever the kernel queue has been drained.
    scanned: HashSet<PathBuf>,
    /// Rename cookies of upload temporaries moved away: their `MOVED_TO`
    /// is an upload landing on its name, creating or replacing it.
    upload_cookies: HashMap<u32, Landing>,
    names: Names,
}

/// Cookies kept at most (a temporary renamed out of the tree never
/// delivers its `MOVED_TO`).
const UPLOAD_COOKIES: usize = 1024;

/// Arms the watches on `dir` and spawns the task that reads them.
pub(super) fn spawn(
    dir: &Path,
    options: WatchOptions,
    shared: Arc<Shared>,
) -> Result<JoinHandle<()>, Error> {
    let init = |e| Error::Watch(WatchError::Init(Arc::new(e)));
    let inotify = Inotify::init().map_err(init)?;
    let mut tree = Tree {
        root: dir.to_owned(),
        options,
        watches: inotify.watches(),
        dirs: HashMap::new(),
        scanned: HashSet::new(),
        upload_cookies: HashMap::new(),
        names: Names::default(),
    };
    // The root itself may be a symlink: follow it.
    tree.add_watch(PathBuf::new(), mask())
        .and_then(|added| added.ok_or_else(|| add_error(dir, io::ErrorKind::NotFound.into())))
        .map_err(Error::Watch)?;
    if options.recursive {
        tree.arm_subtree(Path::new(""), None)
            .map_err(Error::Watch)?;
    }
    let events = inotify
        .into_event_stream(vec![0; READ_BUFFER])
        .map_err(init)?;
    Ok(tokio::spawn(run(tree, events, shared)))
}

fn add_error(path: &Path, source: io::Error) -> WatchError {
    WatchError::AddWatch {
        path: path.display().to_string(),
        source: Arc::new(source),
    }
}

/// Reads kernel events until the watcher fails (or the task is aborted).
async fn run(mut tree: Tree, mut events: EventStream<Vec<u8>>, shared: Arc<Shared>) {
    let mut batch = Vec::new();
    loop {
        let next = match events.next().now_or_never() {
            Some(next) if batch.len() < BATCH => next,
            ready => {
                // The kernel queue is empty (or the batch is full): hand over
                // what we have before waiting.
                if ready.is_none() {
                    tree.scanned.clear();
                }
                if !shared.push(&mut batch) {
                    return;
                }
                match ready {
                    Some(next) => next,
                    None => events.next().await,
                }
            }
        };
        let result = match next {
            Some(Ok(event)) => tree.handle(&event, &mut batch),
            Some(Err(e)) => Err(WatchError::Read(Arc::new(e))),
            None => Err(WatchError::Closed),
        };
        if let Err(error) = result {
            // Deliver what came before the failure, then the failure.
            if shared.push(&mut batch) {
                shared.fail(error);
            }
            return;
        }
    }
}

impl Tree {
    /// Watches `root/relative`; `Ok(None)` when it vanished or is no
    /// longer a directory.
    fn add_watch(
        &mut self,
        relative: PathBuf,
        mask: WatchMask,
    ) -> Result<Option<WatchDescriptor>, WatchError> {
        let path = self.absolute(&relative);
        match self.watches.add(&path, mask) {
            Ok(wd) => {
                self.dirs.insert(wd.clone(), relative);
                Ok(Some(wd))
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(None),
            Err(e) => Err(add_error(&path, e)),
        }
    }

    fn absolute(&self, relative: &Path) -> PathBuf {
        if relative.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(relative)
        }
    }

    /// Watches every directory below `top` (and `top` itself unless it is
    /// the root), without following symlinks. With `created`, also reports
    /// every entry found as created: it may have appeared before its
    /// directory's watch existed.
    fn arm_subtree(
        &mut self,
        top: &Path,
        mut created: Option<&mut Vec<Event>>,
    ) -> Result<(), WatchError> {
        let mut pending = VecDeque::from([top.to_owned()]);
        while let Some(dir) = pending.pop_front() {
            if !dir.as_os_str().is_empty()
                && self
                    .add_watch(dir.clone(), mask() | WatchMask::DONT_FOLLOW)?
                    .is_none()
            {
                continue;
            }
            let path = self.absolute(&dir);
            let reader = match std::fs::read_dir(&path) {
                Ok(reader) => reader,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    continue;
                }
                Err(e) => return Err(scan_error(&path, e)),
            };
            let mut children = Vec::new();
            for entry in reader {
                let entry = entry.map_err(|e| scan_error(&path, e))?;
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let name = entry.file_name();
                if !is_dir && upload_temp(&name).is_some() {
                    continue;
                }
                children.push((name, is_dir));
            }
            children.sort_unstable();
            for (name, is_dir) in children {
                let child = dir.join(&name);
                if let Some(out) = created.as_deref_mut() {
                    self.scanned.insert(child.clone());
                    let event = self.event(&child, Op::Create);
                    out.push(event);
                }
                if is_dir {
                    pending.push_back(child);
                }
            }
        }
        Ok(())
    }

    /// Stops watching `top` and everything below it (moved out of place).
    fn disarm_subtree(&mut self, top: &Path) {
        let gone: Vec<WatchDescriptor> = self
            .dirs
            .iter()
            .filter(|(_, dir)| dir.starts_with(top))
            .map(|(wd, _)| wd.clone())
            .collect();
        for wd in gone {
            self.dirs.remove(&wd);
            // Fails only if the kernel already dropped it.
            drop(self.watches.remove(wd));
        }
    }

    fn event(&mut self, relative: &Path, op: Op) -> Event {
        let entry = match op {
            Op::Create | Op::Write | Op::Chmod if self.options.include_entry => {
                let path = self.absolute(relative);
                entry_info(&path, &mut self.names).ok()
            }
            _ => None,
        };
        let name = if relative.as_os_str().is_empty() {
            ".".to_owned()
        } else {
            relative.to_string_lossy().into_owned()
        };
        Event { name, op, entry }
    }

    /// Expands one kernel event into `out`.
    fn handle(
        &mut self,
        event: &KernelEvent<OsString>,
        out: &mut Vec<Event>,
    ) -> Result<(), WatchError> {
        let mask = event.mask;
        if mask.contains(EventMask::Q_OVERFLOW) {
            return Err(WatchError::KernelOverflow);
        }
        if mask.contains(EventMask::IGNORED) {
            self.dirs.remove(&event.wd);
            return Ok(());
        }
        // Stale events of a directory we stopped watching are dropped.
        let Some(dir) = self.dirs.get(&event.wd) else {
            return Ok(());
        };
        let is_dir = mask.contains(EventMask::ISDIR);
        // A compose writes a temporary beside the destination and renames
        // it into place: watchers see the destination created, never the
        // temporary.
        if event
            .name
            .as_ref()
            .is_some_and(|name| !is_dir && crate::fs::compose::is_compose_temp(name))
        {
            return Ok(());
        }
        // An upload writes a temporary file and renames it into place:
        // watchers see the events of an in-place write under the file's own
        // name, and never the temporary.
        if let Some(name) = &event.name
            && !is_dir
            && let Some(landing) = upload_temp(name)
        {
            if mask.contains(EventMask::MOVED_FROM) {
                if self.upload_cookies.len() >= UPLOAD_COOKIES {
                    self.upload_cookies.clear();
                }
                self.upload_cookies.insert(event.cookie, landing);
            }
            return Ok(());
        }
        let landed = mask
            .contains(EventMask::MOVED_TO)
            .then(|| self.upload_cookies.remove(&event.cookie))
            .flatten();
        let relative = match &event.name {
            Some(name) => dir.join(name),
            // A subdirectory's own events repeat what its parent reports
            // by name; only the watched directory's own are kept.
            None if dir.as_os_str().is_empty() => PathBuf::new(),
            None => return Ok(()),
        };
        if let Some(landing) = landed {
            // A new directory's scan may have reported it already.
            let scanned = self.scanned.remove(&relative);
            for op in landing_ops(landing) {
                if op == Op::Create && scanned {
                    continue;
                }
                let converted = self.event(&relative, op);
                out.push(converted);
            }
            return Ok(());
        }
        for (kinds, op) in OP_ORDER {
            if !mask.intersects(kinds) {
                continue;
            }
            if op == Op::Create && self.scanned.remove(&relative) {
                continue;
            }
            self.scanned.remove(&relative);
            let converted = self.event(&relative, op);
            out.push(converted);
            if self.options.recursive && is_dir && event.name.is_some() {
                match op {
                    Op::Create => self.arm_subtree(&relative, Some(out))?,
                    Op::Rename => self.disarm_subtree(&relative),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn scan_error(path: &Path, source: io::Error) -> WatchError {
    WatchError::Scan {
        path: path.display().to_string(),
        source: Arc::new(source),
    }
}

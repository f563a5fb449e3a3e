//! Directory watching: one core behind the streamed `WatchDir` and the
//! polled `CreateWatcher`/`GetWatcherEvents`/`RemoveWatcher`.
//!
//! A [`Watcher`] owns a task that reads inotify, keeps the watches of a
//! recursive tree up to date, and appends events to a bounded queue. The
//! stream consumer waits for the queue ([`Watcher::next_batch`]); the polled
//! consumer drains it on request ([`Watcher::take`]). Dropping the watcher
//! aborts the task, which closes the inotify descriptor.
//!
//! Nothing is dropped silently: an inotify queue overflow, a read error or
//! a consumer that leaves more than [`QUEUE_LIMIT`] events unread turns
//! into the watcher's [`WatchError`], after which it stops watching.

mod registry;
mod tree;

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio_util::task::AbortOnDropHandle;

pub use registry::Registry;

use super::Error;
use super::entry::EntryInfo;

/// Most events a watcher holds for its consumer. At roughly 100–300 bytes
/// an event (more with `include_entry`), a full queue is a few MiB to
/// ~20 MiB. More than that unread is the watcher's error, not more memory:
/// a polled watcher nobody fetches, or a stream whose client stopped
/// reading, cannot grow envd without bound.
pub const QUEUE_LIMIT: usize = 65_536;

/// What happened to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Created, or moved into the watched tree.
    Create,
    /// Written or truncated.
    Write,
    /// Removed.
    Remove,
    /// Renamed, or moved out of the watched tree.
    Rename,
    /// Attributes (mode, owner, times, link count) changed.
    Chmod,
}

/// One change, named relative to the watched directory (`.` for the
/// directory itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Path relative to the watched directory, e.g. `sub/a.txt`.
    pub name: String,
    /// What happened.
    pub op: Op,
    /// The entry, for create/write/chmod when requested and still present.
    pub entry: Option<EntryInfo>,
}

/// Why a watcher stopped (or could not start).
#[derive(Debug, Clone, thiserror::Error)]
pub enum WatchError {
    /// The kernel's inotify queue overflowed, so events were lost.
    #[error("inotify event queue overflowed; events were lost")]
    KernelOverflow,
    /// The consumer left more than [`QUEUE_LIMIT`] events unread.
    #[error("more than {0} events were not consumed")]
    QueueFull(usize),
    /// The inotify instance could not be created.
    #[error("cannot create inotify instance: {0}")]
    Init(Arc<io::Error>),
    /// A directory could not be watched.
    #[error("cannot watch {path}: {source}")]
    AddWatch {
        /// The directory.
        path: String,
        /// Why.
        source: Arc<io::Error>,
    },
    /// A directory of the watched tree could not be read.
    #[error("cannot read directory {path}: {source}")]
    Scan {
        /// The directory.
        path: String,
        /// Why.
        source: Arc<io::Error>,
    },
    /// Reading inotify failed.
    #[error("cannot read inotify events: {0}")]
    Read(Arc<io::Error>),
    /// The inotify descriptor reported end of file.
    #[error("inotify event stream closed")]
    Closed,
}

/// How to watch.
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchOptions {
    /// Also watch every subdirectory, including ones created later.
    pub recursive: bool,
    /// Attach the entry to create, write and chmod events.
    pub include_entry: bool,
    /// Allow directories on network filesystems.
    pub allow_network_mounts: bool,
}

/// `statfs` magic numbers of filesystems whose changes inotify may not
/// see: NFS, CIFS, SMB, SMB2 and FUSE.
const NETWORK_FS_MAGICS: [u32; 5] = [0x6969, 0xFF53_4D42, 0x517B, 0xFE53_4D42, 0x6573_5546];

/// The queue between the inotify task and the consumer.
#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<Event>,
    failure: Option<WatchError>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `events`; false (and the watcher failed) when that would
    /// exceed [`QUEUE_LIMIT`].
    fn push(&self, events: &mut Vec<Event>) -> bool {
        if events.is_empty() {
            return true;
        }
        let mut queue = self.lock();
        let fits = queue.events.len() + events.len() <= QUEUE_LIMIT;
        if fits {
            queue.events.extend(events.drain(..));
        } else {
            queue.failure = Some(WatchError::QueueFull(QUEUE_LIMIT));
        }
        drop(queue);
        self.ready.notify_one();
        fits
    }

    fn fail(&self, error: WatchError) {
        self.lock().failure.get_or_insert(error);
        self.ready.notify_one();
    }
}

/// A live watch on a directory. Dropping it stops watching.
#[derive(Debug)]
pub struct Watcher {
    shared: Arc<Shared>,
    _task: AbortOnDropHandle<()>,
    /// What it watches and how (handed over by a live upgrade).
    dir: PathBuf,
    options: WatchOptions,
}

/// A polled watcher as a live upgrade hands it over.
#[derive(Debug, Clone)]
pub struct HandedWatcher {
    /// Its id.
    pub id: String,
    /// The watched directory.
    pub dir: PathBuf,
    /// How it watches.
    pub options: WatchOptions,
    /// Events not yet fetched, oldest first.
    pub events: Vec<Event>,
}

impl Watcher {
    /// Checks that `dir` can be watched and arms the watches (the whole
    /// tree when recursive). Blocks while it walks the tree, and must be
    /// called inside the tokio runtime: it spawns the watcher's task.
    pub fn open(dir: &Path, options: WatchOptions) -> Result<Self, Error> {
        check_watchable(dir, options.allow_network_mounts)?;
        let shared = Arc::new(Shared::default());
        let task = tree::spawn(dir, options, shared.clone())?;
        Ok(Self {
            shared,
            _task: AbortOnDropHandle::new(task),
            dir: dir.to_owned(),
            options,
        })
    }

    /// Re-opens a handed-over watcher: watches again and queues `events`
    /// before anything new.
    pub fn reopen(dir: &Path, options: WatchOptions, events: Vec<Event>) -> Result<Self, Error> {
        let watcher = Self::open(dir, options)?;
        let mut queue = watcher.shared.lock();
        for event in events.into_iter().rev() {
            queue.events.push_front(event);
        }
        drop(queue);
        Ok(watcher)
    }

    /// What a live upgrade hands over: the queued events stay queued.
    fn export(&self, id: &str) -> HandedWatcher {
        HandedWatcher {
            id: id.to_owned(),
            dir: self.dir.clone(),
            options: self.options,
            events: self.shared.lock().events.iter().cloned().collect(),
        }
    }

    /// Waits for events and returns every queued one, oldest first. Once
    /// the queue is empty and the watcher has failed, returns its error.
    /// Cancel-safe: nothing is taken until it returns.
    pub async fn next_batch(&self) -> Result<Vec<Event>, WatchError> {
        loop {
            {
                let mut queue = self.shared.lock();
                if !queue.events.is_empty() {
                    return Ok(queue.events.drain(..).collect());
                }
                if let Some(error) = &queue.failure {
                    return Err(error.clone());
                }
            }
            self.shared.ready.notified().await;
        }
    }

    /// Takes every queued event, oldest first, or the watcher's error if it
    /// has failed (queued events are then discarded with it).
    pub fn take(&self) -> Result<Vec<Event>, WatchError> {
        let mut queue = self.shared.lock();
        if let Some(error) = &queue.failure {
            return Err(error.clone());
        }
        Ok(queue.events.drain(..).collect())
    }
}

/// WatchDir's validation: `dir` must be an existing directory (following
/// symlinks) and, unless allowed, not on a network filesystem.
fn check_watchable(dir: &Path, allow_network_mounts: bool) -> Result<(), Error> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(Error::WatchNotADirectory(dir.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::WatchPathNotFound(dir.to_owned()));
        }
        Err(source) => {
            return Err(Error::Stat {
                path: dir.to_owned(),
                source,
            });
        }
    }
    if allow_network_mounts {
        return Ok(());
    }
    let fs = nix::sys::statfs::statfs(dir).map_err(|errno| Error::Stat {
        path: dir.to_owned(),
        source: errno.into(),
    })?;
    // f_type holds a 32-bit magic in a signed word; compare the low bits.
    let magic = u32::try_from(i128::from(fs.filesystem_type().0) & 0xFFFF_FFFF).unwrap_or(0);
    if NETWORK_FS_MAGICS.contains(&magic) {
        return Err(Error::NetworkMount(dir.to_owned()));
    }
    Ok(())
}

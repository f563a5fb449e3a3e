//! `filesystem.Filesystem` RPCs: stat, list, make_dir, rename, remove and
//! directory watches.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use envd_proto::filesystem as pb;
use futures::{Stream, StreamExt};

use crate::error::{Code, Error, Result};
use crate::files::Files;
use crate::stream;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileType {
    /// A regular file (or a symlink to one).
    File,
    /// A directory (or a symlink to one).
    Dir,
    /// A symbolic link.
    Symlink,
    /// Anything else: devices, sockets, broken symlinks.
    Other,
}

impl FileType {
    /// The lower-case name: `file`, `dir`, `symlink`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Dir => "dir",
            Self::Symlink => "symlink",
            Self::Other => "other",
        }
    }
}

/// A file or directory as envd describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// The base name.
    pub name: String,
    /// File, directory, … (a symlink reports its target's type).
    pub file_type: FileType,
    /// The path as resolved by envd.
    pub path: String,
    /// Size in bytes (for a symlink, the link's).
    pub size: i64,
    /// Permission bits, e.g. `0o644`.
    pub mode: u32,
    /// `ls`-style permissions, e.g. `-rw-r--r--`.
    pub permissions: String,
    /// Owner user name.
    pub owner: String,
    /// Owner group name.
    pub group: String,
    /// Last modification, if known.
    pub modified_time: Option<SystemTime>,
    /// The same time as RFC 3339 text (UTC, `Z`).
    pub modified_time_rfc3339: Option<String>,
    /// For a symlink: its fully resolved target.
    pub symlink_target: Option<String>,
    /// Extended-attribute metadata, when envd reports any.
    pub metadata: HashMap<String, String>,
}

impl EntryInfo {
    fn from_proto(entry: pb::EntryInfo) -> Self {
        let file_type = match pb::FileType::try_from(entry.r#type) {
            Ok(pb::FileType::File) => FileType::File,
            Ok(pb::FileType::Directory) => FileType::Dir,
            Ok(pb::FileType::Symlink) => FileType::Symlink,
            _ => FileType::Other,
        };
        let modified_time = entry.modified_time.and_then(|t| {
            let seconds = u64::try_from(t.seconds).ok()?;
            let nanos = u32::try_from(t.nanos).ok()?;
            SystemTime::UNIX_EPOCH.checked_add(Duration::new(seconds, nanos))
        });
        Self {
            name: entry.name,
            file_type,
            path: entry.path,
            size: entry.size,
            mode: entry.mode,
            permissions: entry.permissions,
            owner: entry.owner,
            group: entry.group,
            modified_time,
            modified_time_rfc3339: entry.modified_time.and_then(|t| t.to_rfc3339().ok()),
            symlink_target: entry.symlink_target,
            metadata: entry.metadata,
        }
    }
}

fn entry(entry: Option<pb::EntryInfo>) -> Result<EntryInfo> {
    entry
        .map(EntryInfo::from_proto)
        .ok_or_else(|| Error::protocol("envd sent no entry"))
}

/// The kind of a filesystem change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FsEventKind {
    /// Created (or moved in).
    Create,
    /// Written or truncated.
    Write,
    /// Removed.
    Remove,
    /// Renamed or moved out.
    Rename,
    /// Attributes changed.
    Chmod,
}

impl FsEventKind {
    /// The lower-case name: `create`, `write`, `remove`, `rename`, `chmod`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Write => "write",
            Self::Remove => "remove",
            Self::Rename => "rename",
            Self::Chmod => "chmod",
        }
    }
}

/// One change under a watched directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FsEvent {
    /// The path relative to the watched directory (e.g. `sub/a.txt`).
    pub name: String,
    /// What happened.
    pub kind: FsEventKind,
}

/// A directory watch from [`Files::watch`]: a [`Stream`] of changes.
/// Dropping it stops the watch.
pub struct WatchStream {
    inner: stream::Fused<pb::WatchDirResponse>,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream")
            .field("done", &self.inner.is_done())
            .finish_non_exhaustive()
    }
}

impl Stream for WatchStream {
    type Item = Result<FsEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use pb::watch_dir_response::Event;
        loop {
            let Some(message) = ready!(self.inner.poll_message(cx)?) else {
                return Poll::Ready(None);
            };
            let Some(Event::Filesystem(event)) = message.event else {
                continue;
            };
            let kind = match pb::EventType::try_from(event.r#type) {
                Ok(pb::EventType::Create) => FsEventKind::Create,
                Ok(pb::EventType::Write) => FsEventKind::Write,
                Ok(pb::EventType::Remove) => FsEventKind::Remove,
                Ok(pb::EventType::Rename) => FsEventKind::Rename,
                Ok(pb::EventType::Chmod) => FsEventKind::Chmod,
                _ => continue,
            };
            return Poll::Ready(Some(Ok(FsEvent {
                name: event.name,
                kind,
            })));
        }
    }
}

impl Files {
    /// Describes `path` (a symlink describes the link).
    pub async fn stat(&self, path: &str) -> Result<EntryInfo> {
        let response = self
            .client
            .unary(
                self.client
                    .filesystem_rpc()
                    .stat(self.client.request(pb::StatRequest {
                        path: path.to_owned(),
                    })),
            )
            .await?;
        entry(response.entry)
    }

    /// Whether `path` exists (`false` only on not-found).
    pub async fn exists(&self, path: &str) -> Result<bool> {
        match self.stat(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Code::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The entries under `path`, down to `depth` levels (at least 1), in
    /// envd's order.
    pub async fn list(&self, path: &str, depth: u32) -> Result<Vec<EntryInfo>> {
        let response =
            self.client
                .unary(self.client.filesystem_rpc().list_dir(self.client.request(
                    pb::ListDirRequest {
                        path: path.to_owned(),
                        depth: depth.max(1),
                    },
                )))
                .await?;
        Ok(response
            .entries
            .into_iter()
            .map(EntryInfo::from_proto)
            .collect())
    }

    /// Creates `path` and missing parents. An existing directory is an
    /// [`AlreadyExists`](Code::AlreadyExists) error.
    pub async fn make_dir(&self, path: &str) -> Result<EntryInfo> {
        let response =
            self.client
                .unary(self.client.filesystem_rpc().make_dir(self.client.request(
                    pb::MakeDirRequest {
                        path: path.to_owned(),
                    },
                )))
                .await?;
        entry(response.entry)
    }

    /// Moves `from` to `to` (replacing a file there); returns the new entry.
    pub async fn rename(&self, from: &str, to: &str) -> Result<EntryInfo> {
        let response = self
            .client
            .unary(
                self.client
                    .filesystem_rpc()
                    .r#move(self.client.request(pb::MoveRequest {
                        source: from.to_owned(),
                        destination: to.to_owned(),
                    })),
            )
            .await?;
        entry(response.entry)
    }

    /// Removes `path` recursively; a missing path is not an error.
    ///
    /// An empty path would resolve to the home directory, so it is refused
    /// with [`InvalidArgument`](Code::InvalidArgument) before anything is
    /// sent.
    pub async fn remove(&self, path: &str) -> Result<()> {
        if path.trim().is_empty() {
            return Err(Error::invalid_argument(
                "refusing to remove an empty path (envd would resolve it to the home directory)",
            ));
        }
        self.client
            .unary(
                self.client
                    .filesystem_rpc()
                    .remove(self.client.request(pb::RemoveRequest {
                        path: path.to_owned(),
                    })),
            )
            .await?;
        Ok(())
    }

    /// Watches `path` (and, if `recursive`, its subdirectories); returns
    /// once the watch is established.
    pub async fn watch(&self, path: &str, recursive: bool) -> Result<WatchStream> {
        use pb::watch_dir_response::Event;
        let request = self.client.stream_request(pb::WatchDirRequest {
            path: path.to_owned(),
            recursive,
            include_entry: false,
            allow_network_mounts: false,
        });
        let mut rpc = self.client.filesystem_rpc();
        let mut inner = stream::open("WatchDir", self.client.keepalive_interval(), async move {
            rpc.watch_dir(request).await
        })
        .await?;
        match inner.next().await.transpose()?.and_then(|m| m.event) {
            Some(Event::Start(_)) => Ok(WatchStream {
                inner: stream::Fused::new(inner),
            }),
            _ => Err(Error::protocol(
                "watch stream did not begin with a start event",
            )),
        }
    }
}

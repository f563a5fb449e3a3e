//! `filesystem.Filesystem`: resolves request paths for the request's user,
//! runs the blocking domain operations off the async workers, and encodes
//! the results.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::State;
use connectrpc_axum::{ConnectError, ConnectRequest, ConnectResponse, StreamBody};
use envd_proto::filesystem as pb;
use envd_proto::filesystem::watch_dir_response::{self, KeepAlive, StartEvent};
use futures::{Stream, StreamExt};

use super::context::{Keepalive, RequestUser};
use crate::error::Error;
use crate::fs::entry::{EntryInfo, FileType};
use crate::fs::watch::{Event, Op, WatchOptions, Watcher};
use crate::fs::{self, ops};
use crate::identity::User;
use crate::state::AppState;

type Rpc<T> = Result<ConnectResponse<T>, ConnectError>;
type EventStream<T> =
    StreamBody<std::pin::Pin<Box<dyn Stream<Item = Result<T, ConnectError>> + Send>>>;

/// §2.2 for `user`, with the current default workdir for empty paths.
fn resolve(state: &AppState, user: &User, requested: &str) -> Result<PathBuf, Error> {
    let defaults = state.defaults.snapshot();
    Ok(fs::path::resolve(
        requested,
        &user.home,
        defaults.workdir.as_deref(),
    )?)
}

/// Runs a blocking filesystem operation on the blocking pool.
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, fs::Error> + Send + 'static,
) -> Result<T, Error> {
    let result = tokio::task::spawn_blocking(op)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    Ok(result?)
}

fn lossy(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn entry_to_pb(entry: EntryInfo) -> pb::EntryInfo {
    let kind = match entry.kind {
        FileType::File => pb::FileType::File,
        FileType::Directory => pb::FileType::Directory,
        FileType::Other => pb::FileType::Unspecified,
    };
    pb::EntryInfo {
        name: entry.name,
        r#type: kind.into(),
        path: lossy(&entry.path),
        size: entry.size,
        mode: entry.mode,
        permissions: entry.permissions,
        owner: entry.owner,
        group: entry.group,
        modified_time: entry.modified.map(|m| envd_proto::wkt::Timestamp {
            seconds: m.secs,
            nanos: i32::try_from(m.nanos).unwrap_or_default(),
        }),
        symlink_target: entry.symlink_target.as_deref().map(lossy),
        metadata: entry.metadata.into_iter().collect(),
    }
}

fn event_to_pb(event: Event) -> pb::FilesystemEvent {
    let kind = match event.op {
        Op::Create => pb::EventType::Create,
        Op::Write => pb::EventType::Write,
        Op::Remove => pb::EventType::Remove,
        Op::Rename => pb::EventType::Rename,
        Op::Chmod => pb::EventType::Chmod,
    };
    pb::FilesystemEvent {
        name: event.name,
        r#type: kind.into(),
        entry: event.entry.map(entry_to_pb),
    }
}

/// `Stat`: the entry of a path (a symlink describes the link).
pub(super) async fn stat(
    State(state): State<AppState>,
    RequestUser(user): RequestUser,
    ConnectRequest(req): ConnectRequest<pb::StatRequest>,
) -> Rpc<pb::StatResponse> {
    let path = resolve(&state, &user, &req.path)?;
    let entry = blocking(move || ops::stat(&path)).await?;
    Ok(ConnectResponse::new(pb::StatResponse {
        entry: Some(entry_to_pb(entry)),
    }))
}

/// `MakeDir`: creates a directory and its parents, owned by the user.
pub(super) async fn make_dir(
    State(state): State<AppState>,
    RequestUser(user): RequestUser,
    ConnectRequest(req): ConnectRequest<pb::MakeDirRequest>,
) -> Rpc<pb::MakeDirResponse> {
    let path = resolve(&state, &user, &req.path)?;
    let entry = blocking(move || ops::make_dir(&path, user.uid, user.gid)).await?;
    Ok(ConnectResponse::new(pb::MakeDirResponse {
        entry: Some(entry_to_pb(entry)),
    }))
}

/// `Move`: renames, creating the destination's parents as the user.
pub(super) async fn r#move(
    State(state): State<AppState>,
    RequestUser(user): RequestUser,
    ConnectRequest(req): ConnectRequest<pb::MoveRequest>,
) -> Rpc<pb::MoveResponse> {
    let source = resolve(&state, &user, &req.source)?;
    let destination = resolve(&state, &user, &req.destination)?;
    let entry = blocking(move || ops::move_path(&source, &destination, user.uid, user.gid)).await?;
    Ok(ConnectResponse::new(pb::MoveResponse {
        entry: Some(entry_to_pb(entry)),
    }))
}

/// `ListDir`: the entries below a directory, to a depth.
pub(super) async fn list_dir(
    State(state): State<AppState>,
    RequestUser(user): RequestUser,
    ConnectRequest(req): ConnectRequest<pb::ListDirRequest>,
) -> Rpc<pb::ListDirResponse> {
    let path = resolve(&state, &user, &req.path)?;
    let entries = blocking(move || ops::list_dir(&path, req.depth)).await?;
    Ok(ConnectResponse::new(pb::ListDirResponse {
        entries: entries.into_iter().map(entry_to_pb).collect(),
    }))
}

/// `Remove`: `rm -rf`; a missing path is success.
pub(super) async fn remove(
    State(state): State<AppState>,
    RequestUser(user): RequestUser,
    ConnectRequest(req): ConnectRequest<pb::RemoveRequest>,
) -> Rpc<pb::RemoveResponse> {
    let path = resolve(&state, &user, &req.path)?;
    blocking(move || ops::remove(&path)).await?;
    Ok(ConnectResponse::new(pb::RemoveResponse {}))
}

/// Validates and arms a watcher for `requested`.
async fn open_watcher(
    state: &AppState,
    user: &User,
    requested: &str,
    options: WatchOptions,
) -> Result<Watcher, Error> {
    let path = resolve(state, user, requested)?;
    blocking(move || Watcher::open(&path, options)).await
}

/// `WatchDir`: `start`, then one message per change, with keepalives after
/// `keepalive` of silence. Ends only when the client goes away, the
/// deadline passes (both drop the stream, and with it the watcher), or the
/// watcher fails.
pub(super) async fn watch_dir(
    State(state): State<AppState>,
    RequestUser(user): RequestUser,
    Keepalive(keepalive): Keepalive,
    ConnectRequest(req): ConnectRequest<pb::WatchDirRequest>,
) -> Rpc<EventStream<pb::WatchDirResponse>> {
    let options = WatchOptions {
        recursive: req.recursive,
        include_entry: req.include_entry,
        allow_network_mounts: req.allow_network_mounts,
    };
    let watcher = open_watcher(&state, &user, &req.path, options).await?;
    let events =
        super::stream::until_shutdown(watch_events(watcher, keepalive), state.shutdown.clone());
    Ok(ConnectResponse::new(StreamBody::new(events.boxed())))
}

fn watch_message(event: watch_dir_response::Event) -> pb::WatchDirResponse {
    pb::WatchDirResponse { event: Some(event) }
}

fn watch_events(
    watcher: Watcher,
    keepalive: Duration,
) -> impl Stream<Item = Result<pb::WatchDirResponse, ConnectError>> + Send + 'static {
    async_stream::stream! {
        yield Ok(watch_message(watch_dir_response::Event::Start(StartEvent {})));
        loop {
            match tokio::time::timeout(keepalive, watcher.next_batch()).await {
                Err(_idle) => {
                    yield Ok(watch_message(watch_dir_response::Event::Keepalive(KeepAlive {})));
                }
                Ok(Ok(events)) => {
                    for event in events {
                        let event = watch_dir_response::Event::Filesystem(event_to_pb(event));
                        yield Ok(watch_message(event));
                    }
                }
                Ok(Err(error)) => {
                    yield Err(ConnectError::from(Error::from(fs::Error::Watch(error))));
                    return;
                }
            }
        }
    }
}

/// `CreateWatcher`: a watcher polled with `GetWatcherEvents`.
pub(super) async fn create_watcher(
    State(state): State<AppState>,
    RequestUser(user): RequestUser,
    ConnectRequest(req): ConnectRequest<pb::CreateWatcherRequest>,
) -> Rpc<pb::CreateWatcherResponse> {
    let options = WatchOptions {
        recursive: req.recursive,
        include_entry: req.include_entry,
        allow_network_mounts: req.allow_network_mounts,
    };
    let watcher = open_watcher(&state, &user, &req.path, options).await?;
    let watcher_id = state.watchers.insert(watcher);
    Ok(ConnectResponse::new(pb::CreateWatcherResponse {
        watcher_id,
    }))
}

/// `GetWatcherEvents`: the events since the last call, oldest first.
pub(super) async fn get_watcher_events(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(req): ConnectRequest<pb::GetWatcherEventsRequest>,
) -> Rpc<pb::GetWatcherEventsResponse> {
    let events = state
        .watchers
        .take_events(&req.watcher_id)
        .map_err(Error::from)?;
    Ok(ConnectResponse::new(pb::GetWatcherEventsResponse {
        events: events.into_iter().map(event_to_pb).collect(),
    }))
}

/// `RemoveWatcher`: stops and forgets a watcher.
pub(super) async fn remove_watcher(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(req): ConnectRequest<pb::RemoveWatcherRequest>,
) -> Rpc<pb::RemoveWatcherResponse> {
    state
        .watchers
        .remove(&req.watcher_id)
        .map_err(Error::from)?;
    Ok(ConnectResponse::new(pb::RemoveWatcherResponse {}))
}

//! `process.Process`: decodes requests into domain calls and encodes results.

use axum::extract::State;
use connectrpc_axum::{ConnectError, ConnectRequest, ConnectResponse, StreamBody, Streaming};
use envd_proto::process as pb;
use futures::{Stream, StreamExt};

use super::context::{Deadline, Keepalive, RequestUser};
use super::stream::{process_events, until_shutdown};
use crate::error::{Error, RequestError};
use crate::process::{Input, Mode, ProcessConfig, PtySize, Selector, Signal, StartSpec};
use crate::state::AppState;

type Rpc<T> = Result<ConnectResponse<T>, ConnectError>;
type EventStream<T> =
    StreamBody<std::pin::Pin<Box<dyn Stream<Item = Result<T, ConnectError>> + Send>>>;

fn selector(selector: Option<pb::ProcessSelector>) -> Result<Selector, Error> {
    match selector.and_then(|s| s.selector) {
        Some(pb::process_selector::Selector::Pid(pid)) => Ok(Selector::Pid(pid)),
        Some(pb::process_selector::Selector::Tag(tag)) => Ok(Selector::Tag(tag)),
        None => Err(RequestError::Missing("process selector").into()),
    }
}

fn pty_size(pty: &pb::Pty) -> Result<PtySize, Error> {
    let size = pty.size.unwrap_or_default();
    Ok(PtySize::new(size.cols, size.rows)?)
}

fn config_from_pb(c: pb::ProcessConfig) -> ProcessConfig {
    ProcessConfig {
        cmd: c.cmd,
        args: c.args,
        envs: c.envs,
        cwd: c.cwd,
    }
}

fn config_to_pb(c: ProcessConfig) -> pb::ProcessConfig {
    pb::ProcessConfig {
        cmd: c.cmd,
        args: c.args,
        envs: c.envs,
        cwd: c.cwd,
    }
}

/// `List`: every live process. The user is resolved only so that an
/// unknown Basic-auth user is rejected here as on every other RPC.
pub(super) async fn list(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(_): ConnectRequest<pb::ListRequest>,
) -> Rpc<pb::ListResponse> {
    let processes = state
        .processes
        .list()
        .into_iter()
        .map(|p| pb::ProcessInfo {
            config: Some(config_to_pb(p.config)),
            pid: p.pid,
            tag: p.tag,
        })
        .collect();
    Ok(ConnectResponse::new(pb::ListResponse { processes }))
}

/// `Start`: spawns and streams the process's events.
pub(super) async fn start(
    State(state): State<AppState>,
    RequestUser(user): RequestUser,
    Keepalive(keepalive): Keepalive,
    Deadline(deadline): Deadline,
    ConnectRequest(req): ConnectRequest<pb::StartRequest>,
) -> Rpc<EventStream<pb::StartResponse>> {
    let config = config_from_pb(req.process.unwrap_or_default());
    let mode = match &req.pty {
        Some(pty) => Mode::Pty(pty_size(pty)?),
        None => Mode::Pipe {
            stdin: req.stdin.unwrap_or(true),
        },
    };
    let defaults = state.defaults.snapshot();
    let spec = StartSpec::resolve(config, req.tag, mode, user, &defaults, deadline)
        .map_err(Error::from)?;
    let started = state.processes.start(&spec).map_err(Error::from)?;
    let events = process_events(started.pid, Ok(started.events), keepalive, |e| {
        pb::StartResponse { event: Some(e) }
    });
    let events = until_shutdown(events, state.shutdown.clone());
    Ok(ConnectResponse::new(StreamBody::new(events.boxed())))
}

/// `Connect`: streams a running process's events, or its stored end.
pub(super) async fn connect(
    State(state): State<AppState>,
    _user: RequestUser,
    Keepalive(keepalive): Keepalive,
    ConnectRequest(req): ConnectRequest<pb::ConnectRequest>,
) -> Rpc<EventStream<pb::ConnectResponse>> {
    let (pid, events) = state
        .processes
        .connect(&selector(req.process)?)
        .map_err(Error::from)?;
    let events = process_events(pid, events, keepalive, |e| pb::ConnectResponse {
        event: Some(e),
    });
    let events = until_shutdown(events, state.shutdown.clone());
    Ok(ConnectResponse::new(StreamBody::new(events.boxed())))
}

/// `Update`: resizes the terminal when `pty` is present.
pub(super) async fn update(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(req): ConnectRequest<pb::UpdateRequest>,
) -> Rpc<pb::UpdateResponse> {
    let selector = selector(req.process)?;
    if let Some(pty) = &req.pty {
        state
            .processes
            .resize(&selector, pty_size(pty)?)
            .map_err(Error::from)?;
    }
    Ok(ConnectResponse::new(pb::UpdateResponse {}))
}

fn input(input: Option<pb::ProcessInput>) -> Option<Input> {
    match input.and_then(|i| i.input)? {
        pb::process_input::Input::Stdin(b) => Some(Input::Stdin(b)),
        pb::process_input::Input::Pty(b) => Some(Input::Pty(b)),
    }
}

/// `SendInput`: writes stdin or terminal bytes.
pub(super) async fn send_input(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(req): ConnectRequest<pb::SendInputRequest>,
) -> Rpc<pb::SendInputResponse> {
    let selector = selector(req.process)?;
    let input = input(req.input).ok_or(Error::from(RequestError::Missing("input")))?;
    state
        .processes
        .send_input(&selector, input)
        .await
        .map_err(Error::from)?;
    Ok(ConnectResponse::new(pb::SendInputResponse {}))
}

/// `StreamInput`: a `start` selecting the process, then `data` messages.
pub(super) async fn stream_input(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(mut messages): ConnectRequest<Streaming<pb::StreamInputRequest>>,
) -> Rpc<pb::StreamInputResponse> {
    use pb::stream_input_request::Event;
    let mut target: Option<Selector> = None;
    loop {
        let message = tokio::select! {
            biased;
            () = state.shutdown.cancelled() => return Err(Error::ShuttingDown.into()),
            message = messages.next() => match message {
                Some(message) => message?,
                None => break,
            },
        };
        match message.event {
            Some(Event::Start(start)) => {
                let selector = selector(start.process)?;
                state
                    .processes
                    .ensure_live(&selector)
                    .map_err(Error::from)?;
                target = Some(selector);
            }
            Some(Event::Data(data)) => {
                let selector = target
                    .as_ref()
                    .ok_or(Error::from(RequestError::InputBeforeStart))?;
                let input = input(data.input).ok_or(Error::from(RequestError::Missing("input")))?;
                state
                    .processes
                    .send_input(selector, input)
                    .await
                    .map_err(Error::from)?;
            }
            Some(Event::Keepalive(_)) | None => {}
        }
    }
    Ok(ConnectResponse::new(pb::StreamInputResponse {}))
}

/// `SendSignal`: SIGTERM or SIGKILL to the process's pid.
pub(super) async fn send_signal(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(req): ConnectRequest<pb::SendSignalRequest>,
) -> Rpc<pb::SendSignalResponse> {
    let selector = selector(req.process)?;
    let signal = match pb::Signal::try_from(req.signal) {
        Ok(pb::Signal::Sigterm) => Signal::Term,
        Ok(pb::Signal::Sigkill) => Signal::Kill,
        _ => return Err(Error::from(RequestError::UnsupportedSignal(req.signal)).into()),
    };
    state
        .processes
        .signal(&selector, signal)
        .map_err(Error::from)?;
    Ok(ConnectResponse::new(pb::SendSignalResponse {}))
}

/// `CloseStdin`: EOF on the stdin pipe.
pub(super) async fn close_stdin(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(req): ConnectRequest<pb::CloseStdinRequest>,
) -> Rpc<pb::CloseStdinResponse> {
    state
        .processes
        .close_stdin(&selector(req.process)?)
        .await
        .map_err(Error::from)?;
    Ok(ConnectResponse::new(pb::CloseStdinResponse {}))
}

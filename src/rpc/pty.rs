//! `envd.pty.v1.Pty`: decodes requests into terminal operations on the
//! process table and encodes their events.

use std::time::Duration;

use axum::extract::State;
use connectrpc_axum::{ConnectError, ConnectRequest, ConnectResponse, StreamBody};
use envd_proto::envd::pty::v1 as pb;
use futures::{Stream, StreamExt};
use nix::sys::signal::Signal as Sig;

use super::context::{Keepalive, RequestUser};
use super::pty_events::{size_to_pb, terminal_events};
use super::stream::until_shutdown;
use crate::error::{Error, RequestError};
use crate::identity;
use crate::process::{Mode, Offsets, ProcessConfig, PtySize, Selector, StartSpec, TerminalOp};
use crate::state::AppState;

type Rpc<T> = Result<ConnectResponse<T>, ConnectError>;
type EventStream<T> =
    StreamBody<std::pin::Pin<Box<dyn Stream<Item = Result<T, ConnectError>> + Send>>>;

/// `Close` waits this long between SIGHUP and SIGKILL unless told otherwise.
const DEFAULT_GRACE: Duration = Duration::from_secs(2);
/// The longest grace `Close` accepts.
const MAX_GRACE_MS: u32 = 60_000;
/// What `TERM` is unless the request or `/init` sets it.
const DEFAULT_TERM: &str = "xterm-256color";

fn selector(selector: Option<pb::Selector>) -> Result<Selector, Error> {
    match selector.and_then(|s| s.selector) {
        Some(pb::selector::Selector::Pid(pid)) => Ok(Selector::Pid(pid)),
        Some(pb::selector::Selector::Tag(tag)) => Ok(Selector::Tag(tag)),
        None => Err(RequestError::Missing("process selector").into()),
    }
}

fn size(size: Option<pb::Size>) -> Result<PtySize, Error> {
    let size = size.ok_or(RequestError::Missing("size"))?;
    Ok(PtySize::new(size.cols, size.rows)?)
}

fn signal(value: i32) -> Result<Sig, Error> {
    use pb::Signal as S;
    let signal = match S::try_from(value) {
        Ok(S::Hup) => Sig::SIGHUP,
        Ok(S::Int) => Sig::SIGINT,
        Ok(S::Quit) => Sig::SIGQUIT,
        Ok(S::Kill) => Sig::SIGKILL,
        Ok(S::Usr1) => Sig::SIGUSR1,
        Ok(S::Usr2) => Sig::SIGUSR2,
        Ok(S::Term) => Sig::SIGTERM,
        Ok(S::Cont) => Sig::SIGCONT,
        Ok(S::Stop) => Sig::SIGSTOP,
        Ok(S::Tstp) => Sig::SIGTSTP,
        Ok(S::Winch) => Sig::SIGWINCH,
        Ok(S::Unspecified) | Err(_) => {
            return Err(RequestError::InvalidField {
                field: "signal",
                reason: format!("{value} is not a signal clients may send"),
            }
            .into());
        }
    };
    Ok(signal)
}

fn operation(op: pb::Operation) -> Result<TerminalOp, Error> {
    use pb::operation::Operation as O;
    match op.operation {
        Some(O::Input(data)) => Ok(TerminalOp::Input(data)),
        Some(O::Resize(s)) => Ok(TerminalOp::Resize(size(Some(s))?)),
        Some(O::Signal(s)) => Ok(TerminalOp::Signal(signal(s)?)),
        None => Err(RequestError::Missing("operation").into()),
    }
}

/// `Create`: starts a terminal (the user's login shell by default) and
/// streams its events.
pub(super) async fn create(
    State(state): State<AppState>,
    RequestUser(user): RequestUser,
    Keepalive(keepalive): Keepalive,
    ConnectRequest(req): ConnectRequest<pb::CreateRequest>,
) -> Rpc<EventStream<pb::CreateResponse>> {
    let size = size(req.size)?;
    let user = match req.user.as_str() {
        "" => user,
        name => identity::lookup(name).map_err(Error::from)?,
    };
    let (cmd, args) = match (req.command.as_str(), req.args.is_empty()) {
        ("", true) => (
            user.shell.to_string_lossy().into_owned(),
            vec!["-l".to_owned()],
        ),
        ("", false) => (user.shell.to_string_lossy().into_owned(), req.args),
        (_, _) => (req.command, req.args),
    };
    let config = ProcessConfig {
        cmd,
        args,
        envs: req.envs,
        cwd: (!req.cwd.is_empty()).then_some(req.cwd),
    };
    let defaults = state.defaults.snapshot();
    let mut spec = StartSpec::resolve(config, req.tag, Mode::Pty(size), user, &defaults, None)
        .map_err(Error::from)?;
    spec.env
        .entry("TERM".to_owned())
        .or_insert_with(|| DEFAULT_TERM.to_owned());
    let started = state.processes.start(&spec).map_err(Error::from)?;
    let head = pb::Started {
        pid: started.pid,
        tag: spec.tag.clone(),
        pty: true,
        last_applied_seq: 0,
        size: Some(size_to_pb(size)),
    };
    let events = terminal_events(
        head,
        Default::default(),
        Ok(started.events),
        keepalive,
        |e| pb::CreateResponse { event: Some(e) },
    );
    let events = until_shutdown(events, state.shutdown.clone());
    Ok(ConnectResponse::new(StreamBody::new(events.boxed())))
}

/// `Attach`: replays a terminal's (or pipe process's) output from the
/// requested offsets, then streams it live.
pub(super) async fn attach(
    State(state): State<AppState>,
    _user: RequestUser,
    Keepalive(keepalive): Keepalive,
    ConnectRequest(req): ConnectRequest<pb::AttachRequest>,
) -> Rpc<EventStream<pb::AttachResponse>> {
    let from = Offsets {
        output: req.offset,
        stderr: req.stderr_offset,
    };
    let attached = state
        .processes
        .attach(&selector(req.process)?, from)
        .map_err(Error::from)?;
    let head = pb::Started {
        pid: attached.pid,
        tag: attached.tag,
        pty: attached.size.is_some(),
        last_applied_seq: attached.last_applied_seq,
        size: attached.size.map(size_to_pb),
    };
    let events = terminal_events(head, attached.replays, attached.live, keepalive, |e| {
        pb::AttachResponse { event: Some(e) }
    });
    let events = until_shutdown(events, state.shutdown.clone());
    Ok(ConnectResponse::new(StreamBody::new(events.boxed())))
}

/// `Send`: one ordered batch of input, resize and signal operations.
pub(super) async fn send(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(req): ConnectRequest<pb::SendRequest>,
) -> Rpc<pb::SendResponse> {
    let selector = selector(req.process)?;
    let ops = req
        .operations
        .into_iter()
        .map(operation)
        .collect::<Result<Vec<_>, _>>()?;
    let last_applied_seq = state
        .processes
        .apply(&selector, req.seq, ops)
        .await
        .map_err(Error::from)?;
    Ok(ConnectResponse::new(pb::SendResponse { last_applied_seq }))
}

/// `List`: every live terminal.
pub(super) async fn list(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(_): ConnectRequest<pb::ListRequest>,
) -> Rpc<pb::ListResponse> {
    let terminals = state
        .processes
        .terminals()
        .into_iter()
        .map(|t| pb::TerminalInfo {
            pid: t.pid,
            tag: t.tag,
            command: t.config.cmd,
            args: t.config.args,
            size: Some(size_to_pb(t.size)),
            output_offset: t.output_offset,
            last_applied_seq: t.last_applied_seq,
        })
        .collect();
    Ok(ConnectResponse::new(pb::ListResponse { terminals }))
}

/// `Close`: SIGHUP now, SIGKILL after the grace period.
pub(super) async fn close(
    State(state): State<AppState>,
    _user: RequestUser,
    ConnectRequest(req): ConnectRequest<pb::CloseRequest>,
) -> Rpc<pb::CloseResponse> {
    let grace = match req.grace_ms {
        None => DEFAULT_GRACE,
        Some(ms) if ms <= MAX_GRACE_MS => Duration::from_millis(ms.into()),
        Some(ms) => {
            return Err(Error::from(RequestError::InvalidField {
                field: "grace_ms",
                reason: format!("{ms} is more than {MAX_GRACE_MS}"),
            })
            .into());
        }
    };
    state
        .processes
        .hang_up(&selector(req.process)?, grace)
        .map_err(Error::from)?;
    Ok(ConnectResponse::new(pb::CloseResponse {}))
}

//! Running processes: `run` to completion, `spawn` for a live handle,
//! `connect` to a running one, `list`, stdin and signals.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use envd_proto::process as pb;
use futures::StreamExt;

use crate::client::Client;
use crate::error::Result;
use crate::stream;

mod handle;

pub use handle::{CommandEvents, CommandHandle, ProcessRef};

/// What to run: program, arguments, environment, working directory.
#[derive(Debug, Clone, Default)]
pub struct Command {
    pub(crate) cmd: String,
    pub(crate) args: Vec<String>,
    pub(crate) envs: HashMap<String, String>,
    pub(crate) cwd: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) tag: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) keep_stdin: bool,
    pub(crate) stdin_data: Option<Bytes>,
}

impl Command {
    /// Runs `program` (looked up in `PATH`) with no arguments.
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            cmd: program.into(),
            ..Self::default()
        }
    }

    /// Runs `script` with `/bin/bash -l -c`, as the E2B SDKs do.
    pub fn shell(script: impl Into<String>) -> Self {
        Self::new("/bin/bash").args(["-l", "-c"]).arg(script)
    }

    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    launch_setters!(env, cwd, user, tag);

    /// Kills the process (SIGKILL) and fails the call with
    /// [`Code::DeadlineExceeded`] after `timeout`. Default: none.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Keeps stdin open so [`CommandHandle::send_stdin`] can write to it.
    /// Default: stdin is closed at start.
    #[must_use]
    pub fn keep_stdin_open(mut self) -> Self {
        self.keep_stdin = true;
        self
    }

    /// Writes `data` to stdin right after start, then closes it.
    #[must_use]
    pub fn stdin(mut self, data: impl Into<Bytes>) -> Self {
        self.stdin_data = Some(data.into());
        self
    }
}

/// Which process an operation targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSelector {
    /// By process id.
    Pid(u32),
    /// By tag (the first live process with it).
    Tag(String),
}

impl From<u32> for ProcessSelector {
    fn from(pid: u32) -> Self {
        Self::Pid(pid)
    }
}

impl From<&str> for ProcessSelector {
    fn from(tag: &str) -> Self {
        Self::Tag(tag.to_owned())
    }
}

impl From<String> for ProcessSelector {
    fn from(tag: String) -> Self {
        Self::Tag(tag)
    }
}

impl ProcessSelector {
    pub(crate) fn to_proto(&self) -> pb::ProcessSelector {
        let selector = match self {
            Self::Pid(pid) => pb::process_selector::Selector::Pid(*pid),
            Self::Tag(tag) => pb::process_selector::Selector::Tag(tag.clone()),
        };
        pb::ProcessSelector {
            selector: Some(selector),
        }
    }
}

/// A signal envd can deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// SIGTERM: ask the process to stop.
    Term,
    /// SIGKILL: stop it now.
    Kill,
}

impl Signal {
    pub(crate) fn to_proto(self) -> pb::Signal {
        match self {
            Self::Term => pb::Signal::Sigterm,
            Self::Kill => pb::Signal::Sigkill,
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExitStatus {
    /// The exit code; -1 when killed by a signal.
    pub exit_code: i32,
    /// Whether the process exited by itself (false when signalled).
    pub exited: bool,
    /// envd's description, e.g. `exit status 3` or `signal: killed`.
    pub status: String,
    /// Set when the process failed (non-zero exit or signal).
    pub error: Option<String>,
}

impl ExitStatus {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.exited && self.exit_code == 0
    }

    pub(crate) fn from_proto(end: pb::process_event::EndEvent) -> Self {
        Self {
            exit_code: end.exit_code,
            exited: end.exited,
            status: end.status,
            error: end.error,
        }
    }
}

/// The collected result of [`Commands::run`] or [`CommandHandle::wait`].
/// A non-zero exit code is a result, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOutput {
    /// The process id.
    pub pid: u32,
    /// Everything written to stdout (since attaching).
    pub stdout: Vec<u8>,
    /// Everything written to stderr (since attaching).
    pub stderr: Vec<u8>,
    /// How it ended.
    pub exit: ExitStatus,
}

impl CommandOutput {
    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The exit code (-1 when killed by a signal).
    pub fn exit_code(&self) -> i32 {
        self.exit.exit_code
    }
}

/// One event of a running process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandEvent {
    /// Bytes written to stdout.
    Stdout(Bytes),
    /// Bytes written to stderr.
    Stderr(Bytes),
    /// Bytes written to the terminal (PTY processes).
    Pty(Bytes),
    /// The process ended; the last event.
    Exit(ExitStatus),
}

/// A process as listed by [`Commands::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// The process id.
    pub pid: u32,
    /// The tag given at start.
    pub tag: Option<String>,
    /// The program.
    pub cmd: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The environment given at start (not envd's defaults).
    pub envs: HashMap<String, String>,
    /// The working directory given at start.
    pub cwd: Option<String>,
}

/// The process API; get it from [`Client::commands`].
#[derive(Debug, Clone)]
pub struct Commands {
    client: Client,
}

impl Commands {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Runs `command` to completion and collects its output. A non-zero exit
    /// is returned as [`CommandOutput::exit`], not as an error.
    pub async fn run(&self, command: Command) -> Result<CommandOutput> {
        let data = command.stdin_data.clone();
        let handle = self.spawn(command).await?;
        if let Some(data) = data {
            handle.send_stdin(data).await?;
            handle.close_stdin().await?;
        }
        handle.wait().await
    }

    /// Starts `command` and returns once envd reports its pid.
    pub async fn spawn(&self, command: Command) -> Result<CommandHandle> {
        let stdin = command.keep_stdin || command.stdin_data.is_some();
        let request = pb::StartRequest {
            process: Some(pb::ProcessConfig {
                cmd: command.cmd,
                args: command.args,
                envs: command.envs,
                cwd: command.cwd,
            }),
            pty: None,
            tag: command.tag,
            stdin: Some(stdin),
        };
        let client = self.client.acting_as(command.user);
        start(&client, request, command.timeout).await
    }

    /// Attaches to a running process: its output from now on (no replay),
    /// then its end.
    pub async fn connect(&self, process: impl Into<ProcessSelector>) -> Result<CommandHandle> {
        let selector = process.into();
        let request = self.client.stream_request(pb::ConnectRequest {
            process: Some(selector.to_proto()),
        });
        let mut rpc = self.client.process_rpc();
        let events = stream::open("Connect", self.client.keepalive_interval(), async move {
            rpc.connect(request).await
        })
        .await?
        .map(|m| m.map(|r: pb::ConnectResponse| r.event))
        .boxed();
        CommandHandle::from_events(&self.client, events).await
    }

    /// All live processes.
    pub async fn list(&self) -> Result<Vec<ProcessInfo>> {
        let response = self
            .client
            .unary(
                self.client
                    .process_rpc()
                    .list(self.client.request(pb::ListRequest {})),
            )
            .await?;
        Ok(response
            .processes
            .into_iter()
            .map(|p| {
                let config = p.config.unwrap_or_default();
                ProcessInfo {
                    pid: p.pid,
                    tag: p.tag,
                    cmd: config.cmd,
                    args: config.args,
                    envs: config.envs,
                    cwd: config.cwd,
                }
            })
            .collect())
    }

    /// A handle on a running process for stdin and signals, without
    /// attaching to its output.
    pub fn process(&self, process: impl Into<ProcessSelector>) -> ProcessRef {
        ProcessRef::new(self.client.clone(), process.into())
    }

    /// Writes `data` to the process's stdin.
    pub async fn send_stdin(
        &self,
        process: impl Into<ProcessSelector>,
        data: impl Into<Bytes>,
    ) -> Result<()> {
        self.process(process).send_stdin(data).await
    }

    /// Closes the process's stdin (EOF).
    pub async fn close_stdin(&self, process: impl Into<ProcessSelector>) -> Result<()> {
        self.process(process).close_stdin().await
    }

    /// Sends `signal` to the process.
    pub async fn signal(&self, process: impl Into<ProcessSelector>, signal: Signal) -> Result<()> {
        self.process(process).signal(signal).await
    }

    /// SIGKILLs the process; `false` when there was no such process.
    pub async fn kill(&self, process: impl Into<ProcessSelector>) -> Result<bool> {
        self.process(process).kill().await
    }
}

/// Sends a Start request and waits for the start event.
pub(crate) async fn start(
    client: &Client,
    message: pb::StartRequest,
    timeout: Option<Duration>,
) -> Result<CommandHandle> {
    let mut request = client.stream_request(message);
    if let Some(timeout) = timeout.filter(|t| !t.is_zero()) {
        request.set_timeout(timeout);
    }
    let mut rpc = client.process_rpc();
    let events = stream::open("Start", client.keepalive_interval(), async move {
        rpc.start(request).await
    })
    .await?
    .map(|m| m.map(|r: pb::StartResponse| r.event))
    .boxed();
    CommandHandle::from_events(client, events).await
}

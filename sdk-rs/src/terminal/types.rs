//! The terminal API's plain data: options, operations, signals, events and
//! their conversions to and from `envd.pty.v1`.

use std::collections::HashMap;

use bytes::Bytes;
use envd_proto::envd::pty::v1 as pb;

use crate::commands::{ExitStatus, ProcessSelector};
use crate::error::{Error, Result};

/// How to start a terminal with [`Terminals::create`](super::Terminals::create).
#[derive(Debug, Clone)]
pub struct TerminalOptions {
    pub(crate) cols: u16,
    pub(crate) rows: u16,
    pub(crate) cmd: String,
    pub(crate) args: Vec<String>,
    pub(crate) envs: HashMap<String, String>,
    pub(crate) cwd: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) tag: Option<String>,
}

impl TerminalOptions {
    /// A `cols` x `rows` terminal running the user's login shell (`-l`),
    /// with `TERM=xterm-256color` (envd's default).
    pub fn new(cols: u16, rows: u16) -> Self {
        Self {
            cols,
            rows,
            cmd: String::new(),
            args: Vec::new(),
            envs: HashMap::new(),
            cwd: None,
            user: None,
            tag: None,
        }
    }

    launch_setters!(command, env, cwd, user, tag);

    pub(crate) fn to_proto(&self) -> pb::CreateRequest {
        pb::CreateRequest {
            size: Some(size(self.cols, self.rows)),
            command: self.cmd.clone(),
            args: self.args.clone(),
            envs: self.envs.clone(),
            cwd: self.cwd.clone().unwrap_or_default(),
            tag: self.tag.clone(),
            user: self.user.clone().unwrap_or_default(),
        }
    }
}

pub(crate) fn size(cols: u16, rows: u16) -> pb::Size {
    pb::Size {
        cols: cols.into(),
        rows: rows.into(),
    }
}

/// `(cols, rows)` of a wire size; values past `u16::MAX` saturate (envd
/// allows at most 4096).
fn from_size(size: Option<pb::Size>) -> Option<(u16, u16)> {
    size.map(|s| {
        (
            u16::try_from(s.cols).unwrap_or(u16::MAX),
            u16::try_from(s.rows).unwrap_or(u16::MAX),
        )
    })
}

pub(crate) fn selector(process: &ProcessSelector) -> pb::Selector {
    let selector = match process {
        ProcessSelector::Pid(pid) => pb::selector::Selector::Pid(*pid),
        ProcessSelector::Tag(tag) => pb::selector::Selector::Tag(tag.clone()),
    };
    pb::Selector {
        selector: Some(selector),
    }
}

/// A signal for a terminal's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TerminalSignal {
    /// SIGHUP.
    Hup,
    /// SIGINT (what Ctrl-C sends).
    Int,
    /// SIGQUIT.
    Quit,
    /// SIGKILL.
    Kill,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
    /// SIGTERM.
    Term,
    /// SIGCONT.
    Cont,
    /// SIGSTOP.
    Stop,
    /// SIGTSTP (what Ctrl-Z sends).
    Tstp,
    /// SIGWINCH.
    Winch,
}

impl TerminalSignal {
    /// Every signal, for tests and parsers.
    pub const ALL: [Self; 11] = [
        Self::Hup,
        Self::Int,
        Self::Quit,
        Self::Kill,
        Self::Usr1,
        Self::Usr2,
        Self::Term,
        Self::Cont,
        Self::Stop,
        Self::Tstp,
        Self::Winch,
    ];

    /// The name without `SIG`, e.g. `INT`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hup => "HUP",
            Self::Int => "INT",
            Self::Quit => "QUIT",
            Self::Kill => "KILL",
            Self::Usr1 => "USR1",
            Self::Usr2 => "USR2",
            Self::Term => "TERM",
            Self::Cont => "CONT",
            Self::Stop => "STOP",
            Self::Tstp => "TSTP",
            Self::Winch => "WINCH",
        }
    }

    /// The signal named `name` (`INT` or `SIGINT`).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.strip_prefix("SIG").unwrap_or(name);
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    fn to_proto(self) -> pb::Signal {
        match self {
            Self::Hup => pb::Signal::Hup,
            Self::Int => pb::Signal::Int,
            Self::Quit => pb::Signal::Quit,
            Self::Kill => pb::Signal::Kill,
            Self::Usr1 => pb::Signal::Usr1,
            Self::Usr2 => pb::Signal::Usr2,
            Self::Term => pb::Signal::Term,
            Self::Cont => pb::Signal::Cont,
            Self::Stop => pb::Signal::Stop,
            Self::Tstp => pb::Signal::Tstp,
            Self::Winch => pb::Signal::Winch,
        }
    }
}

/// One operation of a `Send` batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalOp {
    /// Bytes typed into the terminal (a pipe process's stdin).
    Input(Bytes),
    /// A new window size.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// A signal for the process group.
    Signal(TerminalSignal),
}

impl TerminalOp {
    pub(crate) fn to_proto(&self) -> pb::Operation {
        use pb::operation::Operation;
        let operation = match self {
            Self::Input(data) => Operation::Input(data.clone()),
            Self::Resize { cols, rows } => Operation::Resize(size(*cols, *rows)),
            Self::Signal(signal) => Operation::Signal(signal.to_proto().into()),
        };
        pb::Operation {
            operation: Some(operation),
        }
    }
}

/// Which output stream bytes belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputStream {
    /// A terminal's output.
    Pty,
    /// A pipe process's stdout.
    Stdout,
    /// A pipe process's stderr.
    Stderr,
}

impl OutputStream {
    /// `pty`, `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pty => "pty",
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }

    fn from_proto(value: i32) -> Result<Self> {
        match pb::Stream::try_from(value) {
            Ok(pb::Stream::Pty) => Ok(Self::Pty),
            Ok(pb::Stream::Stdout) => Ok(Self::Stdout),
            Ok(pb::Stream::Stderr) => Ok(Self::Stderr),
            _ => Err(Error::protocol(format!(
                "terminal stream sent output of unknown stream {value}"
            ))),
        }
    }
}

/// One event of a terminal's output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminalEvent {
    /// Output bytes; `offset` is the stream position of `data[0]`.
    Output {
        /// Which stream.
        stream: OutputStream,
        /// Bytes the stream produced before `data`.
        offset: u64,
        /// The bytes, exactly as the program wrote them.
        data: Bytes,
    },
    /// Bytes that can no longer be delivered (envd's scrollback no longer
    /// holds them); output continues at `resume_offset`.
    Lost {
        /// Which stream.
        stream: OutputStream,
        /// How many bytes are missing.
        lost_bytes: u64,
        /// Where the next output of this stream starts.
        resume_offset: u64,
    },
    /// The program ended; the last event.
    Exit(ExitStatus),
}

impl TerminalEvent {
    /// `None` for a keepalive (or an empty event from a newer envd).
    pub(crate) fn from_proto(event: pb::Event) -> Result<Option<Self>> {
        use pb::event::Event;
        Ok(match event.event {
            Some(Event::Output(out)) => Some(Self::Output {
                stream: OutputStream::from_proto(out.stream)?,
                offset: out.offset,
                data: out.data,
            }),
            Some(Event::Lost(lost)) => Some(Self::Lost {
                stream: OutputStream::from_proto(lost.stream)?,
                lost_bytes: lost.lost_bytes,
                resume_offset: lost.resume_offset,
            }),
            Some(Event::Exit(exit)) => Some(Self::Exit(ExitStatus {
                exit_code: exit.exit_code,
                exited: exit.exited,
                status: exit.status,
                error: exit.error,
            })),
            Some(Event::Keepalive(_)) | None => None,
            Some(Event::Started(_)) => {
                return Err(Error::protocol("terminal stream sent a second start event"));
            }
        })
    }
}

/// What envd reported when a Create or Attach stream began.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Started {
    /// The program's process id.
    pub pid: u32,
    /// Its tag.
    pub tag: Option<String>,
    /// `true` for a terminal; `false` for a pipe process.
    pub pty: bool,
    /// The last Send batch envd applied; a writer continues at this + 1.
    pub last_applied_seq: u64,
    /// The window size as `(cols, rows)` (none for a pipe process).
    pub size: Option<(u16, u16)>,
}

impl Started {
    pub(crate) fn from_proto(started: pb::Started) -> Self {
        Self {
            pid: started.pid,
            tag: started.tag,
            pty: started.pty,
            last_applied_seq: started.last_applied_seq,
            size: from_size(started.size),
        }
    }
}

/// A live terminal, from [`Terminals::list`](super::Terminals::list).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TerminalInfo {
    /// Process id.
    pub pid: u32,
    /// Tag given at start.
    pub tag: Option<String>,
    /// Program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Window size as `(cols, rows)`.
    pub size: Option<(u16, u16)>,
    /// Bytes of output so far.
    pub output_offset: u64,
    /// The last Send batch applied.
    pub last_applied_seq: u64,
}

impl TerminalInfo {
    pub(crate) fn from_proto(info: pb::TerminalInfo) -> Self {
        Self {
            pid: info.pid,
            tag: info.tag,
            command: info.command,
            args: info.args,
            size: from_size(info.size),
            output_offset: info.output_offset,
            last_applied_seq: info.last_applied_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_round_trip() {
        for signal in TerminalSignal::ALL {
            assert_eq!(TerminalSignal::from_name(signal.name()), Some(signal));
            let prefixed = format!("SIG{}", signal.name());
            assert_eq!(TerminalSignal::from_name(&prefixed), Some(signal));
        }
        assert_eq!(TerminalSignal::from_name("SEGV"), None);
    }

    #[test]
    fn keepalives_are_not_events_and_a_second_start_is_an_error() {
        use pb::event::Event;
        let keepalive = pb::Event {
            event: Some(Event::Keepalive(pb::Keepalive {})),
        };
        assert_eq!(TerminalEvent::from_proto(keepalive).unwrap(), None);
        let started = pb::Event {
            event: Some(Event::Started(pb::Started::default())),
        };
        assert!(TerminalEvent::from_proto(started).is_err());
    }
}

//! Pipe wiring: separate stdout and stderr; stdin a pipe or `/dev/null`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::Mutex;

use super::Error;
use super::backend::{Backend, ChildStdio, Source, Wiring, released};
use super::handover::HandedIo;
use super::output::Output;
use super::spec::PtySize;

/// One read per event, up to this many bytes.
const CHUNK: usize = 32 * 1024;

pub(super) struct PipeWiring {
    stdin: bool,
    /// envd's ends (stdin writer, stdout and stderr readers), once prepared.
    ends: Option<(Option<OwnedFd>, OwnedFd, OwnedFd)>,
}

impl PipeWiring {
    /// Pipes for stdout and stderr; stdin a pipe or `/dev/null`.
    pub(super) fn new(stdin: bool) -> Self {
        Self { stdin, ends: None }
    }
}

/// A close-on-exec pipe: (read end, write end).
fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

struct PipeBackend {
    stdin: Mutex<Option<pipe::Sender>>,
    /// Duplicates of the stdout and stderr read ends, kept for a live
    /// upgrade (a read end held open never delays end of stream); `None`
    /// once released.
    outputs: std::sync::Mutex<Option<(OwnedFd, OwnedFd)>>,
}

impl Wiring for PipeWiring {
    fn prepare(&mut self) -> io::Result<ChildStdio> {
        let (stdin_child, stdin_ours) = if self.stdin {
            let (read, write) = cloexec_pipe()?;
            (read, Some(write))
        } else {
            (OwnedFd::from(std::fs::File::open("/dev/null")?), None)
        };
        let (stdout_ours, stdout_child) = cloexec_pipe()?;
        let (stderr_ours, stderr_child) = cloexec_pipe()?;
        self.ends = Some((stdin_ours, stdout_ours, stderr_ours));
        Ok(ChildStdio::Pipes([stdin_child, stdout_child, stderr_child]))
    }

    fn attach(self: Box<Self>) -> io::Result<(Box<dyn Backend>, Vec<Source>)> {
        let (stdin, stdout, stderr) = self
            .ends
            .ok_or_else(|| io::Error::other("pipes not prepared"))?;
        adopt_fds(stdin, stdout, stderr)
    }
}

/// The backend and sources for pipes envd holds: just spawned, or handed
/// over by a live upgrade.
pub(super) fn adopt(
    stdin: Option<pipe::Sender>,
    stdout: OwnedFd,
    stderr: OwnedFd,
) -> io::Result<(Box<dyn Backend>, Vec<Source>)> {
    let backend = PipeBackend {
        stdin: Mutex::new(stdin),
        outputs: std::sync::Mutex::new(Some((stdout.try_clone()?, stderr.try_clone()?))),
    };
    let sources = vec![
        Source {
            reader: Box::new(pipe::Receiver::from_owned_fd(stdout)?),
            label: Output::Stdout,
            chunk: CHUNK,
            coalesce: None,
        },
        Source {
            reader: Box::new(pipe::Receiver::from_owned_fd(stderr)?),
            label: Output::Stderr,
            chunk: CHUNK,
            coalesce: None,
        },
    ];
    Ok((Box::new(backend), sources))
}

/// [`adopt`] for fds handed over as raw descriptors.
pub(super) fn adopt_fds(
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
) -> io::Result<(Box<dyn Backend>, Vec<Source>)> {
    let stdin = stdin.map(pipe::Sender::from_owned_fd).transpose()?;
    adopt(stdin, stdout, stderr)
}

impl Backend for PipeBackend {
    fn write_stdin(&self, data: Bytes) -> BoxFuture<'_, Result<(), Error>> {
        async move {
            let mut stdin = self.stdin.lock().await;
            let sender = stdin.as_mut().ok_or(Error::StdinClosed)?;
            sender.write_all(&data).await.map_err(Error::WriteStdin)
        }
        .boxed()
    }

    fn write_pty(&self, _data: Bytes) -> BoxFuture<'_, Result<(), Error>> {
        async { Err(Error::NotAPty) }.boxed()
    }

    fn close_stdin(&self) -> BoxFuture<'_, Result<(), Error>> {
        async move {
            self.stdin.lock().await.take();
            Ok(())
        }
        .boxed()
    }

    fn resize(&self, _size: PtySize) -> Result<(), Error> {
        Err(Error::NotAPty)
    }

    fn handover(&self) -> BoxFuture<'_, io::Result<HandedIo>> {
        async move {
            // Under the stdin lock: no write or close is half done.
            let stdin = self.stdin.lock().await;
            let outputs = self
                .outputs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (stdout, stderr) = outputs.as_ref().ok_or_else(released)?;
            Ok(HandedIo::Pipes {
                stdin: stdin
                    .as_ref()
                    .map(|s| s.as_fd().try_clone_to_owned())
                    .transpose()?,
                stdout: stdout.try_clone()?,
                stderr: stderr.try_clone()?,
            })
        }
        .boxed()
    }

    fn release(&self) -> BoxFuture<'_, ()> {
        async move {
            self.stdin.lock().await.take();
            self.outputs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
        }
        .boxed()
    }
}

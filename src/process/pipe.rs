//! Pipe wiring: separate stdout and stderr; stdin a pipe or `/dev/null`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::Mutex;

use super::Error;
use super::backend::{Backend, Source, Wiring, released};
use super::handover::HandedIo;
use super::output::Output;
use super::spec::PtySize;

/// One read per event, up to this many bytes.
const CHUNK: usize = 32 * 1024;

pub(super) struct PipeWiring {
    pub stdin: bool,
}

struct PipeBackend {
    stdin: Mutex<Option<pipe::Sender>>,
    /// Duplicates of the stdout and stderr read ends, kept for a live
    /// upgrade (a read end held open never delays end of stream); `None`
    /// once released.
    outputs: std::sync::Mutex<Option<(OwnedFd, OwnedFd)>>,
}

impl Wiring for PipeWiring {
    fn prepare(&mut self, command: &mut Command) -> io::Result<()> {
        command
            .stdin(if self.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(())
    }

    fn attach(self: Box<Self>, child: &mut Child) -> io::Result<(Box<dyn Backend>, Vec<Source>)> {
        let stdin = child
            .stdin
            .take()
            .map(|s| pipe::Sender::from_owned_fd(OwnedFd::from(s)))
            .transpose()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("stdout not piped"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("stderr not piped"))?;
        adopt(stdin, OwnedFd::from(stdout), OwnedFd::from(stderr))
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
        },
        Source {
            reader: Box::new(pipe::Receiver::from_owned_fd(stderr)?),
            label: Output::Stderr,
            chunk: CHUNK,
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

//! Pipe wiring: separate stdout and stderr; stdin a pipe or `/dev/null`.

use std::io;
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::Mutex;

use super::Error;
use super::backend::{Backend, Source, Wiring};
use super::output::Output;
use super::spec::PtySize;

/// One read per event, up to this many bytes.
const CHUNK: usize = 32 * 1024;

pub(super) struct PipeWiring {
    pub stdin: bool,
}

struct PipeBackend {
    stdin: Mutex<Option<pipe::Sender>>,
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
        let sources = vec![
            Source {
                reader: Box::new(pipe::Receiver::from_owned_fd(OwnedFd::from(stdout))?),
                label: Output::Stdout,
                chunk: CHUNK,
            },
            Source {
                reader: Box::new(pipe::Receiver::from_owned_fd(OwnedFd::from(stderr))?),
                label: Output::Stderr,
                chunk: CHUNK,
            },
        ];
        Ok((
            Box::new(PipeBackend {
                stdin: Mutex::new(stdin),
            }),
            sources,
        ))
    }
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
}

//! Terminal wiring: the child leads a new session with the pty slave as its
//! controlling terminal and fds 0/1/2; envd keeps only the master.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Mutex;

use super::Error;
use super::backend::{Backend, ChildStdio, Source, Wiring};
use super::handover::HandedIo;
use super::output::Output;
use super::spec::PtySize;
use crate::sys;

/// Largest output event.
const CHUNK: usize = 32 * 1024;

/// While output flows, reads within this long of the first go out as one
/// event: `cat` of a large file is a few events per millisecond instead of
/// one per 4 KiB read, while a lone keystroke echo leaves at once (see
/// `pump`).
const COALESCE: std::time::Duration = std::time::Duration::from_millis(2);

pub(super) struct PtyWiring {
    size: PtySize,
    master: Option<OwnedFd>,
}

impl PtyWiring {
    pub(super) fn new(size: PtySize) -> Self {
        Self { size, master: None }
    }
}

struct PtyBackend {
    /// `None` once released.
    master: std::sync::Mutex<Option<Arc<AsyncFd<File>>>>,
    writing: Mutex<()>,
    /// The current window size (handed over by a live upgrade).
    size: std::sync::Mutex<PtySize>,
}

/// Reads the master; `EIO` (every slave closed) is end of stream.
struct MasterReader(Arc<AsyncFd<File>>);

impl Wiring for PtyWiring {
    fn prepare(&mut self) -> io::Result<ChildStdio> {
        let pty = sys::open_pty(self.size.cols, self.size.rows)?;
        self.master = Some(pty.master);
        Ok(ChildStdio::Terminal(pty.slave))
    }

    fn attach(self: Box<Self>) -> io::Result<(Box<dyn Backend>, Vec<Source>)> {
        let master = self
            .master
            .ok_or_else(|| io::Error::other("pty not prepared"))?;
        adopt(master, self.size)
    }
}

/// The backend and source for a pty master envd holds: just opened, or
/// handed over by a live upgrade.
pub(super) fn adopt(master: OwnedFd, size: PtySize) -> io::Result<(Box<dyn Backend>, Vec<Source>)> {
    let master = Arc::new(sys::async_master(master)?);
    let source = Source {
        reader: Box::new(MasterReader(master.clone())),
        label: Output::Pty,
        chunk: CHUNK,
        coalesce: Some(COALESCE),
    };
    Ok((
        Box::new(PtyBackend {
            master: std::sync::Mutex::new(Some(master)),
            writing: Mutex::new(()),
            size: std::sync::Mutex::new(size),
        }),
        vec![source],
    ))
}

impl AsyncRead for MasterReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| fd.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
    }
}

impl PtyBackend {
    /// The master, unless released.
    fn master(&self) -> io::Result<Arc<AsyncFd<File>>> {
        self.master
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(super::backend::released)
    }
}

impl Backend for PtyBackend {
    fn write_stdin(&self, _data: Bytes) -> BoxFuture<'_, Result<(), Error>> {
        async { Err(Error::StdinOnPty) }.boxed()
    }

    fn write_pty(&self, data: Bytes) -> BoxFuture<'_, Result<(), Error>> {
        async move {
            let _serial = self.writing.lock().await;
            let master = self.master().map_err(Error::WritePty)?;
            let mut rest = &data[..];
            while !rest.is_empty() {
                let mut guard = master.writable().await.map_err(Error::WritePty)?;
                // Every slave fd closed: epoll reports the hang-up for ever
                // while writes keep failing with EAGAIN (nothing will read
                // the input queue again), so a full queue is final.
                let hung_up = guard.ready().is_write_closed();
                match guard.try_io(|fd| fd.get_ref().write(rest)) {
                    Ok(Ok(n)) => rest = &rest[n..],
                    Ok(Err(e)) => return Err(Error::WritePty(e)),
                    Err(_would_block) if hung_up => {
                        return Err(Error::WritePty(io::Error::from_raw_os_error(libc::EIO)));
                    }
                    Err(_would_block) => {}
                }
            }
            Ok(())
        }
        .boxed()
    }

    fn close_stdin(&self) -> BoxFuture<'_, Result<(), Error>> {
        async { Err(Error::CloseStdinOnPty) }.boxed()
    }

    fn resize(&self, size: PtySize) -> Result<(), Error> {
        let master = self
            .master()
            .map_err(|_| Error::Resize(nix::Error::EBADF))?;
        sys::set_window_size(master.get_ref().as_fd(), size.cols, size.rows)
            .map_err(Error::Resize)?;
        *self
            .size
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = size;
        Ok(())
    }

    fn size(&self) -> Option<PtySize> {
        Some(
            *self
                .size
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn handover(&self) -> BoxFuture<'_, io::Result<HandedIo>> {
        async move {
            let size = *self
                .size
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Ok(HandedIo::Terminal {
                master: self.master()?.get_ref().as_fd().try_clone_to_owned()?,
                size,
            })
        }
        .boxed()
    }

    fn release(&self) -> BoxFuture<'_, ()> {
        self.master
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        async {}.boxed()
    }
}

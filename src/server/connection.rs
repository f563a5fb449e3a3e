//! One accepted TCP connection, shared by hyper (which reads and writes
//! it) and a watcher that notices when the client has gone.
//!
//! hyper is told to allow half-closed connections, so every answer to
//! requests a client pipelined before `shutdown(SHUT_WR)` is written. hyper
//! then no longer looks for the client's EOF while it writes a response,
//! so the watcher does: it peeks at the socket and, at EOF or an error,
//! cancels the connection's [`Gone`] token, which ends its RPC streams
//! (Go's server cancels the request context the same way). When hyper is
//! done, the connection closes gracefully ([`linger`]). Download bodies
//! may be sent from their file here ([`sendfile`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::sendfile::{self, Pending};
use crate::sys;

/// Cancelled when the client has closed (or reset) its side.
#[derive(Debug, Clone, Default)]
pub(super) struct Gone(pub(super) CancellationToken);

/// The connection as hyper's I/O. Placeholder bytes hyper writes are
/// replaced by the file ranges queued in `pending` ([`sendfile`]).
#[derive(Debug, Clone)]
pub(super) struct Shared(Arc<TcpStream>, Arc<Pending>);

impl Shared {
    pub(super) fn new(stream: TcpStream) -> Self {
        Self(Arc::new(stream), Arc::default())
    }

    /// The file ranges this connection's response bodies queue.
    pub(super) fn pending(&self) -> &Arc<Pending> {
        &self.1
    }

    /// Retries `write` until the socket takes bytes (or fails).
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match write(&self.0) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }
}

impl AsyncRead for Shared {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self
                .0
                .try_io(Interest::READABLE, || sys::recv_into(&*self.0, buf))
            {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result.map(drop)),
            }
        }
    }
}

impl AsyncWrite for Shared {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if sendfile::is_placeholder(buf) {
            return self.1.poll_send(&self.0, cx, buf.len());
        }
        self.poll_write_with(cx, |stream| stream.try_write(buf))
    }

    /// Writes the slices before the first placeholder, or sends file bytes
    /// for a leading placeholder; hyper calls again for the rest.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs = match bufs.iter().position(|b| !b.is_empty()) {
            Some(first) => &bufs[first..],
            None => return Poll::Ready(Ok(0)),
        };
        if sendfile::is_placeholder(&bufs[0]) {
            return self.1.poll_send(&self.0, cx, bufs[0].len());
        }
        let end = bufs
            .iter()
            .position(|b| sendfile::is_placeholder(b))
            .unwrap_or(bufs.len());
        let bufs = &bufs[..end];
        self.poll_write_with(cx, |stream| stream.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(shut_write(&self.0))
    }
}

fn shut_write(stream: &TcpStream) -> io::Result<()> {
    match socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        result => result,
    }
}

/// How often the watcher looks again while request bytes wait unread (the
/// client is alive; hyper reads them when it is ready).
const UNREAD_RECHECK: Duration = Duration::from_millis(100);

/// Cancels `gone` when the client's side ends. Never returns otherwise.
pub(super) async fn watch(stream: &Shared, gone: &Gone) {
    let mut byte = [0u8; 1];
    loop {
        match stream.0.peek(&mut byte).await {
            Ok(0) | Err(_) => {
                gone.0.cancel();
                return;
            }
            Ok(_) => tokio::time::sleep(UNREAD_RECHECK).await,
        }
    }
}

/// How long a closing connection keeps reading (and discarding) what the
/// client still sends.
const LINGER: Duration = Duration::from_secs(1);

/// Closes gracefully once hyper is done: our side is shut down first, then
/// what the client still sends is read and discarded until its EOF (at
/// most [`LINGER`]). Closing with unread bytes would make the kernel send
/// a reset, which can destroy an answer the client has not read yet — an
/// over-limit request is refused before its body is read (Go's server
/// waits the same way).
pub(super) async fn linger(stream: Shared) {
    if shut_write(&stream.0).is_err() {
        return;
    }
    let drain = async {
        let mut discard = vec![0u8; 64 * 1024];
        loop {
            if stream.0.readable().await.is_err() {
                return;
            }
            match stream.0.try_read(&mut discard) {
                Ok(0) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    drop(tokio::time::timeout(LINGER, drain).await);
}

//! Download bodies written by `sendfile(2)` on HTTP/1.x connections: file
//! bytes go from the page cache to the socket without being copied
//! through envd (issue #12).
//!
//! hyper owns the connection's writes, so the file cannot bypass it
//! without breaking the order of what it writes. Instead the body hyper
//! sends is made of placeholder chunks — slices of one zeroed buffer that
//! is never sent — and the connection's I/O ([`super::connection`])
//! recognises them by address when hyper writes them, sending the file's
//! bytes in their place. hyper therefore still frames the response (it
//! counts `Content-Length`, keeps the connection alive, orders pipelined
//! answers), and every byte reaches the socket where hyper put it.
//!
//! This holds because hyper's HTTP/1 writer, on an I/O that writes
//! vectored, queues body chunks as given (no copy) and writes a response
//! head only once the previous body has left its queue; a body is
//! therefore never in flight beside another one. h2 copies and frames
//! data itself, so it never gets a placeholder body.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use axum::body::Body;
use bytes::Bytes;
use http::{Response, Version};
use http_body::{Frame, SizeHint};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::sys;

/// Offered by a handler in its response's extensions: the body may be
/// sent from `file` by the connection instead. The response's own body
/// must be the same bytes, for connections that cannot (h2, tests).
#[derive(Debug, Clone)]
pub struct SendFile(Segment);

impl SendFile {
    /// `len` bytes of `file` from `offset`, answering a request of
    /// `version`; `None` where the connection could not send it (h2) or
    /// there is nothing to send.
    pub fn offer(version: Version, file: File, offset: u64, len: u64) -> Option<Self> {
        let http1 = version == Version::HTTP_11 || version == Version::HTTP_10;
        (http1 && len > 0).then_some(Self(Segment {
            file: Arc::new(file),
            offset,
            remaining: len,
            copy: false,
        }))
    }
}

/// Size of one placeholder chunk. Larger than hyper's write buffer, so
/// hyper writes each one as soon as it is queued.
const CHUNK: usize = 1 << 20;

/// The placeholder memory: zeroed once, never read (calloc'd, so its pages
/// are not even touched).
static PLACEHOLDER: LazyLock<Box<[u8]>> = LazyLock::new(|| vec![0u8; CHUNK].into_boxed_slice());

/// Whether hyper is writing placeholder bytes.
pub(super) fn is_placeholder(slice: &[u8]) -> bool {
    let base = PLACEHOLDER.as_ptr() as usize;
    let at = slice.as_ptr() as usize;
    !slice.is_empty() && (base..base + CHUNK).contains(&at)
}

/// The file ranges whose placeholders hyper has taken but not written,
/// in the order it writes them. Shared by a connection's I/O and the
/// bodies of its responses.
#[derive(Debug, Default)]
pub(super) struct Pending(Mutex<VecDeque<Segment>>);

/// What is left to send of one file range.
#[derive(Debug, Clone)]
struct Segment {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    /// `sendfile` is not supported for this file: read and send instead.
    copy: bool,
}

/// Replaces the body of `response` with placeholders fed from its
/// [`SendFile`], when it offers one.
pub(super) fn take(mut response: Response<Body>, pending: &Arc<Pending>) -> Response<Body> {
    let Some(SendFile(segment)) = response.extensions_mut().remove::<SendFile>() else {
        return response;
    };
    let remaining = segment.remaining;
    let body = Placeholders {
        pending: Arc::clone(pending),
        segment: Some(segment),
        remaining,
    };
    response.map(|_| Body::new(body))
}

/// A body of placeholder chunks, `remaining` bytes in all.
struct Placeholders {
    pending: Arc<Pending>,
    /// Queued on the connection when hyper first asks for a chunk.
    segment: Option<Segment>,
    remaining: u64,
}

/// A placeholder body polled while another one's bytes were unsent.
#[derive(Debug, thiserror::Error)]
#[error("a file body is still being sent on this connection")]
struct Overlap;

impl http_body::Body for Placeholders {
    type Data = Bytes;
    type Error = Overlap;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Overlap>>> {
        if let Some(segment) = self.segment.take() {
            let mut queue = self.pending.lock();
            // hyper never does this (see the module doc); were it to, the
            // bytes could go out of order, so the connection ends instead.
            if !queue.is_empty() {
                return Poll::Ready(Some(Err(Overlap)));
            }
            queue.push_back(segment);
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        self.remaining -= n as u64;
        let placeholder: &'static [u8] = &LazyLock::force(&PLACEHOLDER)[..n];
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(placeholder)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Segment>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends up to `max` bytes of the oldest queued range to `stream`, in
    /// place of that many placeholder bytes hyper is writing.
    pub(super) fn poll_send(
        &self,
        stream: &TcpStream,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(stream.poll_write_ready(cx))?;
            let mut queue = self.lock();
            let Some(segment) = queue.front_mut() else {
                return Poll::Ready(Err(io::Error::other("placeholder bytes without a file")));
            };
            let count = usize::try_from(segment.remaining).map_or(max, |r| r.min(max));
            match stream.try_io(Interest::WRITABLE, || segment.send(stream, count)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The file shrank: hyper ends the connection, the client
                // sees a body shorter than its Content-Length.
                Ok(0) => {
                    queue.pop_front();
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ended before its announced length",
                    )));
                }
                Ok(n) => {
                    segment.offset += n as u64;
                    segment.remaining -= n as u64;
                    if segment.remaining == 0 {
                        queue.pop_front();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// Largest read when a file must be copied.
const COPY_CHUNK: usize = 64 * 1024;

impl Segment {
    /// One non-blocking send of at most `count` bytes; `Ok(0)` at the
    /// file's end.
    fn send(&mut self, stream: &TcpStream, count: usize) -> io::Result<usize> {
        if !self.copy {
            match sys::sendfile(stream, &*self.file, self.offset, count) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    self.copy = true;
                }
                result => return result,
            }
        }
        let mut buf = vec![0u8; count.min(COPY_CHUNK)];
        let n = self.file.read_at(&mut buf, self.offset)?;
        if n == 0 {
            return Ok(0);
        }
        socket2::SockRef::from(stream).send(&buf[..n])
    }
}

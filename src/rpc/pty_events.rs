//! The event loop behind `Pty/Create` and `Pty/Attach`: `Started`, the
//! replay (with a `Lost` where it could not start as asked), live output
//! with offsets and keepalives, then exactly one `Exit`.

use std::time::Duration;

use connectrpc_axum::ConnectError;
use envd_proto::envd::pty::v1 as pb;
use futures::Stream;

use crate::error::Error;
use crate::process::{End, Event, PtySize, Replays, Stream as Source, Subscription};

pub(super) fn size_to_pb(size: PtySize) -> pb::Size {
    pb::Size {
        cols: size.cols.into(),
        rows: size.rows.into(),
    }
}

fn stream_to_pb(stream: Source) -> i32 {
    match stream {
        Source::Pty => pb::Stream::Pty,
        Source::Stdout => pb::Stream::Stdout,
        Source::Stderr => pb::Stream::Stderr,
    }
    .into()
}

fn output(stream: Source, offset: u64, data: bytes::Bytes) -> pb::Event {
    event(pb::event::Event::Output(pb::Output {
        stream: stream_to_pb(stream),
        offset,
        data,
    }))
}

fn exit(end: End) -> pb::Event {
    event(pb::event::Event::Exit(pb::Exit {
        exit_code: end.exit_code,
        exited: end.exited,
        status: end.status,
        error: end.error,
    }))
}

fn event(e: pb::event::Event) -> pb::Event {
    pb::Event { event: Some(e) }
}

/// Streams `head`, the replay, then `live` (or the stored end) with
/// keepalives after `keepalive` of silence, each wrapped by `wrap`.
pub(super) fn terminal_events<T: Send + 'static>(
    head: pb::Started,
    replays: Replays,
    live: Result<Subscription, End>,
    keepalive: Duration,
    wrap: fn(pb::Event) -> T,
) -> impl Stream<Item = Result<T, ConnectError>> + Send + 'static {
    async_stream::stream! {
        yield Ok(wrap(event(pb::event::Event::Started(head))));
        for (stream, replay) in replays.streams {
            if let Some(lost) = replay.lost {
                yield Ok(wrap(event(pb::event::Event::Lost(pb::Lost {
                    stream: stream_to_pb(stream),
                    lost_bytes: lost.bytes,
                    resume_offset: lost.resume_offset,
                }))));
            }
            for (offset, data) in replay.chunks {
                yield Ok(wrap(output(stream, offset, data)));
            }
        }
        let mut live = match live {
            Ok(live) => live,
            Err(end) => {
                yield Ok(wrap(exit(end)));
                return;
            }
        };
        loop {
            match tokio::time::timeout(keepalive, live.next()).await {
                Err(_idle) => yield Ok(wrap(event(pb::event::Event::Keepalive(pb::Keepalive {})))),
                Ok(Some(Ok(Event::Data { output: data, offset }))) => {
                    let (stream, bytes) = data.parts();
                    yield Ok(wrap(output(stream, offset, bytes.clone())));
                }
                Ok(Some(Ok(Event::End(end)))) => {
                    yield Ok(wrap(exit(end)));
                    return;
                }
                Ok(Some(Err(fault))) => {
                    yield Err(ConnectError::from(Error::from(fault)));
                    return;
                }
                Ok(None) => return,
            }
        }
    }
}

//! The one event loop behind `Start` and `Connect`: a start event, then
//! output and keepalives, then exactly one end event.

use std::time::Duration;

use connectrpc_axum::ConnectError;
use envd_proto::process::ProcessEvent;
use envd_proto::process::process_event::{
    self, DataEvent, EndEvent, KeepAlive, StartEvent, data_event,
};
use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::process::{End, Event, Output, Subscription};

/// Streams `pid`'s events (or its stored end) with keepalives after
/// `keepalive` of silence, each wrapped by `wrap` into the response type.
pub(super) fn process_events<T: Send + 'static>(
    pid: u32,
    events: Result<Subscription, End>,
    keepalive: Duration,
    wrap: fn(ProcessEvent) -> T,
) -> impl Stream<Item = Result<T, ConnectError>> + Send + 'static {
    async_stream::stream! {
        yield Ok(wrap(event(process_event::Event::Start(StartEvent { pid }))));
        let mut events = match events {
            Ok(events) => events,
            Err(end) => {
                yield Ok(wrap(end_event(end)));
                return;
            }
        };
        loop {
            match tokio::time::timeout(keepalive, events.next()).await {
                Err(_idle) => yield Ok(wrap(event(process_event::Event::Keepalive(KeepAlive {})))),
                Ok(Some(Ok(Event::Data { output, .. }))) => yield Ok(wrap(data_event(output))),
                Ok(Some(Ok(Event::End(end)))) => {
                    yield Ok(wrap(end_event(end)));
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

/// Ends `events` with `unavailable` as soon as envd starts shutting down,
/// so a client learns why its stream ended (and may reconnect) instead of
/// seeing it reset when the drain window runs out.
pub(super) fn until_shutdown<T: Send + 'static>(
    events: impl Stream<Item = Result<T, ConnectError>> + Send + 'static,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<T, ConnectError>> + Send + 'static {
    async_stream::stream! {
        let mut events = std::pin::pin!(events);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    yield Err(ConnectError::from(Error::ShuttingDown));
                    return;
                }
                item = events.next() => match item {
                    Some(item) => yield item,
                    None => return,
                },
            }
        }
    }
}

fn event(e: process_event::Event) -> ProcessEvent {
    ProcessEvent { event: Some(e) }
}

fn data_event(output: Output) -> ProcessEvent {
    let output = match output {
        Output::Stdout(b) => data_event::Output::Stdout(b),
        Output::Stderr(b) => data_event::Output::Stderr(b),
        Output::Pty(b) => data_event::Output::Pty(b),
    };
    event(process_event::Event::Data(DataEvent {
        output: Some(output),
    }))
}

fn end_event(end: End) -> ProcessEvent {
    event(process_event::Event::End(EndEvent {
        exit_code: end.exit_code,
        exited: end.exited,
        status: end.status,
        error: end.error,
    }))
}

//! The harness's one Connect envelope parser: `flags`, a 4-byte big-endian
//! length, the payload. [`Frames`] reads envelopes from a response body as
//! they arrive; [`frames_of`] splits a body already in memory.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt as _;
use serde_json::Value;

use super::STEP;

/// The end-of-stream flag of a Connect envelope.
pub const END_STREAM: u8 = 0x02;

/// Takes one whole envelope `(flags, payload)` off the front of `buf`, if
/// `buf` holds one.
fn split_envelope(buf: &mut BytesMut) -> Option<(u8, Bytes)> {
    let head: [u8; 5] = buf.get(..5)?.try_into().ok()?;
    let len = usize::try_from(u32::from_be_bytes(head[1..].try_into().ok()?)).ok()?;
    if buf.len() < 5 + len {
        return None;
    }
    buf.advance(5);
    Some((head[0], buf.split_to(len).freeze()))
}

/// Every envelope of a whole body; fails the test on a trailing partial one.
pub fn frames_of(body: &[u8]) -> Vec<(u8, Bytes)> {
    let mut buf = BytesMut::from(body);
    let mut out = Vec::new();
    while let Some(frame) = split_envelope(&mut buf) {
        out.push(frame);
    }
    assert!(buf.is_empty(), "a partial envelope at the end: {buf:?}");
    out
}

/// Incremental reader of Connect envelopes from a response body.
pub struct Frames {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buf: BytesMut,
}

/// One envelope: flags and JSON payload.
#[derive(Debug, Clone)]
pub struct Frame {
    pub flags: u8,
    pub json: Value,
}

/// A finished stream.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Message frames in order.
    pub messages: Vec<Value>,
    /// The end-of-stream frame's JSON (`{}` when OK).
    pub end_stream: Value,
}

impl Frames {
    /// Reads the envelopes of `response`'s body.
    pub fn of(response: reqwest::Response) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            buf: BytesMut::new(),
        }
    }

    /// The next raw envelope `(flags, payload)`, or `None` at end of body.
    pub async fn next_raw(&mut self) -> Option<(u8, Bytes)> {
        self.read()
            .await
            .unwrap_or_else(|e| panic!("stream body error: {e}"))
    }

    /// Like [`Frames::next_raw`], but `None` also once the connection
    /// breaks (a stream envd drops on purpose, as a live upgrade does).
    pub async fn next_raw_or_broken(&mut self) -> Option<(u8, Bytes)> {
        self.read().await.ok().flatten()
    }

    async fn read(&mut self) -> reqwest::Result<Option<(u8, Bytes)>> {
        loop {
            if let Some(frame) = split_envelope(&mut self.buf) {
                return Ok(Some(frame));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(e),
                None => return Ok(None),
            }
        }
    }

    /// The next JSON envelope, or `None` at end of body.
    pub async fn next(&mut self) -> Option<Frame> {
        let (flags, payload) = self.next_raw().await?;
        let json = serde_json::from_slice(&payload).expect("frame is JSON");
        Some(Frame { flags, json })
    }

    /// The next JSON envelope, failing the test after `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Option<Frame> {
        tokio::time::timeout(limit, self.next())
            .await
            .unwrap_or_else(|_| panic!("no stream frame within {limit:?}"))
    }

    /// The next stream message; fails on end-of-stream or after [`STEP`].
    pub async fn message(&mut self) -> Value {
        let frame = self
            .next_within(STEP)
            .await
            .expect("stream ended without end-of-stream frame");
        assert_eq!(
            frame.flags & END_STREAM,
            0,
            "stream ended early: {}",
            frame.json
        );
        frame.json
    }

    /// Reads to the end-of-stream frame, failing the test after `limit`.
    pub async fn collect(mut self, limit: Duration) -> Collected {
        tokio::time::timeout(limit, async {
            let mut messages = Vec::new();
            while let Some(frame) = self.next().await {
                if frame.flags & END_STREAM != 0 {
                    return Collected {
                        messages,
                        end_stream: frame.json,
                    };
                }
                messages.push(frame.json);
            }
            panic!("stream ended without an end-of-stream frame after {messages:?}");
        })
        .await
        .expect("stream did not finish in time")
    }
}

impl Collected {
    /// Concatenated base64-decoded `field` (`stdout`, `stderr`, `pty`) of data events.
    pub fn output(&self, field: &str) -> Vec<u8> {
        super::process::output(&self.messages, field)
    }

    /// The `end` event, if any.
    pub fn end(&self) -> Option<&Value> {
        self.messages.iter().find_map(|m| m["event"].get("end"))
    }

    /// Event kinds in order (`start`, `data`, `end`, `keepalive`).
    pub fn kinds(&self) -> Vec<String> {
        self.messages
            .iter()
            .map(|m| super::process::kind(m).to_owned())
            .filter(|k| k != "?")
            .collect()
    }

    /// The stream's error `(code, message)`, if it ended with one.
    pub fn error(&self) -> Option<(String, String)> {
        self.end_stream
            .get("error")
            .map(|_| super::connect::connect_error(&self.end_stream))
    }
}

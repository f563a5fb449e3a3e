//! The `process.Process` calls the figures make, each checking the shape the
//! spec promises (one `start` first, one `end` last, an OK end of stream), so
//! a fast but wrong envd fails instead of scoring.

use bytes::Bytes;
use envd_proto::process::process_event::{DataEvent, EndEvent, Event, data_event::Output};
use envd_proto::process::{
    ProcessConfig, ProcessInput, ProcessSelector, Pty, SendInputRequest, SendInputResponse,
    SendSignalRequest, SendSignalResponse, Signal, StartRequest, StartResponse, process_input,
    process_selector, pty,
};

use crate::wire::{Codec, Conn, Envelopes, Frame, Result, Target};

pub(crate) const START: &str = "process.Process/Start";
const SEND_INPUT: &str = "process.Process/SendInput";
const SEND_SIGNAL: &str = "process.Process/SendSignal";

/// `cmd args…` with stdin closed, as the SDKs start commands.
pub(crate) fn command(cmd: &str, args: &[&str]) -> StartRequest {
    StartRequest {
        process: Some(ProcessConfig {
            cmd: cmd.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            ..ProcessConfig::default()
        }),
        stdin: Some(false),
        ..StartRequest::default()
    }
}

/// `/bin/sh -c script` on an 80×24 PTY.
pub(crate) fn pty_command(script: &str) -> StartRequest {
    StartRequest {
        pty: Some(Pty {
            size: Some(pty::Size { cols: 80, rows: 24 }),
        }),
        ..command("/bin/sh", &["-c", script])
    }
}

/// An open `Start` stream.
#[derive(Debug)]
pub(crate) struct Events {
    codec: Codec,
    frames: Envelopes,
    started: bool,
}

impl Events {
    /// Sends `Start`; the stream is open once this returns.
    pub(crate) async fn start(
        conn: &mut Conn,
        target: &Target,
        codec: Codec,
        request: &StartRequest,
    ) -> Result<Self> {
        let response = conn
            .send(target.rpc(START, codec, true, codec.encode(request)?)?)
            .await?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("Start: HTTP {}", response.status()).into());
        }
        Ok(Self {
            codec,
            frames: Envelopes::new(response.into_body()),
            started: false,
        })
    }

    /// The next event other than a keepalive; `None` after an OK end of
    /// stream, an error for a failed one.
    pub(crate) async fn next(&mut self) -> Result<Option<Event>> {
        loop {
            match self.frames.next().await? {
                Frame::End(trailer) => {
                    if let Some(error) = trailer.get("error") {
                        return Err(format!("Start stream failed: {error}").into());
                    }
                    return Ok(None);
                }
                Frame::Message(bytes) => {
                    let response: StartResponse = self.codec.decode(&bytes)?;
                    match response.event.and_then(|e| e.event) {
                        Some(Event::Keepalive(_)) => {}
                        Some(event) => return Ok(Some(event)),
                        None => return Err("an empty process event".into()),
                    }
                }
            }
        }
    }

    /// The pid of the `start` event, which must come first.
    pub(crate) async fn pid(&mut self) -> Result<u32> {
        match self.next().await? {
            Some(Event::Start(start)) if !self.started => {
                self.started = true;
                Ok(start.pid)
            }
            other => Err(format!("expected the start event first, got {other:?}").into()),
        }
    }

    /// Reads to the end: every stdout chunk goes to `stdout`; the stream
    /// must then hold exactly one `end` followed by an OK end of stream.
    pub(crate) async fn finish(
        &mut self,
        mut stdout: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<Ended> {
        if !self.started {
            self.pid().await?;
        }
        let mut stderr = Vec::new();
        let end = loop {
            match self.next().await? {
                Some(Event::Data(DataEvent {
                    output: Some(output),
                })) => match output {
                    Output::Stdout(bytes) | Output::Pty(bytes) => stdout(&bytes)?,
                    Output::Stderr(bytes) => {
                        let room = 4096usize.saturating_sub(stderr.len());
                        stderr.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    }
                },
                Some(Event::End(end)) => break end,
                Some(other) => return Err(format!("unexpected event {other:?}").into()),
                None => return Err("stream ended without an end event".into()),
            }
        };
        if let Some(extra) = self.next().await? {
            return Err(format!("event after end: {extra:?}").into());
        }
        Ok(Ended {
            end,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

/// How a process ended.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) end: EndEvent,
    /// The first 4 KiB of stderr, for error messages.
    pub(crate) stderr: String,
}

impl Ended {
    /// An error unless the process exited with `code`.
    pub(crate) fn expect_exit(&self, code: i32) -> Result<()> {
        if self.end.exited && self.end.exit_code == code {
            Ok(())
        } else {
            Err(format!(
                "expected exit {code}, got {:?} (stderr {:?})",
                self.end, self.stderr
            )
            .into())
        }
    }
}

/// Starts `request` and reads it to its end, collecting at most `limit`
/// bytes of stdout.
pub(crate) async fn run(
    conn: &mut Conn,
    target: &Target,
    codec: Codec,
    request: &StartRequest,
    limit: usize,
) -> Result<(Ended, Vec<u8>)> {
    let mut events = Events::start(conn, target, codec, request).await?;
    let mut out = Vec::new();
    let ended = events
        .finish(|chunk| {
            if out.len() + chunk.len() > limit {
                return Err(format!("more than {limit} bytes of stdout").into());
            }
            out.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
    Ok((ended, out))
}

fn by_pid(pid: u32) -> Option<ProcessSelector> {
    Some(ProcessSelector {
        selector: Some(process_selector::Selector::Pid(pid)),
    })
}

/// `SendSignal` SIGKILL to `pid`.
pub(crate) async fn kill(conn: &mut Conn, target: &Target, codec: Codec, pid: u32) -> Result<()> {
    let request = SendSignalRequest {
        process: by_pid(pid),
        signal: Signal::Sigkill.into(),
    };
    let _: SendSignalResponse = conn.unary(target, SEND_SIGNAL, codec, &request).await?;
    Ok(())
}

/// `SendInput` of `bytes` to `pid`'s terminal.
pub(crate) async fn send_pty(
    conn: &mut Conn,
    target: &Target,
    codec: Codec,
    pid: u32,
    bytes: Bytes,
) -> Result<()> {
    let request = SendInputRequest {
        process: by_pid(pid),
        input: Some(ProcessInput {
            input: Some(process_input::Input::Pty(bytes)),
        }),
    };
    let _: SendInputResponse = conn.unary(target, SEND_INPUT, codec, &request).await?;
    Ok(())
}

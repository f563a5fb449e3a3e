//! The `terminal.*` ops: sessions through `Client::terminals`, plus one raw
//! Send and one raw Attach for wire-level cases.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value, json};

use envd_sdk::{
    Code, OutputStream, ProcessSelector, TerminalEvent, TerminalOp, TerminalOptions, TerminalSignal,
};

use super::{Args, exit_json, selector};
use crate::handles::{Control, TerminalControl};
use crate::{Failure, State, StepResult};

pub(super) async fn dispatch(state: &mut State, op: &str, a: Args<'_>) -> StepResult {
    match op {
        "terminal.create" => create(state, a).await,
        "terminal.attach" => {
            let session = state
                .client
                .terminals()
                .attach(selector(a)?, a.opt_u64("offset")?)
                .await?;
            let (pid, pty) = (session.pid(), session.started().pty);
            let handle = state.handles.add_terminal(session);
            Ok(json!({ "handle": handle, "pid": pid, "pty": pty }))
        }
        "terminal.write" => {
            let data = Bytes::from(a.str("data")?.to_owned());
            control(state, a)?.input.write(data).await?;
            Ok(json!({}))
        }
        "terminal.resize" => {
            let (cols, rows) = (a.u16("cols")?, a.u16("rows")?);
            control(state, a)?.input.resize(cols, rows).await?;
            Ok(json!({}))
        }
        "terminal.signal" => {
            let signal = signal(a.str("signal")?)?;
            control(state, a)?.input.signal(signal).await?;
            Ok(json!({}))
        }
        "terminal.read_until" => read_until(state, a).await,
        "terminal.drop_stream" => {
            control(state, a)?.drop_stream()?;
            Ok(json!({}))
        }
        "terminal.wait" => wait(state, a).await,
        "terminal.close" => {
            let pid = control(state, a)?.pid;
            let grace = a.opt_u64("graceMs")?.map(Duration::from_millis);
            state.client.terminals().close(pid, grace).await?;
            Ok(json!({}))
        }
        "terminal.list" => list(state).await,
        "terminal.send_raw" => send_raw(state, a).await,
        "terminal.attach_raw" => attach_raw(state, a).await,
        _ => Err(Failure::new(
            Code::Unimplemented,
            format!("unknown op {op:?}"),
        )),
    }
}

fn control(state: &State, a: Args<'_>) -> Result<TerminalControl, Failure> {
    match &state.handles.get(a.str("handle")?)?.control {
        Control::Terminal(control) => Ok(control.clone()),
        _ => Err(Failure::bad_args("handle is not a terminal handle")),
    }
}

fn signal(name: &str) -> Result<TerminalSignal, Failure> {
    TerminalSignal::from_name(name)
        .ok_or_else(|| Failure::bad_args(format!("unknown signal {name:?}")))
}

fn pid(a: Args<'_>) -> Result<u32, Failure> {
    let pid = a
        .opt_u64("pid")?
        .ok_or_else(|| Failure::bad_args("missing number arg \"pid\""))?;
    u32::try_from(pid).map_err(|_| Failure::bad_args("pid out of range"))
}

async fn create(state: &mut State, a: Args<'_>) -> StepResult {
    let mut options = TerminalOptions::new(a.u16("cols")?, a.u16("rows")?);
    if let Some(cmd) = a.opt_str("cmd")? {
        options = options.command(cmd, a.strings("args")?);
    }
    for (key, value) in a.string_map("envs")? {
        options = options.env(key, value);
    }
    if let Some(cwd) = a.opt_str("cwd")? {
        options = options.cwd(cwd);
    }
    if let Some(user) = a.opt_str("user")? {
        options = options.user(user);
    }
    if let Some(tag) = a.opt_str("tag")? {
        options = options.tag(tag);
    }
    let session = state.client.terminals().create(options).await?;
    let pid = session.pid();
    let handle = state.handles.add_terminal(session);
    Ok(json!({ "handle": handle, "pid": pid }))
}

async fn read_until(state: &State, a: Args<'_>) -> StepResult {
    let sink = state.handles.get(a.str("handle")?)?.sink.clone();
    let needle = a.str("contains")?.to_owned();
    let what = format!("output containing {needle:?}");
    sink.wait_for(a.timeout()?, &what, |c| {
        let output = String::from_utf8_lossy(&c.stdout);
        output
            .contains(needle.as_str())
            .then(|| json!({ "output": output }))
    })
    .await
}

async fn wait(state: &State, a: Args<'_>) -> StepResult {
    let sink = state.handles.get(a.str("handle")?)?.sink.clone();
    sink.wait_for(a.timeout()?, "the terminal to end", |c| {
        let exit = c.exit.as_ref()?;
        let mut out = Map::new();
        exit_json(exit, &mut out);
        out.insert("output".into(), json!(String::from_utf8_lossy(&c.stdout)));
        Some(Value::Object(out))
    })
    .await
}

async fn list(state: &State) -> StepResult {
    let mut terminals = state.client.terminals().list().await?;
    terminals.sort_by_key(|t| t.pid);
    let terminals: Vec<Value> = terminals
        .iter()
        .map(|t| {
            let (cols, rows) = t.size.unwrap_or((0, 0));
            let mut info = json!({ "pid": t.pid, "cols": cols, "rows": rows });
            if let Some(tag) = &t.tag {
                info["tag"] = json!(tag);
            }
            info
        })
        .collect();
    Ok(json!({ "terminals": terminals }))
}

fn raw_op(op: &Value) -> Result<TerminalOp, Failure> {
    if let Some(text) = op.get("input").and_then(Value::as_str) {
        return Ok(TerminalOp::Input(Bytes::from(text.to_owned())));
    }
    if let Some(size) = op.get("resize") {
        let a = Args(size);
        return Ok(TerminalOp::Resize {
            cols: a.u16("cols")?,
            rows: a.u16("rows")?,
        });
    }
    if let Some(name) = op.get("signal").and_then(Value::as_str) {
        return Ok(TerminalOp::Signal(signal(name)?));
    }
    Err(Failure::bad_args(format!(
        "an op is {{input}}, {{resize}} or {{signal}}, got {op}"
    )))
}

async fn send_raw(state: &State, a: Args<'_>) -> StepResult {
    let ops = a
        .get("ops")
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::bad_args("arg \"ops\" must be a list"))?
        .iter()
        .map(raw_op)
        .collect::<Result<Vec<_>, _>>()?;
    let seq = a
        .opt_u64("seq")?
        .ok_or_else(|| Failure::bad_args("missing number arg \"seq\""))?;
    let timeout = a.timeout()?;
    let terminals = state.client.terminals();
    let send = terminals.send_batch(pid(a)?, seq, ops);
    let last_applied = tokio::time::timeout(timeout, send)
        .await
        .map_err(|_| timed_out(timeout, "the Send"))??;
    Ok(json!({ "lastAppliedSeq": last_applied }))
}

fn timed_out(timeout: Duration, what: &str) -> Failure {
    Failure::new(
        Code::DeadlineExceeded,
        format!("timed out after {timeout:?} waiting for {what}"),
    )
}

async fn attach_raw(state: &State, a: Args<'_>) -> StepResult {
    let timeout = a.timeout()?;
    let process = ProcessSelector::Pid(pid(a)?);
    let (offset, stderr) = (a.opt_u64("offset")?, a.opt_u64("stderrOffset")?);
    let run = async {
        let mut stream = state
            .client
            .terminals()
            .attach_stream(process, offset, stderr)
            .await?;
        let started = stream.started().clone();
        let mut events = RawEvents::default();
        while let Some(event) = stream.next().await {
            events.push(event?);
        }
        Ok::<_, envd_sdk::Error>(json!({
            "pty": started.pty,
            "lastAppliedSeq": started.last_applied_seq,
            "events": events.into_json(),
        }))
    };
    Ok(tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| timed_out(timeout, "the Attach stream to end"))??)
}

/// Attach events as PROTOCOL.md lists them: consecutive outputs of one
/// stream merged into one entry.
#[derive(Default)]
struct RawEvents {
    done: Vec<Value>,
    /// The output entry being merged into: stream, offset, bytes.
    open: Option<(OutputStream, u64, Vec<u8>)>,
}

impl RawEvents {
    fn push(&mut self, event: TerminalEvent) {
        match event {
            TerminalEvent::Output {
                stream,
                offset,
                data,
            } => match &mut self.open {
                Some((open, _, bytes)) if *open == stream => bytes.extend_from_slice(&data),
                _ => {
                    self.flush();
                    self.open = Some((stream, offset, data.to_vec()));
                }
            },
            TerminalEvent::Lost {
                stream,
                lost_bytes,
                resume_offset,
            } => {
                self.flush();
                self.done.push(json!({ "lost": {
                    "stream": stream.as_str(),
                    "lostBytes": lost_bytes,
                    "resumeOffset": resume_offset,
                }}));
            }
            TerminalEvent::Exit(exit) => {
                self.flush();
                self.done.push(json!({ "exit": {
                    "exitCode": exit.exit_code,
                    "exited": exit.exited,
                }}));
            }
            _ => {}
        }
    }

    fn flush(&mut self) {
        if let Some((stream, offset, bytes)) = self.open.take() {
            self.done.push(json!({ "output": {
                "stream": stream.as_str(),
                "offset": offset,
                "text": String::from_utf8_lossy(&bytes),
            }}));
        }
    }

    fn into_json(mut self) -> Vec<Value> {
        self.flush();
        self.done
    }
}

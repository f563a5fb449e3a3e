//! One function per conformance op, each a thin call into `envd_sdk`.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use envd_sdk::{
    Client, Code, Command, CommandOutput, ExitStatus, InitOptions, ProcessSelector, PtyOptions,
    Signal, UrlOptions,
};

use crate::handles::Control;

mod files;
mod terminal;

use crate::{DEFAULT_WAIT, Failure, State, StepResult};
use files::{
    entry_json, files, files_read, files_write, files_write_many, watch_events, write_info_json,
};

/// Runs `op` with `args`.
pub(crate) async fn dispatch(state: &mut State, op: &str, args: &Value) -> StepResult {
    let a = Args(args);
    match op {
        "client.configure" => configure(state, a),
        "health" => Ok(json!({ "version": state.client.health().await?.version })),
        "metrics" => to_json(&state.client.metrics().await?),
        "envs" => to_json(&state.client.envs().await?),
        "init" => init(state, a).await,
        "snapshot.prepare" => {
            state.client.prepare_snapshot().await?;
            Ok(json!({}))
        }
        "commands.run" => {
            let output = state.client.commands().run(command(a)?).await?;
            Ok(output_json(&output))
        }
        "commands.spawn" => {
            let handle = state.client.commands().spawn(command(a)?).await?;
            let pid = handle.pid();
            let control = Control::Process(handle.process());
            let id = state.handles.add_process(control, handle.into_events());
            Ok(json!({ "handle": id, "pid": pid }))
        }
        "commands.connect" => {
            let handle = state.client.commands().connect(selector(a)?).await?;
            let pid = handle.pid();
            let control = Control::Process(handle.process());
            let id = state.handles.add_process(control, handle.into_events());
            Ok(json!({ "handle": id, "pid": pid }))
        }
        "commands.list" => list(state).await,
        "commands.send_stdin" => {
            let data = Bytes::from(a.str("data")?.to_owned());
            state
                .client
                .commands()
                .send_stdin(selector(a)?, data)
                .await?;
            Ok(json!({}))
        }
        "commands.close_stdin" => {
            state.client.commands().close_stdin(selector(a)?).await?;
            Ok(json!({}))
        }
        "commands.signal" => {
            let signal = match a.str("signal")? {
                "SIGTERM" => Signal::Term,
                "SIGKILL" => Signal::Kill,
                other => return Err(Failure::bad_args(format!("unknown signal {other:?}"))),
            };
            state.client.commands().signal(selector(a)?, signal).await?;
            Ok(json!({}))
        }
        "commands.kill" => {
            let killed = state.client.commands().kill(selector(a)?).await?;
            Ok(json!({ "killed": killed }))
        }
        "handle.wait" => handle_wait(state, a, false).await,
        "handle.read_until" => read_until(state, a, false).await,
        "handle.send_stdin" => {
            let data = Bytes::from(a.str("data")?.to_owned());
            process_ref(state, a)?.send_stdin(data).await?;
            Ok(json!({}))
        }
        "handle.close_stdin" => {
            process_ref(state, a)?.close_stdin().await?;
            Ok(json!({}))
        }
        "handle.kill" => {
            process_ref(state, a)?.kill().await?;
            Ok(json!({}))
        }
        "handle.disconnect" | "watch.stop" => {
            state.handles.remove(a.str("handle")?)?;
            Ok(json!({}))
        }
        "pty.create" => pty_create(state, a).await,
        "pty.write" => {
            let data = Bytes::from(a.str("data")?.to_owned());
            pty_input(state, a)?.write(data).await?;
            Ok(json!({}))
        }
        "pty.resize" => {
            let (cols, rows) = (a.u16("cols")?, a.u16("rows")?);
            pty_input(state, a)?.resize(cols, rows).await?;
            Ok(json!({}))
        }
        "pty.kill" => {
            pty_input(state, a)?.kill().await?;
            Ok(json!({}))
        }
        "pty.read_until" => read_until(state, a, true).await,
        "pty.wait" => handle_wait(state, a, true).await,
        op if op.starts_with("terminal.") => terminal::dispatch(state, op, a).await,
        "files.read" => files_read(state, a).await,
        "files.write" => files_write(state, a).await,
        "files.write_many" => files_write_many(state, a).await,
        "files.list" => {
            let depth = a.opt_u64("depth")?.unwrap_or(1);
            let depth = u32::try_from(depth).map_err(|_| Failure::bad_args("depth too large"))?;
            let entries = files(state, a)?.list(a.str("path")?, depth).await?;
            Ok(json!({ "entries": entries.iter().map(entry_json).collect::<Vec<_>>() }))
        }
        "files.stat" => Ok(entry_json(&files(state, a)?.stat(a.str("path")?).await?)),
        "files.exists" => Ok(json!({ "exists": files(state, a)?.exists(a.str("path")?).await? })),
        "files.make_dir" => Ok(entry_json(
            &files(state, a)?.make_dir(a.str("path")?).await?,
        )),
        "files.rename" => {
            let entry = files(state, a)?
                .rename(a.str("from")?, a.str("to")?)
                .await?;
            Ok(entry_json(&entry))
        }
        "files.compose" => {
            let written = files(state, a)?
                .compose(a.strings("sources")?, a.str("destination")?)
                .await?;
            Ok(write_info_json(&written))
        }
        "files.remove" => {
            files(state, a)?.remove(a.str("path")?).await?;
            Ok(json!({}))
        }
        "files.watch" => {
            let recursive = a.opt_bool("recursive")?.unwrap_or(false);
            let stream = files(state, a)?.watch(a.str("path")?, recursive).await?;
            Ok(json!({ "handle": state.handles.add_watch(stream) }))
        }
        "watch.events" => watch_events(state, a).await,
        "files.download_url" | "files.upload_url" => {
            let mut options = UrlOptions::new();
            if let Some(user) = a.opt_str("user")? {
                options = options.user(user);
            }
            if let Some(seconds) = a.opt_u64("expiresInSeconds")? {
                options = options.expires_in(Duration::from_secs(seconds));
            }
            let files = state.client.files();
            let url = if op == "files.download_url" {
                files.download_url(a.str("path")?, &options)?
            } else {
                files.upload_url(a.str("path")?, &options)?
            };
            Ok(json!({ "url": url }))
        }
        _ => Err(Failure::new(
            Code::Unimplemented,
            format!("unknown op {op:?}"),
        )),
    }
}

/// Typed access to a step's `args` object.
#[derive(Clone, Copy)]
pub(super) struct Args<'a>(pub(super) &'a Value);

impl<'a> Args<'a> {
    pub(super) fn get(self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn str(self, key: &str) -> Result<&'a str, Failure> {
        self.opt_str(key)?
            .ok_or_else(|| Failure::bad_args(format!("missing string arg {key:?}")))
    }

    pub(super) fn opt_str(self, key: &str) -> Result<Option<&'a str>, Failure> {
        self.get(key)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| Failure::bad_args(format!("arg {key:?} must be a string")))
            })
            .transpose()
    }

    pub(super) fn opt_u64(self, key: &str) -> Result<Option<u64>, Failure> {
        self.get(key)
            .map(|v| {
                v.as_u64().ok_or_else(|| {
                    Failure::bad_args(format!("arg {key:?} must be a non-negative integer"))
                })
            })
            .transpose()
    }

    pub(super) fn u16(self, key: &str) -> Result<u16, Failure> {
        let value = self
            .opt_u64(key)?
            .ok_or_else(|| Failure::bad_args(format!("missing number arg {key:?}")))?;
        u16::try_from(value).map_err(|_| Failure::bad_args(format!("arg {key:?} out of range")))
    }

    pub(super) fn opt_bool(self, key: &str) -> Result<Option<bool>, Failure> {
        self.get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| Failure::bad_args(format!("arg {key:?} must be a boolean")))
            })
            .transpose()
    }

    pub(super) fn strings(self, key: &str) -> Result<Vec<String>, Failure> {
        let Some(value) = self.get(key) else {
            return Ok(Vec::new());
        };
        value
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect()
            })
            .ok_or_else(|| Failure::bad_args(format!("arg {key:?} must be an array of strings")))
    }

    pub(super) fn string_map(self, key: &str) -> Result<HashMap<String, String>, Failure> {
        let Some(value) = self.get(key) else {
            return Ok(HashMap::new());
        };
        value
            .as_object()
            .and_then(|object| {
                object
                    .iter()
                    .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .ok_or_else(|| Failure::bad_args(format!("arg {key:?} must map strings to strings")))
    }

    pub(super) fn timeout(self) -> Result<Duration, Failure> {
        Ok(self
            .opt_u64("timeoutMs")?
            .map_or(DEFAULT_WAIT, Duration::from_millis))
    }
}

fn to_json(value: &impl serde::Serialize) -> StepResult {
    serde_json::to_value(value)
        .map_err(|e| Failure::new(Code::Internal, format!("cannot encode result: {e}")))
}

fn configure(state: &mut State, a: Args<'_>) -> StepResult {
    let url = a.opt_str("url")?.unwrap_or(&state.base_url);
    let mut builder = Client::builder(url);
    if let Some(token) = a.opt_str("accessToken")? {
        builder = builder.access_token(token);
    }
    if let Some(user) = a.opt_str("user")? {
        builder = builder.user(user);
    }
    if let Some(ms) = a.opt_u64("keepaliveIntervalMs")? {
        builder = builder.keepalive_interval(Duration::from_millis(ms));
    }
    state.client = builder.build()?;
    Ok(json!({}))
}

async fn init(state: &mut State, a: Args<'_>) -> StepResult {
    let mut options = InitOptions::new();
    if let Some(token) = a.opt_str("accessToken")? {
        options = options.access_token(token);
    }
    if a.get("envVars").is_some() {
        options = options.env_vars(a.string_map("envVars")?);
    }
    if let Some(user) = a.opt_str("defaultUser")? {
        options = options.default_user(user);
    }
    if let Some(dir) = a.opt_str("defaultWorkdir")? {
        options = options.default_workdir(dir);
    }
    if let Some(timestamp) = a.opt_str("timestamp")? {
        options = options.timestamp(timestamp);
    }
    state.client.init(&options).await?;
    Ok(json!({}))
}

/// Process options shared by `commands.run` and `commands.spawn`.
fn command(a: Args<'_>) -> Result<Command, Failure> {
    let mut command = Command::new(a.str("cmd")?).args(a.strings("args")?);
    for (key, value) in a.string_map("envs")? {
        command = command.env(key, value);
    }
    if let Some(cwd) = a.opt_str("cwd")? {
        command = command.cwd(cwd);
    }
    if let Some(user) = a.opt_str("user")? {
        command = command.user(user);
    }
    if let Some(tag) = a.opt_str("tag")? {
        command = command.tag(tag);
    }
    if let Some(ms) = a.opt_u64("timeoutMs")? {
        command = command.timeout(Duration::from_millis(ms));
    }
    match a.get("stdin") {
        Some(Value::Bool(true)) => command = command.keep_stdin_open(),
        Some(Value::String(data)) => command = command.stdin(Bytes::from(data.clone())),
        _ => {}
    }
    Ok(command)
}

pub(super) fn selector(a: Args<'_>) -> Result<ProcessSelector, Failure> {
    if let Some(pid) = a.opt_u64("pid")? {
        let pid = u32::try_from(pid).map_err(|_| Failure::bad_args("pid out of range"))?;
        return Ok(ProcessSelector::Pid(pid));
    }
    Ok(ProcessSelector::Tag(a.str("tag")?.to_owned()))
}

pub(super) fn exit_json(exit: &ExitStatus, out: &mut Map<String, Value>) {
    out.insert("exitCode".into(), json!(exit.exit_code));
    out.insert("exited".into(), json!(exit.exited));
    out.insert("status".into(), json!(exit.status));
    if let Some(error) = &exit.error {
        out.insert("error".into(), json!(error));
    }
}

fn output_json(output: &CommandOutput) -> Value {
    let mut out = Map::new();
    out.insert("pid".into(), json!(output.pid));
    out.insert("stdout".into(), json!(output.stdout_text()));
    out.insert("stderr".into(), json!(output.stderr_text()));
    exit_json(&output.exit, &mut out);
    Value::Object(out)
}

async fn list(state: &State) -> StepResult {
    let processes = state.client.commands().list().await?;
    let processes: Vec<Value> = processes
        .iter()
        .map(|p| {
            let mut info = json!({ "pid": p.pid, "cmd": p.cmd, "args": p.args, "envs": p.envs });
            if let Some(tag) = &p.tag {
                info["tag"] = json!(tag);
            }
            if let Some(cwd) = &p.cwd {
                info["cwd"] = json!(cwd);
            }
            info
        })
        .collect();
    Ok(json!({ "processes": processes }))
}

fn process_ref(state: &State, a: Args<'_>) -> Result<envd_sdk::ProcessRef, Failure> {
    match &state.handles.get(a.str("handle")?)?.control {
        Control::Process(process) => Ok(process.clone()),
        _ => Err(Failure::bad_args("handle is not a command handle")),
    }
}

fn pty_input(state: &State, a: Args<'_>) -> Result<envd_sdk::PtyInput, Failure> {
    match &state.handles.get(a.str("handle")?)?.control {
        Control::Pty(input) => Ok(input.clone()),
        _ => Err(Failure::bad_args("handle is not a PTY handle")),
    }
}

async fn handle_wait(state: &State, a: Args<'_>, pty: bool) -> StepResult {
    let sink = state.handles.get(a.str("handle")?)?.sink.clone();
    sink.wait_for(a.timeout()?, "the process to end", |c| {
        let exit = c.exit.as_ref()?;
        let mut out = Map::new();
        if pty {
            out.insert("output".into(), json!(String::from_utf8_lossy(&c.stdout)));
        } else {
            out.insert("stdout".into(), json!(String::from_utf8_lossy(&c.stdout)));
            out.insert("stderr".into(), json!(String::from_utf8_lossy(&c.stderr)));
        }
        exit_json(exit, &mut out);
        Some(Value::Object(out))
    })
    .await
}

async fn read_until(state: &State, a: Args<'_>, pty: bool) -> StepResult {
    let sink = state.handles.get(a.str("handle")?)?.sink.clone();
    let needle = a.str("contains")?.to_owned();
    let what = format!("output containing {needle:?}");
    sink.wait_for(a.timeout()?, &what, |c| {
        let stdout = String::from_utf8_lossy(&c.stdout);
        if !stdout.contains(needle.as_str()) {
            return None;
        }
        Some(if pty {
            json!({ "output": stdout })
        } else {
            json!({ "stdout": stdout, "stderr": String::from_utf8_lossy(&c.stderr) })
        })
    })
    .await
}

async fn pty_create(state: &mut State, a: Args<'_>) -> StepResult {
    let mut options = PtyOptions::new(a.u16("cols")?, a.u16("rows")?);
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
    let session = state.client.pty().create(options).await?;
    let pid = session.pid();
    let control = Control::Pty(session.input());
    let id = state.handles.add_process(control, session.into_events());
    Ok(json!({ "handle": id, "pid": pid }))
}

//! `envd.pty.v1.Pty` against a real envd: terminals shared with
//! `process.Process`, ordered and idempotent `Send` batches, offset
//! replay on `Attach` (terminals and pipes, live and exited, with the loss
//! event), hang-up, output coalescing and the request checks.

use std::time::Duration;

use crate::support::Envd;
use crate::support::connect::connect_error;
use crate::support::frames::Frames;
use crate::support::process::{LIST, START, b64, unb64};
use serde_json::{Value, json};

const CREATE: &str = "envd.pty.v1.Pty/Create";
const ATTACH: &str = "envd.pty.v1.Pty/Attach";
const SEND: &str = "envd.pty.v1.Pty/Send";
const PTY_LIST: &str = "envd.pty.v1.Pty/List";
const CLOSE: &str = "envd.pty.v1.Pty/Close";

fn create(cmd: &str, args: &[&str]) -> Value {
    json!({"size": {"cols": 80, "rows": 24}, "command": cmd, "args": args})
}

/// A shell that echoes nothing and prints what it reads, line by line.
fn echo_lines() -> Value {
    create(
        "/bin/sh",
        &[
            "-c",
            "stty -echo; echo ready; while read l; do echo \"got:$l\"; done",
        ],
    )
}

fn input(text: &str) -> Value {
    json!({"input": b64(text.as_bytes())})
}

async fn send(envd: &Envd, pid: u32, seq: u64, ops: Value) -> (u16, Value) {
    envd.unary(
        SEND,
        json!({"process": {"pid": pid}, "seq": seq, "operations": ops}),
    )
    .await
}

/// The Connect code a server stream ended with before any message.
async fn stream_error(envd: &Envd, method: &str, body: Value) -> String {
    let mut frames = envd.stream(method, body, &[]).await;
    let frame = frames
        .next_within(Duration::from_secs(10))
        .await
        .expect("end-of-stream frame");
    assert_ne!(
        frame.flags & 0x02,
        0,
        "expected an error, got {}",
        frame.json
    );
    connect_error(&frame.json).0
}

fn last_applied(body: &Value) -> u64 {
    body["lastAppliedSeq"]
        .as_str()
        .map_or(0, |s| s.parse().unwrap())
}

/// `exitCode` of an exit event (JSON leaves out a zero).
fn exit_code(exit: &Value) -> i64 {
    exit["exitCode"].as_i64().unwrap_or(0)
}

fn u64_field(v: &Value) -> u64 {
    v.as_str()
        .map(|s| s.parse().unwrap())
        .or_else(|| v.as_u64())
        .unwrap_or(0)
}

/// What a terminal stream carried, in order.
#[derive(Debug, Default)]
struct Seen {
    started: Option<Value>,
    /// Per stream name: the bytes, checked contiguous from the first offset.
    bytes: std::collections::BTreeMap<String, (u64, Vec<u8>)>,
    lost: Vec<Value>,
    exit: Option<Value>,
    outputs: usize,
}

impl Seen {
    fn take(&mut self, message: &Value) {
        let event = &message["event"];
        if let Some(started) = event.get("started") {
            assert!(self.started.is_none(), "two started events");
            self.started = Some(started.clone());
        } else if let Some(output) = event.get("output") {
            assert!(self.exit.is_none(), "output after exit");
            let stream = output["stream"].as_str().unwrap().to_owned();
            let offset = u64_field(&output["offset"]);
            let data = unb64(output["data"].as_str().unwrap_or(""));
            let entry = self.bytes.entry(stream).or_insert((offset, Vec::new()));
            assert_eq!(
                entry.0 + entry.1.len() as u64,
                offset,
                "output is contiguous"
            );
            entry.1.extend_from_slice(&data);
            self.outputs += 1;
        } else if let Some(lost) = event.get("lost") {
            self.lost.push(lost.clone());
        } else if let Some(exit) = event.get("exit") {
            assert!(self.exit.is_none(), "two exit events");
            self.exit = Some(exit.clone());
        } else {
            assert!(event.get("keepalive").is_some(), "unknown event {message}");
        }
    }

    fn pid(&self) -> u32 {
        u32::try_from(self.started.as_ref().unwrap()["pid"].as_u64().unwrap()).unwrap()
    }

    fn text(&self, stream: &str) -> String {
        self.bytes
            .get(stream)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }

    /// The offset the next byte of `stream` will have.
    fn next_offset(&self, stream: &str) -> u64 {
        self.bytes
            .get(stream)
            .map_or(0, |(start, b)| start + b.len() as u64)
    }
}

/// Reads a terminal stream into `seen` until `done` holds or it ends.
async fn read_until(frames: &mut Frames, seen: &mut Seen, done: impl Fn(&Seen) -> bool) {
    while !done(seen) {
        let frame = frames
            .next_within(Duration::from_secs(20))
            .await
            .expect("stream ended without end-of-stream frame");
        if frame.flags & 0x02 != 0 {
            assert!(
                frame.json.get("error").is_none(),
                "stream failed: {}",
                frame.json
            );
            return;
        }
        seen.take(&frame.json);
    }
}

async fn read_to_end(frames: &mut Frames, seen: &mut Seen) {
    read_until(frames, seen, |_| false).await;
}

#[tokio::test]
async fn create_types_in_order_and_ends_with_the_exit() {
    let envd = Envd::start();
    let mut frames = envd.stream(CREATE, echo_lines(), &[]).await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("ready")
    })
    .await;
    let started = seen.started.clone().unwrap();
    assert_eq!(started["pty"], true);
    assert_eq!(started["size"], json!({"cols": 80, "rows": 24}));
    let pid = seen.pid();
    let (status, body) = send(&envd, pid, 1, json!([input("one\n"), input("two\n")])).await;
    assert_eq!((status, last_applied(&body)), (200, 1), "{body}");
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("got:two")
    })
    .await;
    assert!(seen.text("STREAM_PTY").contains("got:one\r\ngot:two\r\n"));
    send(&envd, pid, 2, json!([input("exit\n")])).await;
    send(&envd, pid, 3, json!([{"signal": "SIGNAL_TERM"}])).await;
    read_to_end(&mut frames, &mut seen).await;
    let exit = seen.exit.unwrap();
    assert_eq!(exit.get("exited"), None, "false is left out: {exit}");
    assert_eq!(exit["status"], "signal: terminated");
}

#[tokio::test]
async fn the_login_shell_is_the_default_and_term_is_set() {
    let envd = Envd::start();
    let mut frames = envd
        .stream(CREATE, json!({"size": {"cols": 80, "rows": 24}}), &[])
        .await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| s.started.is_some()).await;
    let pid = seen.pid();
    let (_, list) = envd.unary(PTY_LIST, json!({})).await;
    let terminal = &list["terminals"][0];
    assert_eq!(terminal["pid"], pid);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let shell = passwd
        .lines()
        .find(|l| l.starts_with("root:"))
        .and_then(|l| l.rsplit(':').next())
        .unwrap();
    assert_eq!(terminal["command"], shell);
    assert_eq!(terminal["args"], json!(["-l"]));
    send(&envd, pid, 1, json!([input("echo \"T=$TERM\"; exit 4\n")])).await;
    read_to_end(&mut frames, &mut seen).await;
    assert!(seen.text("STREAM_PTY").contains("T=xterm-256color"));
    assert_eq!(seen.exit.unwrap()["exitCode"], 4);
}

#[tokio::test]
async fn batches_apply_in_sequence_order_once_each() {
    let envd = Envd::start();
    let mut frames = envd.stream(CREATE, echo_lines(), &[]).await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("ready")
    })
    .await;
    let pid = seen.pid();
    // Batch 3 and 2 arrive before 1: they wait, then run after it in order.
    let early3 = send(&envd, pid, 3, json!([input("c\n")]));
    let early2 = send(&envd, pid, 2, json!([input("b\n")]));
    let first = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        send(&envd, pid, 1, json!([input("a\n")])).await
    };
    let (r3, r2, r1) = tokio::join!(early3, early2, first);
    assert_eq!((r1.0, r2.0, r3.0), (200, 200, 200));
    assert_eq!(last_applied(&r3.1), 3);
    // Retries of applied batches are answered, not applied again.
    let (status, body) = send(&envd, pid, 2, json!([input("b\n")])).await;
    assert_eq!((status, last_applied(&body)), (200, 3));
    send(&envd, pid, 4, json!([input("d\n")])).await;
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("got:d")
    })
    .await;
    assert_eq!(
        seen.text("STREAM_PTY"),
        "ready\r\ngot:a\r\ngot:b\r\ngot:c\r\ngot:d\r\n"
    );
    // Attach reports where the sequence stands.
    let mut attached = envd
        .stream(ATTACH, json!({"process": {"pid": pid}}), &[])
        .await;
    let mut again = Seen::default();
    read_until(&mut attached, &mut again, |s| s.started.is_some()).await;
    assert_eq!(u64_field(&again.started.unwrap()["lastAppliedSeq"]), 4);
}

#[tokio::test]
async fn a_batch_applies_every_operation_once_in_its_order() {
    let envd = Envd::start();
    let script = "stty -echo; trap 'echo usr1' USR1; echo ready; \
                  while read l; do [ \"$l\" = size ] && l=\"size $(stty size)\"; \
                  until echo \"$l\" 2>/dev/null; do :; done; done";
    let mut frames = envd
        .stream(CREATE, create("/bin/bash", &["-c", script]), &[])
        .await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("ready")
    })
    .await;
    let pid = seen.pid();
    // bash's builtin echo fails with EINTR when the trapped USR1 lands
    // mid-write (nothing written), so the program retries it.
    // The program reads its input later than envd writes it, so only the
    // order among resizes (the last one wins) and exactly-once are
    // observable here; ordering between batches is tested above.
    let ops = json!([
        input("a\n"),
        {"resize": {"cols": 100, "rows": 30}},
        input("b\n"),
        {"signal": "SIGNAL_USR1"},
        {"resize": {"cols": 120, "rows": 40}},
        input("c\n"),
    ]);
    let (status, body) = send(&envd, pid, 1, ops).await;
    assert_eq!(status, 200, "{body}");
    send(&envd, pid, 2, json!([input("size\n")])).await;
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("size 40 120")
    })
    .await;
    let text = seen.text("STREAM_PTY");
    for line in ["a\r\n", "b\r\n", "c\r\n", "usr1\r\n"] {
        assert_eq!(text.matches(line).count(), 1, "{line:?} once in {text:?}");
    }
    let (a, b, c) = (text.find("a\r\n"), text.find("b\r\n"), text.find("c\r\n"));
    assert!(a < b && b < c, "{text:?}");
}

#[tokio::test]
async fn a_gap_fails_with_aborted_naming_the_missing_batch() {
    let envd = Envd::start_with(&["--pty-send-wait", "300ms"]);
    let mut frames = envd.stream(CREATE, echo_lines(), &[]).await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| s.started.is_some()).await;
    let pid = seen.pid();
    send(&envd, pid, 1, json!([input("x\n")])).await;
    let (status, body) = send(&envd, pid, 3, json!([input("z\n")])).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(connect_error(&body).0, "aborted");
    assert!(
        body["message"].as_str().unwrap().contains("batch 2"),
        "{body}"
    );
    let (status, body) = send(&envd, pid, 0, json!([])).await;
    assert_eq!(
        (status, connect_error(&body).0.as_str()),
        (400, "out_of_range")
    );
    let (status, body) = send(&envd, pid, 2 + 256, json!([])).await;
    assert_eq!(connect_error(&body).0, "out_of_range", "{status} {body}");
    // A refused batch does not use up its number.
    let (status, body) = send(&envd, pid, 2, json!([{"resize": {"cols": 0, "rows": 1}}])).await;
    assert_eq!(
        connect_error(&body).0,
        "invalid_argument",
        "{status} {body}"
    );
    let (status, body) = send(&envd, pid, 2, json!([{"signal": "SIGNAL_UNSPECIFIED"}])).await;
    assert_eq!(
        connect_error(&body).0,
        "invalid_argument",
        "{status} {body}"
    );
    let (status, body) = send(&envd, pid, 2, json!([input("y\n")])).await;
    assert_eq!((status, last_applied(&body)), (200, 2), "{body}");
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("got:y")
    })
    .await;
    assert!(!seen.text("STREAM_PTY").contains("got:z"));
}

#[tokio::test]
async fn terminals_are_shared_with_process_service() {
    let envd = Envd::start();
    // Started through process.Process: listed and attachable here.
    let mut legacy = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", "echo legacy; sleep 30"]},
                   "pty": {"size": {"cols": 90, "rows": 20}}, "tag": "old"}),
            &[],
        )
        .await;
    let legacy_pid = legacy.start_pid().await;
    legacy.until_output("pty", b"legacy").await;
    let mut pipe = envd
        .stream(
            START,
            json!({"process": {"cmd": "sleep", "args": ["30"]}}),
            &[],
        )
        .await;
    let pipe_pid = pipe.start_pid().await;
    // Started here: listed by process.Process.
    let mut frames = envd
        .stream(
            CREATE,
            json!({"size": {"cols": 80, "rows": 24}, "command": "sleep", "args": ["30"], "tag": "new"}),
            &[],
        )
        .await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| s.started.is_some()).await;
    assert_eq!(seen.started.as_ref().unwrap()["tag"], "new");
    let (_, processes) = envd.unary(LIST, json!({})).await;
    let pids: Vec<u64> = processes["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert!(pids.contains(&u64::from(seen.pid())), "{processes}");
    let (_, terminals) = envd.unary(PTY_LIST, json!({})).await;
    let listed: Vec<(u64, Value)> = terminals["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["pid"].as_u64().unwrap(), t["size"].clone()))
        .collect();
    let mut want = vec![
        (u64::from(legacy_pid), json!({"cols": 90, "rows": 20})),
        (u64::from(seen.pid()), json!({"cols": 80, "rows": 24})),
    ];
    want.sort_by_key(|w| w.0);
    assert_eq!(listed, want, "pipe process {pipe_pid} is not a terminal");
    let mut attached = envd
        .stream(ATTACH, json!({"process": {"tag": "old"}, "offset": 0}), &[])
        .await;
    let mut again = Seen::default();
    read_until(&mut attached, &mut again, |s| {
        s.text("STREAM_PTY").contains("legacy")
    })
    .await;
    assert_eq!(again.pid(), legacy_pid);
    assert_eq!(again.started.unwrap()["pty"], true);
}

/// The exact terminal output of `seq 1 n` (the terminal turns `\n` into `\r\n`).
fn seq_output(n: u32, newline: &str) -> String {
    (1..=n).map(|i| format!("{i}{newline}")).collect()
}

/// Reads a stream, dropping it at pseudo-random points and attaching again
/// from the next offset, until the exit; returns everything seen.
async fn read_with_reconnects(
    envd: &Envd,
    mut frames: Frames,
    seed: u64,
    streams: &[&str],
) -> Seen {
    let mut rng = seed;
    let mut seen = Seen::default();
    let mut reconnects = 0;
    loop {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let budget = 1 + (rng % 40) as usize;
        let before = seen.outputs;
        read_until(&mut frames, &mut seen, |s| {
            s.exit.is_some() || s.outputs >= before + budget
        })
        .await;
        if seen.exit.is_some() {
            break;
        }
        drop(frames);
        reconnects += 1;
        let mut request = json!({"process": {"pid": seen.pid()}});
        let first = streams[0];
        request["offset"] = json!(seen.next_offset(first).to_string());
        if let Some(err) = streams.get(1) {
            request["stderrOffset"] = json!(seen.next_offset(err).to_string());
        }
        frames = envd.stream(ATTACH, request, &[]).await;
        let head = frames.message().await;
        assert!(head["event"].get("started").is_some(), "{head}");
    }
    assert!(reconnects > 0, "the run was too short to reconnect");
    assert!(seen.lost.is_empty(), "{:?}", seen.lost);
    seen
}

#[tokio::test]
async fn reattaching_from_the_last_offset_loses_and_repeats_nothing() {
    let envd = Envd::start_with(&["--scrollback-bytes", "8388608"]);
    let frames = envd
        .stream(CREATE, create("seq", &["1", "200000"]), &[])
        .await;
    let seen = read_with_reconnects(&envd, frames, 0x9e37_79b9, &["STREAM_PTY"]).await;
    assert!(
        seen.text("STREAM_PTY") == seq_output(200_000, "\r\n"),
        "pty bytes differ"
    );
    assert_eq!(exit_code(&seen.exit.unwrap()), 0);

    let script = "seq 1 200000; seq 1 100000 >&2";
    let frames = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", script]}}),
            &[],
        )
        .await;
    // Pipe processes: the first attach comes after a Start stream was dropped.
    let mut frames = frames;
    let pid = frames.start_pid().await;
    drop(frames);
    let frames = envd
        .stream(
            ATTACH,
            json!({"process": {"pid": pid}, "offset": "0", "stderrOffset": "0"}),
            &[],
        )
        .await;
    let seen = read_with_reconnects(
        &envd,
        frames,
        0x1234_5678,
        &["STREAM_STDOUT", "STREAM_STDERR"],
    )
    .await;
    assert!(seen.text("STREAM_STDOUT") == seq_output(200_000, "\n"));
    assert!(seen.text("STREAM_STDERR") == seq_output(100_000, "\n"));
}

#[tokio::test]
async fn attach_to_an_exited_terminal_replays_then_exits_and_reports_loss() {
    let envd = Envd::start_with(&["--scrollback-bytes", "1000"]);
    let mut frames = envd
        .stream(CREATE, create("seq", &["1", "1000"]), &[])
        .await;
    let mut seen = Seen::default();
    read_to_end(&mut frames, &mut seen).await;
    let produced = seen.next_offset("STREAM_PTY");
    let full = seq_output(1000, "\r\n");
    assert_eq!(produced, full.len() as u64);
    let pid = seen.pid();
    let attach = |offset: Option<u64>| {
        let mut request = json!({"process": {"pid": pid}});
        if let Some(offset) = offset {
            request["offset"] = json!(offset.to_string());
        }
        envd.stream(ATTACH, request, &[])
    };
    // Whole ring: the last 1000 bytes, no loss event, then the exit.
    let mut replay = Seen::default();
    read_to_end(&mut attach(None).await, &mut replay).await;
    assert!(replay.lost.is_empty());
    assert_eq!(replay.bytes["STREAM_PTY"].0, produced - 1000);
    assert_eq!(replay.text("STREAM_PTY"), full[full.len() - 1000..]);
    assert_eq!(exit_code(&replay.exit.unwrap()), 0);
    // From a held offset: exactly from there.
    let mut replay = Seen::default();
    read_to_end(&mut attach(Some(produced - 10)).await, &mut replay).await;
    assert_eq!(replay.text("STREAM_PTY"), full[full.len() - 10..]);
    // From before the ring: the loss, then what is held.
    let mut replay = Seen::default();
    read_to_end(&mut attach(Some(5)).await, &mut replay).await;
    assert_eq!(
        replay.lost,
        vec![
            json!({"stream": "STREAM_PTY", "lostBytes": (produced - 1000 - 5).to_string(), "resumeOffset": (produced - 1000).to_string()})
        ]
    );
    assert_eq!(replay.bytes["STREAM_PTY"].0, produced - 1000);
    // Beyond what was produced.
    let beyond = json!({"process": {"pid": pid}, "offset": (produced + 1).to_string()});
    assert_eq!(stream_error(&envd, ATTACH, beyond).await, "out_of_range");
    let unknown = json!({"process": {"pid": 999_999_999u32}});
    assert_eq!(stream_error(&envd, ATTACH, unknown).await, "not_found");
}

#[tokio::test]
async fn close_hangs_up_then_kills_what_ignores_the_hangup() {
    let envd = Envd::start();
    let mut frames = envd
        .stream(
            CREATE,
            create("/bin/sh", &["-c", "echo ready; sleep 30"]),
            &[],
        )
        .await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("ready")
    })
    .await;
    let (status, _) = envd
        .unary(CLOSE, json!({"process": {"pid": seen.pid()}}))
        .await;
    assert_eq!(status, 200);
    read_to_end(&mut frames, &mut seen).await;
    assert_eq!(seen.exit.unwrap()["status"], "signal: hangup");

    let script = "trap '' HUP; echo ready; sleep 30";
    let mut frames = envd
        .stream(CREATE, create("/bin/sh", &["-c", script]), &[])
        .await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("ready")
    })
    .await;
    let (status, _) = envd
        .unary(
            CLOSE,
            json!({"process": {"pid": seen.pid()}, "graceMs": 300}),
        )
        .await;
    assert_eq!(status, 200);
    read_to_end(&mut frames, &mut seen).await;
    assert_eq!(seen.exit.as_ref().unwrap()["status"], "signal: killed");
    let (status, body) = envd
        .unary(
            CLOSE,
            json!({"process": {"pid": seen.pid()}, "graceMs": 60001}),
        )
        .await;
    assert_eq!(
        (status, connect_error(&body).0.as_str()),
        (400, "invalid_argument")
    );
}

#[tokio::test]
async fn flowing_terminal_output_is_coalesced_into_large_events() {
    let envd = Envd::start();
    let script = "stty raw -echo; head -c 4194304 /dev/zero | tr '\\0' x";
    let mut frames = envd
        .stream(CREATE, create("/bin/sh", &["-c", script]), &[])
        .await;
    let mut seen = Seen::default();
    read_to_end(&mut frames, &mut seen).await;
    assert_eq!(seen.next_offset("STREAM_PTY"), 4_194_304);
    // A terminal read returns at most a few KiB; one event per read would
    // be over a thousand events.
    assert!(
        seen.outputs < 512,
        "{} output events for 4 MiB",
        seen.outputs
    );
}

#[tokio::test]
async fn create_and_send_check_their_requests() {
    let envd = Envd::start();
    for (body, code) in [
        (json!({}), "invalid_argument"),
        (json!({"size": {"cols": 0, "rows": 24}}), "invalid_argument"),
        (
            json!({"size": {"cols": 80, "rows": 24}, "user": "no-such-user-here"}),
            "unauthenticated",
        ),
        (
            json!({"size": {"cols": 80, "rows": 24}, "cwd": "/no/such/dir"}),
            "invalid_argument",
        ),
    ] {
        assert_eq!(
            stream_error(&envd, CREATE, body.clone()).await,
            code,
            "{body}"
        );
    }
    let (_, reply) = send(&envd, 999_999_999, 1, json!([input("x")])).await;
    assert_eq!(connect_error(&reply).0, "not_found");
    let (_, reply) = envd.unary(SEND, json!({"seq": 1})).await;
    assert_eq!(connect_error(&reply).0, "invalid_argument");
}

#[tokio::test]
async fn a_batch_the_client_gave_up_on_still_runs_once() {
    let envd = Envd::start();
    // The program reads nothing for a second, so the batch's write blocks
    // on the full terminal input queue, then counts what arrives.
    let script = "stty raw -echo; echo ready; sleep 1; timeout --foreground 3 cat | wc -c";
    let mut frames = envd
        .stream(CREATE, create("/bin/sh", &["-c", script]), &[])
        .await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("ready")
    })
    .await;
    let pid = seen.pid();
    let bytes = vec![b'k'; 200_000];
    let body = json!({"process": {"pid": pid}, "seq": 1, "operations": [{"input": b64(&bytes)}]});
    let gave_up = envd
        .http
        .post(envd.url(&format!("/{SEND}")))
        .header("content-type", "application/json")
        .timeout(Duration::from_millis(200))
        .body(body.to_string())
        .send()
        .await;
    assert!(gave_up.is_err(), "the batch finished within 200 ms");
    // The retry waits for the batch still running and does not repeat it.
    let (status, reply) = envd.unary(SEND, body).await;
    assert_eq!((status, last_applied(&reply)), (200, 1), "{reply}");
    read_to_end(&mut frames, &mut seen).await;
    let text = seen.text("STREAM_PTY");
    assert!(
        text.contains("200000"),
        "{:?}",
        &text[text.len().saturating_sub(40)..]
    );
}

#[tokio::test]
async fn input_for_a_terminal_nobody_reads_fails_once_it_hangs_up() {
    let envd = Envd::start();
    let mut frames = envd
        .stream(
            CREATE,
            create("/bin/sh", &["-c", "stty raw -echo; echo ready; sleep 1"]),
            &[],
        )
        .await;
    let mut seen = Seen::default();
    read_until(&mut frames, &mut seen, |s| {
        s.text("STREAM_PTY").contains("ready")
    })
    .await;
    let pid = seen.pid();
    // More than the terminal's input queue holds: the write waits, then
    // the program exits without reading and the write must give up.
    let ops = json!([{"input": b64(&vec![b'k'; 200_000])}]);
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), send(&envd, pid, 1, ops))
        .await
        .expect("Send never returned after the terminal hung up");
    assert_ne!(status, 200, "{body}");
    read_to_end(&mut frames, &mut seen).await;
    assert!(seen.exit.is_some());
}

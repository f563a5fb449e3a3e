//! Property test of the PTY input queue against a real envd: random
//! interleavings of keystrokes and resizes (optionally ending in a kill),
//! all queued at once.
//!
//! Two observers: an h2c proxy records the RPCs the SDK sends (exact order
//! and batching), and the PTY runs a raw-mode program that echoes its input
//! and prints `<cols,rows>` on SIGWINCH (what the terminal really saw).
#![allow(
    clippy::unwrap_used,
    reason = "a test binary: a failed unwrap in a helper is a failed test"
)]

mod support;

use std::time::Duration;

use bytes::{Buf, Bytes};
use envd_proto::process as pb;
use envd_sdk::{Client, CommandEvent, PtyOptions, PtySession};
use futures::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use prost::Message;
use support::Envd;
use support::proxy::{Recorded, RecordingProxy};

/// Raw mode, echo every byte read, print `<cols,rows>` on SIGWINCH after
/// echoing whatever input is already readable.
const ECHO_PROGRAM: &str = r#"
import os, select, signal, struct, fcntl, termios, tty
tty.setraw(0)
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
signal.signal(signal.SIGWINCH, lambda *a: None)
os.write(1, b"READY\n")
while True:
    ready, _, _ = select.select([0, r], [], [])
    if 0 in ready:
        data = os.read(0, 4096)
        if not data:
            break
        os.write(1, data)
    if r in ready:
        os.read(r, 4096)
        rows, cols = struct.unpack("hhhh", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
        os.write(1, b"<%d,%d>" % (cols, rows))
"#;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Input(Vec<u8>),
    Resize(u16, u16),
    Kill,
}

fn steps() -> impl Strategy<Value = (Vec<Step>, bool)> {
    let step = prop_oneof![
        3 => "[a-z]{1,6}".prop_map(|s| Step::Input(s.into_bytes())),
        1 => (20_u16..200, 5_u16..60).prop_map(|(c, r)| Step::Resize(c, r)),
    ];
    (prop::collection::vec(step, 1..30), any::<bool>())
}

/// Makes every resize change the size (an unchanged size sends no SIGWINCH).
fn distinct_resizes(steps: &mut [Step]) {
    let mut current = (80, 24);
    for step in steps {
        if let Step::Resize(cols, rows) = step {
            if (*cols, *rows) == current {
                *cols += 1;
            }
            current = (*cols, *rows);
        }
    }
}

/// Consecutive inputs merged: what must reach envd, in this order.
fn normalize(steps: impl IntoIterator<Item = Step>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for step in steps {
        match (out.last_mut(), step) {
            (Some(Step::Input(prev)), Step::Input(more)) => prev.extend(more),
            (_, step) => out.push(step),
        }
    }
    out
}

/// Decodes the recorded unary RPCs that target `pid`.
fn wire_steps(recorded: &[Recorded], pid: u32) -> (Vec<Step>, usize) {
    fn frame(body: &Bytes) -> Bytes {
        let mut body = body.clone();
        assert_eq!(body.get_u8(), 0, "uncompressed gRPC frame");
        let len = body.get_u32() as usize;
        body.split_to(len)
    }
    let target = |s: Option<pb::ProcessSelector>| {
        s.and_then(|s| s.selector) == Some(pb::process_selector::Selector::Pid(pid))
    };
    let mut steps = Vec::new();
    let mut input_rpcs = 0;
    for rpc in recorded {
        let message = frame(&rpc.body);
        match rpc.path.as_str() {
            "/process.Process/SendInput" => {
                let request = pb::SendInputRequest::decode(message).unwrap();
                if !target(request.process) {
                    continue;
                }
                let Some(pb::process_input::Input::Pty(data)) = request.input.and_then(|i| i.input)
                else {
                    panic!("PTY input sent as stdin");
                };
                input_rpcs += 1;
                steps.push(Step::Input(data.to_vec()));
            }
            "/process.Process/Update" => {
                let request = pb::UpdateRequest::decode(message).unwrap();
                if !target(request.process) {
                    continue;
                }
                let size = request.pty.and_then(|p| p.size).unwrap();
                steps.push(Step::Resize(
                    u16::try_from(size.cols).unwrap(),
                    u16::try_from(size.rows).unwrap(),
                ));
            }
            "/process.Process/SendSignal" => {
                let request = pb::SendSignalRequest::decode(message).unwrap();
                if !target(request.process) {
                    continue;
                }
                assert_eq!(request.signal, pb::Signal::Sigkill as i32);
                steps.push(Step::Kill);
            }
            _ => {}
        }
    }
    (steps, input_rpcs)
}

/// Splits the program's output into echoed bytes and `(marker, echoed
/// bytes before it)`.
/// A `<cols,rows>` marker and how many bytes were echoed before it.
type Marker = ((u16, u16), usize);

fn parse_output(output: &[u8]) -> (Vec<u8>, Vec<Marker>) {
    let mut echoed = Vec::new();
    let mut markers = Vec::new();
    let mut rest = output;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'<' {
            let end = tail
                .iter()
                .position(|&b| b == b'>')
                .expect("complete marker");
            let text = std::str::from_utf8(&tail[..end]).unwrap();
            let (cols, rows) = text.split_once(',').unwrap();
            markers.push(((cols.parse().unwrap(), rows.parse().unwrap()), echoed.len()));
            rest = &tail[end + 1..];
        } else {
            echoed.push(byte);
            rest = tail;
        }
    }
    (echoed, markers)
}

async fn read_more(session: &mut PtySession, output: &mut Vec<u8>) -> Option<envd_sdk::ExitStatus> {
    match tokio::time::timeout(Duration::from_secs(10), session.events().next()).await {
        Ok(Some(Ok(CommandEvent::Pty(b)))) => {
            output.extend_from_slice(&b);
            None
        }
        Ok(Some(Ok(CommandEvent::Exit(exit)))) => Some(exit),
        other => panic!(
            "unexpected {other:?}; output so far {:?}",
            String::from_utf8_lossy(output)
        ),
    }
}

async fn check_case(
    client: &Client,
    proxy: &RecordingProxy,
    mut ops: Vec<Step>,
    kill: bool,
) -> Result<(usize, usize), TestCaseError> {
    distinct_resizes(&mut ops);
    let mut session = client
        .pty()
        .create(PtyOptions::new(80, 24).command("/usr/bin/python3", ["-c", ECHO_PROGRAM]))
        .await
        .unwrap();
    let pid = session.pid();
    let mut output = Vec::new();
    while !output.ends_with(b"READY\n") {
        prop_assert!(
            read_more(&mut session, &mut output).await.is_none(),
            "exited early"
        );
    }
    output.clear();
    proxy.clear();

    // Queue everything at once, then wait for every delivery.
    let mut deliveries = Vec::new();
    for step in &ops {
        deliveries.push(match step {
            Step::Input(data) => session.write(data.clone()),
            Step::Resize(cols, rows) => session.resize(*cols, *rows),
            Step::Kill => unreachable!("generated only at the end"),
        });
    }
    if kill {
        deliveries.push(session.kill());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }

    let all_input: Vec<u8> = ops
        .iter()
        .filter_map(|s| match s {
            Step::Input(d) => Some(d.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let resizes: Vec<(usize, (u16, u16))> = {
        let mut queued_before = 0;
        let mut out = Vec::new();
        for step in &ops {
            match step {
                Step::Input(d) => queued_before += d.len(),
                Step::Resize(c, r) => out.push((queued_before, (*c, *r))),
                Step::Kill => {}
            }
        }
        out
    };
    let writes = ops.iter().filter(|s| matches!(s, Step::Input(_))).count();

    // The wire: every op, in order, consecutive inputs merged, nothing
    // merged across a resize or kill.
    let mut expected = ops.clone();
    if kill {
        expected.push(Step::Kill);
    }
    let (sent, input_rpcs) = wire_steps(&proxy.recorded(), pid);
    prop_assert_eq!(normalize(sent.clone()), normalize(expected));
    prop_assert!(input_rpcs <= writes);
    if kill {
        prop_assert_eq!(sent.last(), Some(&Step::Kill));
    }

    // The terminal.
    if kill {
        let exit = loop {
            if let Some(exit) = read_more(&mut session, &mut output).await {
                break exit;
            }
        };
        prop_assert_eq!(exit.status.as_str(), "signal: killed");
        let (echoed, _) = parse_output(&output);
        prop_assert!(
            all_input.starts_with(&echoed),
            "echo is not a prefix of the input"
        );
    } else {
        let last_size = resizes.last().map(|(_, size)| *size);
        loop {
            let (echoed, markers) = parse_output(&output);
            let last_marker = markers.last().map(|(size, _)| *size);
            if echoed.len() >= all_input.len() && last_marker == last_size {
                break;
            }
            prop_assert!(
                read_more(&mut session, &mut output).await.is_none(),
                "exited early"
            );
        }
        let (echoed, markers) = parse_output(&output);
        prop_assert_eq!(&echoed, &all_input, "every byte, in order");
        // Markers: a subsequence of the resizes (SIGWINCHes may coalesce),
        // each after all input queued before its resize.
        let mut next = 0;
        for (size, echoed_before) in markers {
            let found = resizes[next..].iter().position(|(_, s)| *s == size);
            let Some(offset) = found else {
                return Err(TestCaseError::fail(format!(
                    "marker {size:?} is not a later resize in {resizes:?}"
                )));
            };
            let (queued_before, _) = resizes[next + offset];
            prop_assert!(
                echoed_before >= queued_before,
                "resize {:?} overtook input: {} bytes echoed before it, {} queued",
                size,
                echoed_before,
                queued_before
            );
            next += offset + 1;
        }
        session.kill().await.unwrap();
        session.wait().await.unwrap();
    }
    Ok((writes, input_rpcs))
}

#[test]
fn pty_input_resize_kill_interleavings() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (envd, proxy) = runtime.block_on(async {
        let envd = Envd::start().await;
        let proxy = RecordingProxy::start(
            &envd.url,
            &[
                "/process.Process/SendInput",
                "/process.Process/Update",
                "/process.Process/SendSignal",
            ],
        )
        .await;
        (envd, proxy)
    });
    let client = Client::connect(proxy.url.clone()).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let totals = std::cell::Cell::new((0, 0));
    runner
        .run(&steps(), |(ops, kill)| {
            let (writes, rpcs) = runtime.block_on(check_case(&client, &proxy, ops, kill))?;
            let (w, r) = totals.get();
            totals.set((w + writes, r + rpcs));
            Ok(())
        })
        .unwrap();
    let (writes, rpcs) = totals.get();
    assert!(
        rpcs < writes,
        "no keystrokes were coalesced ({writes} writes, {rpcs} RPCs)"
    );
    drop(envd);
}

//! Randomized ordering properties of terminal input, end to end: a program
//! in the terminal logs every byte it reads, each window size on SIGWINCH
//! and each SIGUSR1/2. Session-level: random interleavings of write, resize
//! and signal. Wire-level: raw Send batches out of order, duplicated, and
//! dropped then retried. Every byte must arrive once and in order; resizes
//! and signals never overtake input sent before them; the last resize wins.
//! The seed is printed (and `ENVD_TEST_SEED` replays it).

#![allow(
    clippy::cast_possible_truncation,
    clippy::unwrap_used,
    reason = "small random test values (sizes, indices) always fit; a failed unwrap in a helper is a failed test"
)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use envd_sdk::{
    TerminalEvent, TerminalOp, TerminalOptions, TerminalSession, TerminalSignal, Terminals,
};
use support::rng::Rng;
use support::{Envd, Scratch};

const PROGRAM: &str = include_str!("support/winch.py");

/// One thing the program logged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Logged {
    /// A size or signal, with how many input bytes were logged before it.
    Mark(String, usize),
}

/// Splits the program's log into the input bytes and the marks.
fn parse_log(log: &[u8]) -> (Vec<u8>, Vec<Logged>) {
    let (mut data, mut marks) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < log.len() {
        if log[i] == b'<' {
            let end = i + log[i..]
                .iter()
                .position(|b| *b == b'>')
                .expect("closed mark");
            let mark = String::from_utf8_lossy(&log[i + 1..end]).into_owned();
            marks.push(Logged::Mark(mark, data.len()));
            i = end + 1;
        } else {
            data.push(log[i]);
            i += 1;
        }
    }
    (data, marks)
}

/// A terminal running the logging program, ready for input.
async fn start_program(
    terminals: &Terminals,
    scratch: &Scratch,
    name: &str,
) -> (TerminalSession, String) {
    let script = scratch.path("winch.py");
    std::fs::write(&script, PROGRAM).unwrap();
    let log = scratch.path(name);
    let options = TerminalOptions::new(80, 24).command("/usr/bin/python3", [script, log.clone()]);
    let mut session = terminals.create(options).await.unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !String::from_utf8_lossy(&seen).contains("ready") {
            if let Some(Ok(TerminalEvent::Output { data, .. })) = session.next_output().await {
                seen.extend_from_slice(&data);
            }
        }
    })
    .await
    .expect("the program starts");
    (session, log)
}

/// A random word of lowercase letters and digits (never '.', '<' or '>').
fn word(rng: &mut Rng) -> Vec<u8> {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let len = 1 + rng.below(24) as usize;
    (0..len)
        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
        .collect()
}

/// A random op; resizes always change the size (else no SIGWINCH).
fn random_op(rng: &mut Rng, size: &mut (u16, u16)) -> TerminalOp {
    match rng.below(10) {
        0 | 1 => loop {
            let next = (20 + rng.below(180) as u16, 5 + rng.below(55) as u16);
            if next != *size {
                *size = next;
                return TerminalOp::Resize {
                    cols: next.0,
                    rows: next.1,
                };
            }
        },
        2 => TerminalOp::Signal(if rng.below(2) == 0 {
            TerminalSignal::Usr1
        } else {
            TerminalSignal::Usr2
        }),
        _ => TerminalOp::Input(Bytes::from(word(rng))),
    }
}

fn mark_of(op: &TerminalOp) -> Option<String> {
    match op {
        TerminalOp::Resize { cols, rows } => Some(format!("W{cols} {rows}")),
        TerminalOp::Signal(TerminalSignal::Usr1) => Some("USR1".into()),
        TerminalOp::Signal(TerminalSignal::Usr2) => Some("USR2".into()),
        _ => None,
    }
}

/// Checks the log against `ops` as applied in this order: the input
/// exactly; no mark before the input sent before it; no signal delivered
/// more often than sent (standard signals may coalesce); the final size is
/// the last resize.
fn check(seed: u64, ops: &[TerminalOp], log: &[u8]) {
    let (data, marks) = parse_log(log);
    let mut expected = Vec::new();
    let mut sent = Vec::new(); // (mark, input bytes before it)
    for op in ops {
        match op {
            TerminalOp::Input(bytes) => expected.extend_from_slice(bytes),
            other => sent.extend(mark_of(other).map(|m| (m, expected.len()))),
        }
    }
    assert!(
        data == expected,
        "seed {seed}: input differs\n got  {:?}\n want {:?}",
        String::from_utf8_lossy(&data),
        String::from_utf8_lossy(&expected)
    );
    // Marks are logged once input went quiet, so only their lower bound
    // is observable; a signal delivered twice (a batch applied twice)
    // shows as more marks than were sent.
    for Logged::Mark(mark, at) in &marks {
        let first = sent.iter().find(|(m, _)| m == mark);
        let Some((_, before)) = first else {
            panic!("seed {seed}: {mark} logged but never sent; sent {sent:?}, logged {marks:?}");
        };
        assert!(
            at >= before,
            "seed {seed}: {mark} overtook input: at {at}, sent after {before}"
        );
    }
    for signal in ["USR1", "USR2"] {
        let count = |list: &mut dyn Iterator<Item = &String>| list.filter(|m| *m == signal).count();
        let sent_n = count(&mut sent.iter().map(|(m, _)| m));
        let logged_n = count(&mut marks.iter().map(|Logged::Mark(m, _)| m));
        assert!(
            logged_n <= sent_n && (sent_n == 0) == (logged_n == 0),
            "seed {seed}: {signal} sent {sent_n} times, delivered {logged_n}; logged {marks:?}"
        );
    }
    let last_size = sent.iter().rev().find(|(m, _)| m.starts_with('W'));
    let last_logged = marks
        .iter()
        .rev()
        .find(|Logged::Mark(m, _)| m.starts_with('W'));
    assert_eq!(
        last_size.map(|(m, _)| m),
        last_logged.map(|Logged::Mark(m, _)| m),
        "seed {seed}: the final size is the last resize sent"
    );
}

async fn finish(mut session: TerminalSession, log: &str) -> Vec<u8> {
    session.write(".").await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), session.wait())
        .await
        .unwrap_or_else(|_| {
            let log = std::fs::read(log).unwrap_or_default();
            panic!("no exit; log {:?}", String::from_utf8_lossy(&log))
        })
        .unwrap();
    assert_eq!(exit.exit_code, 0, "{exit:?}");
    std::fs::read(log).unwrap()
}

#[tokio::test]
async fn random_interleavings_through_a_session_arrive_in_order() {
    let mut rng = Rng::from_env();
    let seed = rng.seed();
    let envd = Envd::start().await;
    let terminals = envd.client().terminals();
    let scratch = Scratch::new();
    for case in 0..4 {
        let (session, log) = start_program(&terminals, &scratch, &format!("log{case}")).await;
        let mut size = (80, 24);
        let ops: Vec<TerminalOp> = (0..40 + rng.below(40))
            .map(|_| random_op(&mut rng, &mut size))
            .collect();
        let mut applied = Vec::new();
        for op in &ops {
            applied.push(match op {
                TerminalOp::Input(bytes) => session.write(bytes.clone()),
                TerminalOp::Resize { cols, rows } => session.resize(*cols, *rows),
                TerminalOp::Signal(signal) => session.signal(*signal),
            });
            if rng.below(4) == 0 {
                tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
            }
        }
        for result in futures::future::join_all(applied).await {
            result.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
        let logged = finish(session, &log).await;
        check(seed, &ops, &logged);
    }
}

#[tokio::test]
async fn raw_batches_out_of_order_duplicated_and_retried_apply_once_in_seq_order() {
    let mut rng = Rng::from_env();
    let seed = rng.seed();
    let envd = Envd::start().await;
    let terminals = envd.client().terminals();
    let scratch = Scratch::new();
    for case in 0..3 {
        let (session, log) = start_program(&terminals, &scratch, &format!("raw{case}")).await;
        let pid = session.pid();
        let mut size = (80, 24);
        let batches: Vec<Vec<TerminalOp>> = (0..12)
            .map(|_| {
                (0..1 + rng.below(4))
                    .map(|_| random_op(&mut rng, &mut size))
                    .collect()
            })
            .collect();
        // Every seq once, some twice, in a random order; some first sent
        // with a deadline so short the call is dropped mid-flight.
        let mut sends: Vec<(u64, bool)> = (1..=batches.len() as u64)
            .map(|s| (s, rng.below(4) == 0))
            .collect();
        for seq in 1..=batches.len() as u64 {
            if rng.below(3) == 0 {
                sends.push((seq, false));
            }
        }
        rng.shuffle(&mut sends);
        let calls = sends.into_iter().map(|(seq, drop_first)| {
            let terminals = terminals.clone();
            let ops = batches[(seq - 1) as usize].clone();
            async move {
                if drop_first {
                    let call = terminals.send_batch(pid, seq, ops.clone());
                    let _ = tokio::time::timeout(Duration::from_micros(200), call).await;
                }
                terminals
                    .send_batch(pid, seq, ops)
                    .await
                    .map(|last| (seq, last))
            }
        });
        for result in futures::future::join_all(calls).await {
            let (seq, last) = result.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(last >= seq, "seed {seed}: batch {seq} answered {last}");
        }
        // The session's own queue continues after the raw batches.
        let attached = terminals.attach(pid, None).await.unwrap();
        assert_eq!(attached.started().last_applied_seq, batches.len() as u64);
        drop(session);
        let logged = finish(attached, &log).await;
        check(seed, &batches.concat(), &logged);
    }
}

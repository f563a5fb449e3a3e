//! Terminal sessions against a real envd: create, write, resize, exit code,
//! attach continuing the batch sequence, and output that stays exact while
//! the stream is dropped at random points (PTY and pipes).

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a helper is a failed test"
)]

mod support;

use std::time::Duration;

use envd_sdk::{
    Command, OutputStream, TerminalEvent, TerminalOptions, TerminalSession, TerminalSignal,
};
use support::Envd;
use support::rng::Rng;

/// Reads output until it contains `needle`.
async fn read_until(session: &mut TerminalSession, seen: &mut Vec<u8>, needle: &str) {
    read_until_n(session, seen, needle, 1).await;
}

/// Reads output until it contains `needle` `n` times.
async fn read_until_n(session: &mut TerminalSession, seen: &mut Vec<u8>, needle: &str, n: usize) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while String::from_utf8_lossy(seen).matches(needle).count() < n {
            match session.next_output().await {
                Some(Ok(TerminalEvent::Output { data, .. })) => seen.extend_from_slice(&data),
                other => panic!("unexpected {other:?} while waiting for {needle:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", String::from_utf8_lossy(seen)));
}

#[tokio::test]
async fn create_write_resize_and_exit_code() {
    let envd = Envd::start().await;
    let terminals = envd.client().terminals();
    let options = TerminalOptions::new(80, 24).command("/bin/sh", Vec::<String>::new());
    let mut session = terminals.create(options).await.unwrap();
    let mut seen = Vec::new();
    session
        .write("stty size; echo \"T=$TERM\"\n")
        .await
        .unwrap();
    read_until(&mut session, &mut seen, "24 80").await;
    read_until(&mut session, &mut seen, "T=xterm-256color").await;
    session.resize(132, 43).await.unwrap();
    session.write("stty size\n").await.unwrap();
    read_until(&mut session, &mut seen, "43 132").await;
    let listed = terminals.list().await.unwrap();
    let me = listed
        .iter()
        .find(|t| t.pid == session.pid())
        .expect("listed");
    assert_eq!(me.size, Some((132, 43)));
    assert_eq!(me.last_applied_seq, 3);
    session.write("exit 7\n").await.unwrap();
    let exit = session.wait().await.unwrap();
    assert_eq!((exit.exit_code, exit.exited), (7, true));
    assert_eq!(session.offset(), me.output_offset.max(session.offset()));
}

#[tokio::test]
async fn an_attached_session_continues_the_batch_sequence_and_close_hangs_up() {
    let envd = Envd::start().await;
    let terminals = envd.client().terminals();
    let options = TerminalOptions::new(80, 24)
        .command("/bin/cat", Vec::<String>::new())
        .tag("cat-term");
    let mut first = terminals.create(options).await.unwrap();
    let mut seen = Vec::new();
    first.write("one\n").await.unwrap();
    first.write("two\n").await.unwrap();
    read_until(&mut first, &mut seen, "two").await;
    let mut second = terminals.attach("cat-term", Some(0)).await.unwrap();
    assert_eq!(second.started().last_applied_seq, 2);
    second.write("three\n").await.unwrap();
    let mut replayed = Vec::new();
    // Echo and cat's copy of each line, replayed from offset 0 then live.
    read_until_n(&mut second, &mut replayed, "three\r\n", 2).await;
    let replayed = String::from_utf8_lossy(&replayed);
    assert!(replayed.starts_with("one\r\n"), "{replayed}");
    assert_eq!(
        (
            replayed.matches("one\r\n").count(),
            replayed.matches("two\r\n").count()
        ),
        (2, 2)
    );
    second
        .close(Some(Duration::from_millis(500)))
        .await
        .unwrap();
    let exit = second.wait().await.unwrap();
    assert!(!exit.exited, "{exit:?}");
    assert_eq!(exit.status, "signal: hangup");
}

#[tokio::test]
async fn an_invalid_resize_fails_only_itself() {
    let envd = Envd::start().await;
    let options = TerminalOptions::new(80, 24).command("/bin/cat", Vec::<String>::new());
    let mut session = envd.client().terminals().create(options).await.unwrap();
    let error = session.resize(0, 10).await.unwrap_err();
    assert_eq!(error.code(), envd_sdk::Code::InvalidArgument);
    session.write("still-here\n").await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut session, &mut seen, "still-here\r\nstill-here").await;
    session.signal(TerminalSignal::Kill).await.unwrap();
    assert_eq!(session.wait().await.unwrap().status, "signal: killed");
}

/// Drains `session`, calling `reconnect` at random points, and returns the
/// bytes of each stream in order.
async fn drain_with_drops(mut session: TerminalSession, rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut drops = 0;
    loop {
        if drops == 0 || rng.below(6) == 0 {
            session.reconnect();
            drops += 1;
        }
        let event = tokio::time::timeout(Duration::from_secs(60), session.next_output())
            .await
            .expect("output within 60s");
        match event.expect("an event before the end").expect("no error") {
            TerminalEvent::Output { stream, data, .. } => match stream {
                OutputStream::Stderr => err.extend_from_slice(&data),
                _ => out.extend_from_slice(&data),
            },
            TerminalEvent::Exit(exit) => {
                assert!(exit.exited, "{exit:?}");
                assert!(drops > 0, "the test never dropped the stream");
                return (out, err);
            }
            lost => panic!("nothing may be lost within the scrollback: {lost:?}"),
        }
    }
}

fn seq_text(from: u32, to: u32, newline: &str) -> String {
    (from..=to).map(|i| format!("{i}{newline}")).collect()
}

#[tokio::test]
async fn output_is_exact_when_the_stream_drops_at_random_points_pty() {
    let mut rng = Rng::from_env();
    let seed = rng.seed();
    let envd = Envd::start_with(&["--scrollback-bytes", "8388608"]).await;
    let options = TerminalOptions::new(80, 24).command("/bin/sh", ["-c", "seq 1 200000"]);
    let session = envd.client().terminals().create(options).await.unwrap();
    let (out, _) = drain_with_drops(session, &mut rng).await;
    let expected = seq_text(1, 200_000, "\r\n");
    let at = out
        .iter()
        .zip(expected.as_bytes())
        .position(|(a, b)| a != b);
    assert!(
        String::from_utf8_lossy(&out) == expected,
        "seed {seed}: {} bytes received, {} expected; first difference at {at:?}: {:?}",
        out.len(),
        expected.len(),
        at.map(|i| String::from_utf8_lossy(&out[i.saturating_sub(20)..(i + 20).min(out.len())]))
    );
}

#[tokio::test]
async fn output_is_exact_when_the_stream_drops_at_random_points_pipes() {
    let mut rng = Rng::from_env();
    let seed = rng.seed();
    // The program may finish before the session attaches: keep it all.
    let envd = Envd::start_with(&["--scrollback-bytes", "8388608"]).await;
    let client = envd.client();
    let script = "seq 1 200000; seq 1 50000 >&2";
    let handle = client
        .commands()
        .spawn(Command::new("/bin/sh").args(["-c", script]).tag("pipes"))
        .await
        .unwrap();
    let session = client.terminals().attach("pipes", Some(0)).await.unwrap();
    assert!(!session.started().pty);
    drop(handle);
    let (out, err) = drain_with_drops(session, &mut rng).await;
    assert!(
        out == seq_text(1, 200_000, "\n").into_bytes(),
        "seed {seed}: stdout differs ({} bytes)",
        out.len()
    );
    assert!(
        err == seq_text(1, 50_000, "\n").into_bytes(),
        "seed {seed}: stderr differs ({} bytes)",
        err.len()
    );
}

//! Output integrity under load: 50 MB of random bytes arrive exactly; a
//! slow reader still gets every byte (the process is slowed, nothing is
//! dropped); large stdout and stderr at once both arrive intact.

use std::time::{Duration, Instant};

use crate::support::Envd;
use crate::support::process::START;
use envd_proto::process as pb;
use prost::Message;
use serde_json::json;

const BIG: usize = 50 * 1024 * 1024;

fn sh(script: &str) -> pb::StartRequest {
    pb::StartRequest {
        process: Some(pb::ProcessConfig {
            cmd: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            ..Default::default()
        }),
        stdin: Some(false),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_of_random_output_arrive_exactly() {
    let envd = Envd::start();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    let script = format!("head -c {BIG} /dev/urandom | tee {}", copy.display());
    let began = Instant::now();
    // The binary codec keeps the test client's decoding cheap.
    let mut frames = envd
        .stream_proto(START, &sh(&script).encode_to_vec(), &[])
        .await;
    let mut stdout = Vec::with_capacity(BIG);
    let mut events = 0;
    let mut end = None;
    let trailer = loop {
        let (flags, payload) = tokio::time::timeout(Duration::from_secs(60), frames.next_raw())
            .await
            .expect("frame in time")
            .expect("end-of-stream frame");
        if flags & 0x02 != 0 {
            break payload;
        }
        let event = pb::StartResponse::decode(payload)
            .unwrap()
            .event
            .unwrap()
            .event
            .unwrap();
        events += 1;
        match event {
            pb::process_event::Event::Data(d) => match d.output.unwrap() {
                pb::process_event::data_event::Output::Stdout(b) => {
                    assert!(b.len() <= 32 * 1024, "stdout chunks are at most 32 KiB");
                    stdout.extend_from_slice(&b);
                }
                other => panic!("unexpected output {other:?}"),
            },
            pb::process_event::Event::End(e) => end = Some(e),
            pb::process_event::Event::Start(_) | pb::process_event::Event::Keepalive(_) => {}
        }
    };
    eprintln!("50 MB in {events} events took {:?}", began.elapsed());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&trailer).unwrap(),
        json!({})
    );
    assert_eq!(end.expect("end event").exit_code, 0);
    let expected = std::fs::read(&copy).unwrap();
    assert_eq!(expected.len(), BIG);
    assert!(
        stdout == expected,
        "received bytes differ from what the process wrote"
    );
}

#[tokio::test]
async fn slow_reader_still_gets_every_byte() {
    let envd = Envd::start();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    let size = 4 * 1024 * 1024;
    let script = format!("head -c {size} /dev/urandom | tee {}", copy.display());
    let mut frames = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", script]}, "stdin": false}),
            &[],
        )
        .await;
    let mut messages = Vec::new();
    loop {
        let frame = frames
            .next_within(Duration::from_secs(30))
            .await
            .expect("frame");
        if frame.flags & 0x02 != 0 {
            assert_eq!(frame.json, json!({}));
            break;
        }
        messages.push(frame.json);
        // A reader far slower than the writer (throttling, not
        // synchronisation): ~25 ms per event.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let stdout = crate::support::process::output(&messages, "stdout");
    assert_eq!(stdout.len(), size);
    assert!(stdout == std::fs::read(&copy).unwrap(), "bytes differ");
    let end = messages.last().unwrap();
    assert_eq!(end["event"]["end"]["status"], "exit status 0");
}

#[tokio::test]
async fn large_stdout_and_stderr_together_both_arrive_intact() {
    let envd = Envd::start();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(
        &a,
        (0..3_000_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(
        &b,
        (0..2_000_000u32)
            .map(|i| (i % 241) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let script = format!("cat {} & cat {} >&2; wait", a.display(), b.display());
    let run = envd
        .run(json!({"process": {"cmd": "/bin/sh", "args": ["-c", script]}, "stdin": false}))
        .await;
    run.assert_complete();
    assert!(run.output("stdout") == std::fs::read(&a).unwrap());
    assert!(run.output("stderr") == std::fs::read(&b).unwrap());
}

//! PTY keystroke echo: a terminal in raw mode running `cat`, one byte sent
//! with `SendInput`, timed until `cat` echoes it on the `Start` stream. This
//! is the delay a user feels per key in a web terminal.

use std::time::{Duration, Instant};

use bytes::Bytes;
use envd_proto::process::process_event::{DataEvent, Event, data_event::Output};

use crate::Bench;
use crate::report::{Report, Row};
use crate::rpc::{self, Events};
use crate::wire::{Codec, Proto, Result};

const WARMUP: usize = 5;
/// How long one echo may take before the figure fails.
const STEP: Duration = Duration::from_secs(10);

pub(crate) async fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    // HTTP/1.1 as the e2b SDKs use it (input on a second connection);
    // binary on one h2c connection as a multiplexing client would.
    for (proto, codec) in [(Proto::Http1, Codec::Json), (Proto::H2c, Codec::Binary)] {
        let mut stream_conn = bench.target.connect(proto).await?;
        let mut input_conn = match stream_conn.share() {
            Some(shared) => shared,
            None => bench.target.connect(proto).await?,
        };
        let request = rpc::pty_command("stty raw -echo && printf READY && exec cat");
        let mut events = Events::start(&mut stream_conn, &bench.target, codec, &request).await?;
        let pid = events.pid().await?;
        let result: Result<Vec<Duration>> = async {
            let mut seen = Vec::new();
            while !seen.ends_with(b"READY") {
                seen.extend_from_slice(&tokio::time::timeout(STEP, output(&mut events)).await??);
            }
            let mut samples = Vec::with_capacity(bench.keystrokes);
            for i in 0..WARMUP + bench.keystrokes {
                let key = b"abcdefghijklmnopqrstuvwxyz"[i % 26];
                let began = Instant::now();
                let send = rpc::send_pty(
                    &mut input_conn,
                    &bench.target,
                    codec,
                    pid,
                    Bytes::copy_from_slice(&[key]),
                );
                let (sent, echoed) =
                    tokio::time::timeout(STEP, async { tokio::join!(send, output(&mut events)) })
                        .await?;
                let took = began.elapsed();
                sent?;
                let echoed = echoed?;
                if echoed.as_ref() != [key] {
                    return Err(format!(
                        "sent {:?}, echoed {:?}",
                        key as char,
                        String::from_utf8_lossy(&echoed)
                    )
                    .into());
                }
                if i >= WARMUP {
                    samples.push(took);
                }
            }
            Ok(samples)
        }
        .await;
        // Clean up whatever happened above.
        rpc::kill(&mut input_conn, &bench.target, codec, pid).await?;
        let ended = tokio::time::timeout(STEP, events.finish(|_| Ok(()))).await??;
        let mut samples = result?;
        if ended.end.exited {
            return Err(format!("the PTY process exited by itself: {:?}", ended.end).into());
        }
        report.push(
            Row::new("pty", format!("keystroke echo (raw cat), {proto} {codec}"))
                .latency(&mut samples)
                .with("keys", "keys", "", Some(bench.keystrokes as f64)),
        );
    }
    Ok(())
}

/// The next chunk of terminal output.
async fn output(events: &mut Events) -> Result<Bytes> {
    match events.next().await? {
        Some(Event::Data(DataEvent {
            output: Some(Output::Pty(bytes)),
        })) => Ok(bytes),
        other => Err(format!("expected PTY output, got {other:?}").into()),
    }
}

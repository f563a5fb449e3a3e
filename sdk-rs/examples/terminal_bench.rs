//! Terminal sessions through the SDK (`envd.pty.v1`): keystroke echo
//! latency and PTY output throughput. Prints numbers; not a test.
//!
//! ```text
//! cargo run --release -p envd-sdk --example terminal_bench -- http://127.0.0.1:49983 [SAMPLES] [MIB]
//! ```
//!
//! 1. Echo: one byte typed into `stty raw -echo; exec cat`, timed until the
//!    same byte comes back through the session (p50/p90/p99).
//! 2. Throughput: `cat` of a MIB MiB file in raw mode (nothing translated),
//!    from Create to Exit, in MB/s (10^6 bytes/s). The file is written to
//!    /tmp on this machine, so envd must run here too.

use std::io::Write;
use std::time::{Duration, Instant};

use envd_sdk::{Client, TerminalEvent, TerminalOptions};

const WARMUP: usize = 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:49983".to_owned());
    let samples: usize = args.next().map_or(Ok(2000), |s| s.parse())?;
    let mib: usize = args.next().map_or(Ok(100), |s| s.parse())?;
    let client = Client::connect(url)?;

    let mut latencies = echo(&client, samples).await?;
    latencies.sort();
    // Nearest rank: the sample below which `percent` % of them lie.
    let at = |percent: usize| {
        let i = (latencies.len() - 1) * percent / 100;
        latencies[i].as_secs_f64() * 1e3
    };
    println!(
        "sdk-rs keystroke echo ({samples} keys): p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms",
        at(50),
        at(90),
        at(99)
    );

    let (bytes, took) = throughput(&client, mib).await?;
    println!(
        "sdk-rs PTY output, cat of {mib} MiB: {:.1} MB/s ({bytes} bytes in {:.3} s)",
        bytes as f64 / took.as_secs_f64() / 1e6,
        took.as_secs_f64()
    );
    Ok(())
}

async fn echo(
    client: &Client,
    samples: usize,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let options = TerminalOptions::new(80, 24).command(
        "/bin/sh",
        ["-c", "stty raw -echo && printf READY && exec cat"],
    );
    let mut session = client.terminals().create(options).await?;
    let mut seen = Vec::new();
    while !seen.ends_with(b"READY") {
        if let Some(TerminalEvent::Output { data, .. }) = session.next_output().await.transpose()? {
            seen.extend_from_slice(&data);
        }
    }
    let mut out = Vec::with_capacity(samples);
    for i in 0..WARMUP + samples {
        let key = b"abcdefghijklmnopqrstuvwxyz"[i % 26];
        let began = Instant::now();
        let applied = session.write(vec![key]);
        let mut echoed = Vec::new();
        while echoed.is_empty() {
            match session.next_output().await.transpose()? {
                Some(TerminalEvent::Output { data, .. }) => echoed.extend_from_slice(&data),
                Some(_) => {}
                None => return Err("the terminal ended early".into()),
            }
        }
        let took = began.elapsed();
        applied.await?;
        if echoed != [key] {
            return Err(format!("sent {key}, echoed {echoed:?}").into());
        }
        if i >= WARMUP {
            out.push(took);
        }
    }
    session.close(Some(Duration::from_millis(100))).await?;
    Ok(out)
}

async fn throughput(
    client: &Client,
    mib: usize,
) -> Result<(u64, Duration), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("envd-terminal-bench-{}", std::process::id()));
    {
        let mut file = std::fs::File::create(&path)?;
        let mut block = vec![0u8; 1 << 20];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..mib {
            for b in &mut block {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x.to_le_bytes()[0];
            }
            file.write_all(&block)?;
        }
    }
    let script = format!("stty raw -echo; cat {}", path.display());
    let began = Instant::now();
    let mut session = client
        .terminals()
        .create(TerminalOptions::new(80, 24).command("/bin/sh", ["-c", script.as_str()]))
        .await?;
    let mut bytes = 0u64;
    while let Some(event) = session.next_output().await.transpose()? {
        match event {
            TerminalEvent::Output { data, .. } => bytes += data.len() as u64,
            TerminalEvent::Exit(_) => break,
            _ => {}
        }
    }
    let took = began.elapsed();
    std::fs::remove_file(&path)?;
    Ok((bytes, took))
}

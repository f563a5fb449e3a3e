//! Idle streams: `--idle-streams` `Start` streams on `sleep 600`, spread
//! over h2c connections (100 streams each, below any server's stream
//! limit). What each open stream and sleeping process costs envd in memory,
//! and whether idling costs it CPU. Every process is then killed with
//! `SendSignal` and every stream must deliver its `end`.

use std::time::{Duration, Instant};

use crate::Bench;
use crate::local::{CpuMark, rss_kib};
use crate::report::{Report, Row};
use crate::rpc::{self, Events};
use crate::wire::{Codec, Conn, Proto, Result};

const STREAMS_PER_CONN: usize = 100;

pub(crate) async fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let n = bench.idle_streams;
    let codec = Codec::Binary;
    let mut conns = Vec::new();
    for _ in 0..n.div_ceil(STREAMS_PER_CONN) {
        conns.push(bench.target.connect(Proto::H2c).await?);
    }
    let before = bench.pid.and_then(rss_kib);
    let began = Instant::now();
    let opening: Vec<_> = (0..n)
        .map(|i| {
            let mut conn = conns[i / STREAMS_PER_CONN].share().ok_or("h2c")?;
            let target = bench.target.clone();
            Ok(tokio::spawn(async move {
                let request = rpc::command("sleep", &["600"]);
                let mut events = Events::start(&mut conn, &target, codec, &request).await?;
                let pid = events.pid().await?;
                Result::Ok((pid, events))
            }))
        })
        .collect::<Result<_>>()?;
    let mut opened = Vec::with_capacity(n);
    let mut first_error: Option<crate::wire::Error> = None;
    for task in opening {
        match task.await? {
            Ok(stream) => opened.push(stream),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    let open_time = began.elapsed();
    let idle = if first_error.is_none() {
        Some(measure_idle(bench).await)
    } else {
        None
    };
    let after = bench.pid.and_then(rss_kib);
    let cleanup = kill_and_drain(bench, &conns, opened, codec).await;
    if let Some(e) = first_error {
        return Err(format!("opening idle streams: {e}").into());
    }
    let ended = cleanup?;
    if ended != n {
        return Err(format!("{ended} of {n} idle streams ended").into());
    }
    // Signed: envd may hand memory back while the streams idle.
    let growth = before.zip(after).map(|(b, a)| a as f64 - b as f64);
    report.push(
        Row::new(
            "idle",
            format!("{n} Start streams on sleep 600, h2c {codec}"),
        )
        .with(
            "open_all_ms",
            "open all",
            "ms",
            Some(crate::report::ms(open_time)),
        )
        .with(
            "envd_rss_growth_mib",
            "envd RSS Δ",
            "MiB",
            growth.map(|g| g / 1024.0),
        )
        .with(
            "envd_kib_per_stream",
            "per stream",
            "KiB",
            growth.map(|g| g / n as f64),
        )
        .with("envd_idle_cpu_pct", "envd CPU idle", "%", idle.flatten()),
    );
    Ok(())
}

/// envd's CPU% over a few idle seconds.
async fn measure_idle(bench: &Bench) -> Option<f64> {
    let mark = CpuMark::now(bench.pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cpu, wall) = mark?.since()?;
    Some(cpu * 100.0 / wall.as_secs_f64())
}

/// SIGKILLs every process, then reads every stream to its `end`, which
/// must say the process was killed. Returns how many ended.
async fn kill_and_drain(
    bench: &Bench,
    conns: &[Conn],
    opened: Vec<(u32, Events)>,
    codec: Codec,
) -> Result<usize> {
    let kills: Vec<_> = opened
        .iter()
        .enumerate()
        .map(|(i, (pid, _))| {
            let mut conn = conns[i / STREAMS_PER_CONN].share().ok_or("h2c")?;
            let (target, pid) = (bench.target.clone(), *pid);
            Ok(tokio::spawn(async move {
                rpc::kill(&mut conn, &target, codec, pid).await
            }))
        })
        .collect::<Result<_>>()?;
    let mut first_error: Option<crate::wire::Error> = None;
    for kill in kills {
        if let Err(e) = kill.await? {
            first_error = first_error.or(Some(e));
        }
    }
    let drains: Vec<_> = opened
        .into_iter()
        .map(|(pid, mut events)| {
            tokio::spawn(async move {
                let ended =
                    tokio::time::timeout(Duration::from_secs(30), events.finish(|_| Ok(())))
                        .await
                        .map_err(|_| format!("no end event for pid {pid} within 30 s"))??;
                if ended.end.exited {
                    return Err(format!("pid {pid} exited by itself: {:?}", ended.end).into());
                }
                Result::Ok(())
            })
        })
        .collect();
    let mut ended = 0;
    for drain in drains {
        match drain.await? {
            Ok(()) => ended += 1,
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(ended),
    }
}

//! Throughput under load: `--clients` clients each running `/bin/true`
//! back to back for `--duration`, once with a connection per client over
//! HTTP/1.1 (how the e2b SDKs connect) and once with all of them
//! multiplexed on one h2c connection. envd's own CPU per command shows what
//! a command costs the agent, apart from the fork and exec it causes.

use std::time::{Duration, Instant};

use crate::Bench;
use crate::local::CpuMark;
use crate::report::{Report, Row};
use crate::rpc;
use crate::wire::{Codec, Conn, Proto, Result};

pub(crate) async fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    for proto in [Proto::Http1, Proto::H2c] {
        let codec = Codec::Json;
        let mut conns = Vec::with_capacity(bench.clients);
        let shared = match proto {
            Proto::Http1 => None,
            Proto::H2c => Some(bench.target.connect(proto).await?),
        };
        for _ in 0..bench.clients {
            conns.push(match &shared {
                Some(conn) => conn.share().ok_or("h2c connections are shared")?,
                None => bench.target.connect(proto).await?,
            });
        }
        let cpu = CpuMark::now(bench.pid);
        let began = Instant::now();
        let deadline = began + bench.duration;
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|conn| {
                let target = bench.target.clone();
                tokio::spawn(client(conn, target, codec, deadline))
            })
            .collect();
        let mut samples = Vec::new();
        for task in tasks {
            samples.extend(task.await??);
        }
        let elapsed = began.elapsed();
        let used = cpu.and_then(CpuMark::since);
        let commands = samples.len() as f64;
        let case = match proto {
            Proto::Http1 => format!(
                "{} clients × /bin/true, http1 conn each, {codec}",
                bench.clients
            ),
            Proto::H2c => format!(
                "{} clients × /bin/true, one h2c conn, {codec}",
                bench.clients
            ),
        };
        report.push(
            Row::new("concurrency", case)
                .with(
                    "commands_per_s",
                    "",
                    "cmd/s",
                    Some(commands / elapsed.as_secs_f64()),
                )
                .latency(&mut samples)
                .with(
                    "envd_cpu_us_per_cmd",
                    "envd CPU",
                    "µs/cmd",
                    used.filter(|_| commands > 0.0)
                        .map(|(cpu, _)| cpu * 1e6 / commands),
                )
                .with(
                    "envd_cpu_pct",
                    "envd CPU",
                    "%",
                    used.map(|(cpu, wall)| cpu * 100.0 / wall.as_secs_f64()),
                ),
        );
    }
    Ok(())
}

/// One client: `/bin/true` until `deadline`; the latency of each.
async fn client(
    mut conn: Conn,
    target: crate::wire::Target,
    codec: Codec,
    deadline: Instant,
) -> Result<Vec<Duration>> {
    let request = rpc::command("/bin/true", &[]);
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let began = Instant::now();
        let (ended, out) = rpc::run(&mut conn, &target, codec, &request, 0).await?;
        samples.push(began.elapsed());
        ended.expect_exit(0)?;
        if !out.is_empty() {
            return Err("/bin/true wrote to stdout".into());
        }
    }
    Ok(samples)
}

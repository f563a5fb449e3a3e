//! Exec round trip: `Start` sent → `end` received, one command at a time on
//! one reused connection, for each HTTP version and codec. This is the
//! latency a host agent or SDK pays per `commands.run`.

use std::time::Instant;

use crate::Bench;
use crate::report::{Report, Row};
use crate::rpc;
use crate::wire::{Codec, Proto, Result};

/// Untimed runs first, so connection setup and envd's first-use paths
/// stay out of the percentiles.
const WARMUP: usize = 3;

pub(crate) async fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let commands: [(&str, &str, &[&str]); 2] = [
        ("/bin/echo hi", "/bin/echo", &["hi"]),
        ("bash -l -c 'echo hi'", "bash", &["-l", "-c", "echo hi"]),
    ];
    for (label, cmd, args) in commands {
        let request = rpc::command(cmd, args);
        // A login shell reads the profile and costs tens of milliseconds:
        // a quarter of the runs keeps this figure to about a minute.
        let runs = if cmd == "bash" {
            (bench.runs / 4).max(5.min(bench.runs))
        } else {
            bench.runs
        };
        for proto in [Proto::Http1, Proto::H2c] {
            for codec in [Codec::Json, Codec::Binary] {
                let mut conn = bench.target.connect(proto).await?;
                let mut samples = Vec::with_capacity(runs);
                for i in 0..WARMUP + runs {
                    let began = Instant::now();
                    let (ended, out) =
                        rpc::run(&mut conn, &bench.target, codec, &request, 4096).await?;
                    let took = began.elapsed();
                    ended.expect_exit(0)?;
                    if out != b"hi\n" {
                        return Err(format!(
                            "{label}: stdout {:?}, expected \"hi\\n\"",
                            String::from_utf8_lossy(&out)
                        )
                        .into());
                    }
                    if i >= WARMUP {
                        samples.push(took);
                    }
                }
                report.push(
                    Row::new("exec", format!("{label} {proto} {codec}"))
                        .latency(&mut samples)
                        .with("runs", "runs", "", Some(runs as f64)),
                );
            }
        }
    }
    Ok(())
}

//! Stdout throughput: one process writes `--bytes` of the pattern and the
//! bench reads them off the `Start` stream, checking every byte and the
//! count. JSON pays base64 on both sides; binary shows the framing cost.

use std::time::Instant;

use crate::Bench;
use crate::local::{self, RssSampler};
use crate::pattern::{self, Checker};
use crate::report::{Report, Row, mb_per_s};
use crate::rpc::{self, Events};
use crate::wire::{Codec, Proto, Result};

pub(crate) async fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let request = rpc::command("/bin/sh", &["-c", &pattern::producer(bench.bytes)]);
    for proto in [Proto::Http1, Proto::H2c] {
        for codec in [Codec::Json, Codec::Binary] {
            let mut conn = bench.target.connect(proto).await?;
            let sampler = RssSampler::start(bench.pid);
            let began = Instant::now();
            let mut events = Events::start(&mut conn, &bench.target, codec, &request).await?;
            let mut checker = Checker::default();
            let ended = events.finish(|chunk| checker.check(chunk)).await?;
            let elapsed = began.elapsed();
            let peak = local::peak(sampler).await;
            ended.expect_exit(0)?;
            checker.expect_count(bench.bytes)?;
            report.push(
                Row::new(
                    "stdout",
                    format!("{} MiB pattern, {proto} {codec}", bench.bytes >> 20),
                )
                .with(
                    "mb_per_s",
                    "",
                    "MB/s",
                    Some(mb_per_s(checker.count(), elapsed)),
                )
                .rss_peak(peak),
            );
        }
    }
    Ok(())
}

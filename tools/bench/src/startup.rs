//! Startup and footprint: envd's idle resident memory (at the start of the
//! run and after every other figure, to show what the load left behind),
//! and with `--envd-bin` the cold start (exec → first answer from
//! `/health`) and the binary's size.

use std::time::Duration;

use http_body_util::BodyExt;

use crate::Bench;
use crate::envd::Launched;
use crate::local::{mib, rss_kib};
use crate::report::{Report, Row};
use crate::wire::{Proto, Result, full};

pub(crate) async fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    report.push(
        Row::new("startup", "envd idle RSS, before the figures").with(
            "envd_rss_mib",
            "RSS",
            "MiB",
            bench.pid.and_then(rss_kib).map(mib),
        ),
    );
    let size = bench
        .envd_bin
        .as_ref()
        .map(std::fs::metadata)
        .transpose()?
        .map(|m| m.len() as f64 / f64::from(1 << 20));
    let mut samples = Vec::with_capacity(bench.cold_starts);
    if let Some(bin) = &bench.envd_bin {
        for _ in 0..bench.cold_starts {
            let bin = bin.clone();
            let took: Duration = tokio::task::spawn_blocking(move || -> Result<Duration> {
                let (launched, took) = Launched::start(&bin)?;
                launched.stop();
                Ok(took)
            })
            .await??;
            samples.push(took);
        }
    }
    let cold = Row::new("startup", "cold start: exec → first /health answer");
    report.push(if samples.is_empty() {
        cold.with("p50_ms", "p50", "ms", None)
    } else {
        cold.latency(&mut samples)
            .with("starts", "starts", "", Some(samples.len() as f64))
    });
    report.push(Row::new("startup", "binary size").with("binary_mib", "", "MiB", size));
    Ok(())
}

/// Idle RSS again, after the figures (and their cleanup) ran and a
/// second passed for envd to hand back what it frees lazily.
pub(crate) async fn idle_after(bench: &Bench, report: &mut Report) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.push(
        Row::new("startup", "envd idle RSS, after the figures").with(
            "envd_rss_after_mib",
            "RSS",
            "MiB",
            bench.pid.and_then(rss_kib).map(mib),
        ),
    );
}

/// The version `/health` reports, or its status when it has no body.
pub(crate) async fn version(bench: &Bench) -> Result<String> {
    let mut conn = bench.target.connect(Proto::Http1).await?;
    let request = bench
        .target
        .request(http::Method::GET, "/health")
        .body(full(bytes::Bytes::new()))?;
    let response = conn.send(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let version = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["version"].as_str().map(str::to_owned));
    Ok(version.unwrap_or_else(|| format!("? (/health answered {status})")))
}

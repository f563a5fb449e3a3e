//! Figures as rows: one human table, or JSON for machines. A figure that
//! could not be measured here (no local envd) carries `None`, printed `n/a`
//! and `null`, never a made-up number.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::local::{RssPeak, mib};

/// One measured quantity.
#[derive(Debug, Clone)]
pub(crate) struct Metric {
    /// JSON key, unit included (`p50_ms`).
    key: &'static str,
    /// Table label (`p50`).
    label: &'static str,
    unit: &'static str,
    value: Option<f64>,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    figure: &'static str,
    case: String,
    metrics: Vec<Metric>,
}

impl Row {
    pub(crate) fn new(figure: &'static str, case: impl Into<String>) -> Self {
        Self {
            figure,
            case: case.into(),
            metrics: Vec::new(),
        }
    }

    /// Adds a metric; `None` means "not available here".
    pub(crate) fn with(
        mut self,
        key: &'static str,
        label: &'static str,
        unit: &'static str,
        value: Option<f64>,
    ) -> Self {
        self.metrics.push(Metric {
            key,
            label,
            unit,
            value,
        });
        self
    }

    /// Adds envd's peak RSS during a transfer, and how far above its RSS
    /// at the start that was (earlier figures may have raised the base).
    pub(crate) fn rss_peak(self, sampled: Option<RssPeak>) -> Self {
        self.with(
            "envd_peak_rss_mib",
            "envd peak RSS",
            "MiB",
            sampled.map(|s| mib(s.peak)),
        )
        .with(
            "envd_peak_rss_growth_mib",
            "Δ",
            "MiB",
            sampled.map(|s| mib(s.peak.saturating_sub(s.start))),
        )
    }

    /// Adds p50 and p99 of `samples` in milliseconds.
    pub(crate) fn latency(self, samples: &mut [Duration]) -> Self {
        let (p50, p99) = (percentile(samples, 50.0), percentile(samples, 99.0));
        self.with("p50_ms", "p50", "ms", p50.map(ms))
            .with("p99_ms", "p99", "ms", p99.map(ms))
    }
}

/// Milliseconds, fractional.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile; sorts `samples`.
pub(crate) fn percentile(samples: &mut [Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = (p / 100.0 * samples.len() as f64).ceil();
    // In range by construction: 1 <= rank <= len.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "rank is in 1..=len"
    )]
    let index = (rank as usize).clamp(1, samples.len()) - 1;
    Some(samples[index])
}

/// Megabytes (10^6) per second.
pub(crate) fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

/// Everything measured in one run, and what failed.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Lines about the setup, printed above the table.
    pub(crate) context: Vec<(String, String)>,
    rows: Vec<Row>,
    failures: Vec<(String, String)>,
}

impl Report {
    pub(crate) fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub(crate) fn fail(&mut self, figure: &str, error: impl std::fmt::Display) {
        self.failures.push((figure.to_owned(), error.to_string()));
    }

    pub(crate) fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// The human table.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.context {
            let _ = writeln!(out, "{key}: {value}");
        }
        let cells: Vec<[String; 3]> = self
            .rows
            .iter()
            .map(|row| {
                let metrics = row
                    .metrics
                    .iter()
                    .map(|m| {
                        let value = m.value.map_or_else(|| "n/a".to_owned(), number);
                        let unit = if m.value.is_some() { m.unit } else { "" };
                        [m.label, value.as_str(), unit]
                            .iter()
                            .filter(|part| !part.is_empty())
                            .copied()
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect::<Vec<_>>()
                    .join("  ");
                [row.figure.to_owned(), row.case.clone(), metrics]
            })
            .collect();
        let head = ["figure".to_owned(), "case".to_owned(), "result".to_owned()];
        let width = |i: usize| {
            cells
                .iter()
                .chain(std::iter::once(&head))
                .map(|c| c[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1) = (width(0), width(1));
        let _ = writeln!(out, "\n{:w0$}  {:w1$}  {}", head[0], head[1], head[2]);
        let _ = writeln!(
            out,
            "{}  {}  {}",
            "-".repeat(w0),
            "-".repeat(w1),
            "-".repeat(width(2))
        );
        for [figure, case, metrics] in &cells {
            let _ = writeln!(out, "{figure:w0$}  {case:w1$}  {metrics}");
        }
        for (figure, error) in &self.failures {
            let _ = writeln!(out, "FAILED {figure}: {error}");
        }
        out
    }

    /// The same as JSON.
    pub(crate) fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut object = Map::new();
                object.insert("figure".into(), row.figure.into());
                object.insert("case".into(), row.case.clone().into());
                for m in &row.metrics {
                    object.insert(m.key.into(), m.value.map_or(Value::Null, Value::from));
                }
                Value::Object(object)
            })
            .collect();
        let context: Map<String, Value> = self
            .context
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        let failures: Vec<Value> = self
            .failures
            .iter()
            .map(|(figure, error)| json!({"figure": figure, "error": error}))
            .collect();
        json!({"context": context, "rows": rows, "failures": failures})
    }
}

/// Three significant digits or so, without exponent noise.
fn number(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

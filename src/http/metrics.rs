//! `GET /metrics`: resource usage. Cheap by design (the host polls it every
//! second per sandbox): CPU comes from the background sampler, memory and
//! disk are read now.

use std::path::Path;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::host::{DiskUsage, MemInfo};
use crate::state::AppState;

const MIB: u64 = 1024 * 1024;

/// The wire schema (spec §5.2; snake_case keys).
#[derive(Debug, serde::Serialize)]
struct Metrics {
    ts: i64,
    cpu_count: u32,
    cpu_used_pct: f32,
    mem_total: u64,
    mem_used: u64,
    mem_total_mib: u64,
    mem_used_mib: u64,
    mem_cache: u64,
    disk_total: u64,
    disk_used: u64,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

pub(super) async fn get(State(state): State<AppState>) -> Result<Response, Error> {
    let host = &state.host;
    let mem = MemInfo::read(&host.paths.meminfo)?;
    let disk = DiskUsage::of(Path::new("/"))?;
    let body = Metrics {
        ts: unix_now(),
        cpu_count: host.cpu.count(),
        cpu_used_pct: host.cpu.used_pct(),
        mem_total: mem.total,
        mem_used: mem.used(),
        mem_total_mib: mem.total / MIB,
        mem_used_mib: mem.used() / MIB,
        mem_cache: mem.cache(),
        disk_total: disk.total,
        disk_used: disk.used,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

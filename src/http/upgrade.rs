//! `POST /upgrade` (spec §5.8): the orchestrator delivers a new envd binary
//! (or names the one already delivered) and envd re-execs into it on the
//! same pid. On success nothing answers: the connection ends with the old
//! image. Token-protected by the general guard.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::error::Error;
use crate::state::AppState;
use crate::upgrade::{self, Error as U, MAX_BINARY_BYTES};

/// The header naming the binary; empty or the configured path.
const BIN_HEADER: &str = "x-envd-upgrade-bin";

pub(super) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&state, &headers, body).await {
        Ok(never) => match never {},
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<std::convert::Infallible, Error> {
    let upgrader = &state.upgrade;
    if !upgrader.is_initialized() {
        drain(body).await;
        return Err(U::NotInitialized.into());
    }
    let target = upgrader.next_bin().to_owned();
    let named = headers
        .get(BIN_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if !named.is_empty() && Path::new(&named) != target {
        drain(body).await;
        return Err(U::BadTarget(named).into());
    }
    receive(&target, body).await?;
    check_executable(&target)?;
    Err(upgrade::upgrade(state).await.into())
}

async fn drain(body: Body) {
    crate::http::drain::discard(body.into_data_stream()).await;
}

/// Streams a non-empty body to a temporary file beside `target` (mode
/// 0755), then renames it over `target`; an empty body leaves `target` as
/// it is. Renaming (not truncating) works while `target` is running.
async fn receive(target: &Path, body: Body) -> Result<(), Error> {
    let mut stream = body.into_data_stream();
    let Some(first) = stream.next().await else {
        return Ok(());
    };
    let first = first.map_err(|e| U::Body(e.to_string()))?;
    let tmp = target.with_extension(format!("upload-{}", std::process::id()));
    let write = |file: &mut std::fs::File, chunk: &[u8]| file.write_all(chunk);
    let result = async {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(&tmp)
            .map_err(U::WriteBinary)?;
        let mut total = 0_u64;
        let mut chunk = Some(Ok(first));
        while let Some(next) = chunk {
            let next = next.map_err(|e: axum::Error| U::Body(e.to_string()))?;
            total += next.len() as u64;
            if total > MAX_BINARY_BYTES {
                return Err(U::TooLarge(MAX_BINARY_BYTES));
            }
            write(&mut file, &next).map_err(U::WriteBinary)?;
            chunk = stream.next().await;
        }
        file.sync_all().map_err(U::WriteBinary)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(U::WriteBinary)?;
        drop(file);
        std::fs::rename(&tmp, target).map_err(U::WriteBinary)
    }
    .await;
    if result.is_err() {
        drop(std::fs::remove_file(&tmp));
    }
    if matches!(result, Err(U::TooLarge(_))) {
        // Let the client finish writing and read the answer.
        crate::http::drain::discard(stream).await;
    }
    Ok(result?)
}

fn check_executable(target: &Path) -> Result<(), Error> {
    match std::fs::metadata(target) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(U::NotExecutable(target.to_owned()).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(U::BinaryMissing(target.to_owned()).into())
        }
        Err(_) => Err(U::NotExecutable(target.to_owned()).into()),
    }
}

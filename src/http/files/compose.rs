//! `POST /files/compose` (spec §5.8): a JSON request naming source files
//! and a destination; the disk work is `crate::fs::compose`. Behind the
//! general token guard, unlike `/files`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::{disposition, lookup};
use crate::error::{Error, RequestError};
use crate::fs::compose::{self, Source};
use crate::fs::write::Owner;
use crate::state::AppState;

/// The largest request body read: far more than any list of paths needs.
pub(super) const BODY_LIMIT: usize = 1024 * 1024;

/// The request, as E2B's OpenAPI `ComposeRequest` has it.
#[derive(Debug, serde::Deserialize)]
struct ComposeRequest {
    #[serde(default)]
    source_paths: Vec<String>,
    #[serde(default)]
    destination: String,
    /// Absent or `null`: the default user. Present (even empty): looked up.
    #[serde(default)]
    username: Option<String>,
}

/// The composed file, as the SDKs' `EntryInfo`.
#[derive(Debug, serde::Serialize)]
struct Entry {
    path: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

pub(super) async fn post(State(state): State<AppState>, body: Body) -> Response {
    match handle(&state, body).await {
        Ok(entry) => Json(entry).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &AppState, body: Body) -> Result<Entry, Error> {
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|e| RequestError::InvalidBody(body_error(&e)))?;
    let request: ComposeRequest =
        serde_json::from_slice(&bytes).map_err(|e| RequestError::InvalidBody(e.to_string()))?;
    if request.source_paths.is_empty() {
        return Err(compose::Error::NoSources.into());
    }
    if request.destination.is_empty() {
        return Err(compose::Error::NoDestination.into());
    }
    let defaults = state.defaults.snapshot();
    let user = lookup(request.username.unwrap_or_else(|| defaults.user.clone()))?;
    let workdir = defaults.workdir.as_deref();
    let resolve = |p: &str| crate::fs::path::resolve(p, &user.home, workdir);
    let destination = resolve(&request.destination)?;
    let sources = request
        .source_paths
        .into_iter()
        .map(|requested| {
            Ok(Source {
                path: resolve(&requested)?,
                requested,
            })
        })
        .collect::<Result<Vec<_>, crate::fs::path::Error>>()?;
    let owner = Owner {
        uid: user.uid,
        gid: user.gid,
    };
    let target = destination.clone();
    // One blocking task does all of it, so a client that goes away cannot
    // stop a compose halfway (the sources go only once the rename is done).
    let written =
        tokio::task::spawn_blocking(move || compose::compose(&sources, &target, owner)).await;
    let bytes = written.map_err(|e| compose::Error::Io {
        action: "composing into",
        path: destination.clone(),
        source: std::io::Error::other(e.to_string()),
    })??;
    let path = destination.to_string_lossy().into_owned();
    tracing::info!(%path, bytes, "files composed");
    Ok(Entry {
        name: disposition::base_name(&path).to_owned(),
        path,
        kind: "file",
    })
}

/// Why the body could not be read: too large, or the client failed.
fn body_error(e: &axum::Error) -> String {
    let too_large =
        std::error::Error::source(e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
    if too_large {
        format!("the body exceeds {BODY_LIMIT} bytes")
    } else {
        e.to_string()
    }
}

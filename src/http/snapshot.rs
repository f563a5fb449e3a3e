//! `POST /snapshot/prepare`: called by the host right before it pauses the
//! VM. Idempotent; no auth.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::state::AppState;

pub(super) async fn prepare(State(state): State<AppState>) -> Result<Response, Error> {
    state.host.snapshot.prepare().await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "no-store")],
    )
        .into_response())
}

//! `GET /health`: 200 with the version; host agents poll it for readiness.
//! The first call after `/snapshot/prepare` runs post-restore recovery.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::config::VERSION;
use crate::state::AppState;

#[derive(serde::Serialize)]
struct Health {
    version: &'static str,
}

pub(super) async fn get(State(state): State<AppState>) -> impl IntoResponse {
    state.host.snapshot.recover();
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(Health { version: VERSION }),
    )
}

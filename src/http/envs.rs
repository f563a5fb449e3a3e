//! `GET /envs`: the envd-wide default environment (from `/init envVars`
//! plus internal variables such as `WRENN_SANDBOX`).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

pub(super) async fn get(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(state.defaults.snapshot().env_vars),
    )
}

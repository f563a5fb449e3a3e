//! `GET /health`: 200 with the version; host agents poll it for readiness.

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;

use crate::config::VERSION;

#[derive(serde::Serialize)]
struct Health {
    version: &'static str,
}

pub(super) async fn get() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(Health { version: VERSION }),
    )
}

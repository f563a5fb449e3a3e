//! `POST /collapse` (spec §5.8, [E2B]): `MADV_COLLAPSE` on envd's own
//! anonymous memory; 200 with the counts of [`crate::host::collapse`].

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::host::collapse;

pub(super) async fn post() -> Result<Response, Error> {
    let result = tokio::task::spawn_blocking(collapse::collapse_own_memory)
        .await
        .map_err(crate::host::Error::from)??;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(result)).into_response())
}

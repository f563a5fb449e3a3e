//! `POST /fsfreeze` and `POST /fsthaw` (spec §5.8, [E2B]; semantics and the
//! auto-thaw in [`crate::host::fsfreeze`]): 204, 500 when the ioctl fails,
//! 503 while another freeze or thaw runs.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::state::AppState;

fn no_content() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "no-store")],
    )
        .into_response()
}

pub(super) async fn freeze(State(state): State<AppState>) -> Result<Response, Error> {
    state.host.fs_freezer.freeze().await?;
    Ok(no_content())
}

pub(super) async fn thaw(State(state): State<AppState>) -> Result<Response, Error> {
    state.host.fs_freezer.thaw().await?;
    Ok(no_content())
}

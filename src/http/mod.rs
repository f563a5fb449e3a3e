//! Plain-HTTP endpoints, one file per resource.

mod health;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// Every plain-HTTP route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::get))
        .with_state(state)
}

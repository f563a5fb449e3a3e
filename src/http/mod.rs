//! Plain-HTTP endpoints, one file per resource.

mod collapse;
pub mod drain;
mod envs;
pub mod files;
mod freeze;
mod fsfreeze;
mod health;
mod init;
mod metrics;
mod snapshot;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// Every plain-HTTP route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::get))
        .route("/metrics", get(metrics::get))
        .route("/envs", get(envs::get))
        .route("/init", post(init::post))
        .route("/snapshot/prepare", post(snapshot::prepare))
        .route("/freeze", post(freeze::freeze))
        .route("/unfreeze", post(freeze::unfreeze))
        .route("/fsfreeze", post(fsfreeze::freeze))
        .route("/fsthaw", post(fsfreeze::thaw))
        .route("/collapse", post(collapse::post))
        .merge(files::routes())
        .with_state(state)
}

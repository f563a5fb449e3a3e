//! Plain-HTTP endpoints, one file per resource.

mod collapse;
pub mod drain;
mod envs;
pub mod files;
mod freeze;
mod fsfreeze;
pub mod guard;
mod health;
mod init;
mod metrics;
mod snapshot;
mod upgrade;

use axum::Router;
use axum::routing::{get, post};

/// Entry points for the fuzz targets in `fuzz/` (see `files::fuzz`).
#[cfg(any(fuzzing, test))]
pub mod fuzz {
    /// An `/init` body, parsed as the handler parses it.
    pub fn init(data: &[u8]) {
        super::init::fuzz(data);
    }
}

use crate::state::AppState;

/// Every plain-HTTP route. Only these paths are answered: `app` mounts
/// the RPC service beside them for every other path.
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
        .route("/upgrade", post(upgrade::post))
        .merge(files::routes())
        .with_state(state)
        .layer(axum::middleware::from_fn(
            crate::server::early_answer::close_if_unread,
        ))
}

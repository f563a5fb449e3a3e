//! Shared handles every adapter needs. No logic and no spawning here.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::AccessToken;
use crate::config::{Config, RuntimeDefaults};
use crate::fs::watch;
use crate::host::Host;
use crate::process::ProcessManager;

/// What request handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Startup configuration.
    pub config: Arc<Config>,
    /// Settings `/init` may change.
    pub defaults: Arc<RuntimeDefaults>,
    /// Every process envd started.
    pub processes: Arc<ProcessManager>,
    /// The access token `/init` sets.
    pub token: Arc<AccessToken>,
    /// Guest integrations: metrics, snapshot gate, `/init` side effects.
    pub host: Arc<Host>,
    /// Polled filesystem watchers (`CreateWatcher`), by id.
    pub watchers: Arc<watch::Registry>,
    /// Live upgrade (`/upgrade`) and the handover this envd resumed from.
    pub upgrade: Arc<crate::upgrade::Upgrader>,
    /// Cancelled when envd starts shutting down: open RPC streams then end
    /// with `unavailable` instead of being reset when the drain runs out.
    pub shutdown: CancellationToken,
}

//! Composition root: builds the state, mounts every route behind CORS and
//! tracing, starts and stops the background tasks, and serves.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::cors::{AllowHeaders, Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::auth::AccessToken;
use crate::config::{Config, RuntimeDefaults};
use crate::host::{self, Host};
use crate::http::guard::AuthLayer;
use crate::identity;
use crate::process::{self, Mode, ProcessConfig, ProcessManager, Reaper, StartSpec};
use crate::state::AppState;
use crate::{http, rpc, server, sys, upgrade};

#[cfg(any(fuzzing, test))]
pub mod fuzz;

/// CORS for browsers (the JS SDK): any origin, every method clients use,
/// any request header, the gRPC status headers exposed. Preflights are
/// answered here, before authentication.
fn cors() -> CorsLayer {
    let expose = [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "location",
        "cache-control",
        "x-content-type-options",
        "connect-content-encoding",
        "connect-protocol-version",
        "grpc-encoding",
        "content-encoding",
        "content-length",
        "content-range",
        "content-disposition",
        crate::error::REASON_HEADER,
    ]
    .map(HeaderName::from_static);
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::HEAD,
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(expose)
        .max_age(Duration::from_secs(7200))
}

/// Every route with the shared layers: the plain-HTTP routes beside the
/// RPC service (which answers every other path), so neither passes
/// through the other's layers; around both, CORS outermost (preflights
/// need no token), then tracing, then the access-token guard, which sits
/// outside routing so RPC and unknown paths are guarded too.
pub fn router(state: &AppState) -> Router {
    http::router(state.clone())
        .merge(rpc::service(state))
        .layer(AuthLayer::new(state.token.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(cors())
}

/// The shared state every handler sees; spawns nothing. Public so the
/// integration tests can build [`router`] in their own process.
pub fn build_state(
    config: &Config,
    listener: &TcpListener,
    reaper: &Arc<Reaper>,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> std::io::Result<AppState> {
    let settings = process::Settings {
        exit_retention: config.exit_retention,
        exit_retention_max: config.exit_retention_max,
        drain_grace: config.exit_drain_grace,
        stall_limit: config.subscriber_stall_limit,
        scrollback: config.scrollback_bytes,
        sequence_wait: config.pty_send_wait,
        placement: host::cgroups::setup(
            &config.cgroup_root,
            host::MemInfo::read(&config.host_paths.meminfo)
                .ok()
                .map(|m| m.total),
        ),
    };
    let clock_control = config.set_clock || std::process::id() == 1;
    let host = Arc::new(Host::new(
        config,
        reaper.clone(),
        tasks.clone(),
        clock_control,
    ));
    Ok(AppState {
        config: Arc::new(config.clone()),
        defaults: Arc::new(RuntimeDefaults::default()),
        processes: Arc::new(ProcessManager::new(reaper.clone(), tasks.clone(), settings)),
        token: Arc::new(AccessToken::default()),
        host: host.clone(),
        watchers: Arc::new(crate::fs::watch::Registry::default()),
        upgrade: Arc::new(upgrade::Upgrader::new(
            listener,
            config.upgrade_bin.clone(),
        )?),
        shutdown: shutdown.clone(),
    })
}

/// Runs envd on `listener` until `shutdown` is cancelled.
/// `resume` is the live-upgrade handover this image starts from, if any.
pub async fn run(
    config: Config,
    listener: TcpListener,
    resume: Option<upgrade::resume::Loaded>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if std::process::id() != 1
        && let Err(e) = sys::become_subreaper()
    {
        tracing::warn!(error = %e, "cannot become child subreaper; orphans will not be reaped");
    }
    let tasks = TaskTracker::new();
    let reaper = Arc::new(Reaper::default());
    // Registered before anything is spawned so no exit goes unnoticed.
    let mut sigchld = signal(SignalKind::child())?;

    let state = build_state(&config, &listener, &reaper, &tasks, &shutdown)?;
    let host = state.host.clone();
    let (name, value) = host::sandbox::SANDBOX_ENV;
    state.defaults.update(|d| {
        d.env_vars.insert(name.to_owned(), value.to_owned());
    });
    if let Err(e) = host::sandbox::write_marker(&config.run_dir) {
        tracing::error!(error = %e, run_dir = %config.run_dir.display(), "cannot write the sandbox marker");
    }
    let resumed = resume.is_some();
    if let Some(resume) = resume {
        // Children are adopted before the reaper first runs, so none of
        // their exits is taken for an orphan's.
        let summary = upgrade::resume::apply(resume, &state).await;
        state.upgrade.resumed_from(summary);
    }
    tasks.spawn({
        let reaper = reaper.clone();
        let shutdown = shutdown.clone();
        async move {
            // Exits during a live upgrade's exec sent no signal to us.
            reaper.reap();
            loop {
                tokio::select! {
                    received = sigchld.recv() => match received {
                        Some(()) => reaper.reap(),
                        None => break,
                    },
                    () = shutdown.cancelled() => break,
                }
            }
        }
    });
    start_host_tasks(&config, &host, &tasks, &shutdown);
    if let (Some(line), false) = (&config.start_cmd, resumed) {
        start_initial_process(&state, line);
    }

    server::serve(
        listener,
        router(&state),
        config.idle_timeout,
        state.upgrade.accepting(),
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    tasks.close();
    // Processes outlive envd's shutdown on purpose; only wait briefly for
    // the background tasks that end with the shutdown token.
    drop(tokio::time::timeout(Duration::from_millis(200), tasks.wait()).await);
    Ok(())
}

/// The CPU sampler, the page-cache reclaimer, the heap trimmer, the
/// snapshot auto-recovery timer and the filesystem auto-thaw; all end with
/// `shutdown`.
fn start_host_tasks(
    config: &Config,
    host: &Arc<Host>,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) {
    tasks.spawn(host::cpu::sample(
        host.cpu.clone(),
        host.paths.stat.clone(),
        config.cpu_sample_interval,
        shutdown.clone(),
    ));
    tasks.spawn(host::reclaim::run(
        host.snapshot.clone(),
        host::reclaim::Settings {
            meminfo: host.paths.meminfo.clone(),
            interval: config.reclaim_interval,
            threshold_pct: config.reclaim_threshold_pct,
        },
        shutdown.clone(),
    ));
    tasks.spawn(host::heap::trim(shutdown.clone()));
    tasks.spawn(host::snapshot::auto_recover(
        host.snapshot.clone(),
        config.snapshot_recover_timeout,
        shutdown.clone(),
    ));
    tasks.spawn(host::fsfreeze::auto_thaw(
        host.fs_freezer.clone(),
        shutdown.clone(),
    ));
}

/// `--cmd`: runs the line with `/bin/bash -l -c` as root, tag `startCmd`.
fn start_initial_process(state: &AppState, line: &str) {
    let result = identity::lookup("root")
        .map_err(crate::error::Error::from)
        .and_then(|root| {
            let config = ProcessConfig {
                cmd: "/bin/bash".to_owned(),
                args: vec!["-l".to_owned(), "-c".to_owned(), line.to_owned()],
                ..ProcessConfig::default()
            };
            let spec = StartSpec::resolve(
                config,
                Some("startCmd".to_owned()),
                Mode::Pipe { stdin: true },
                root,
                &state.defaults.snapshot(),
                None,
            )?;
            Ok(state.processes.start(&spec)?)
        });
    match result {
        Ok(started) => tracing::info!(pid = started.pid, "started --cmd process"),
        Err(e) => tracing::error!(error = %e, "cannot start --cmd process"),
    }
}

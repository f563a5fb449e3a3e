//! Parses the command line, sets up logging and runs envd. The only place
//! that exits the process.

use std::process::ExitCode;

use envd::config::{COMMIT, Invocation, USAGE, VERSION};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match Invocation::parse(std::env::args().skip(1)) {
        Ok(Invocation::Version) => {
            println!("{VERSION}");
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Commit) => {
            println!("{COMMIT}");
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::CheckHandoverSchema(schema)) => {
            // Asked by the envd about to exec this binary (live upgrade).
            if (1..=envd::upgrade::SCHEMA).contains(&schema) {
                println!("{}", envd::upgrade::SCHEMA);
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "envd: handover schema {schema} not supported (newest {})",
                envd::upgrade::SCHEMA
            );
            return ExitCode::from(3);
        }
        Ok(Invocation::Run(config)) => config,
        Err(e) => {
            eprintln!("envd: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("ENVD_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // A failed log write is dropped: reporting it uses `eprintln!`, which
        // panics on a broken stderr (a supervisor's log pipe that closed) and
        // took the SIGTERM handler down with it.
        .log_internal_errors(false)
        .json()
        .init();

    envd::sys::return_large_blocks();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("envd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        // Handlers first: a SIGTERM sent as soon as the address is announced
        // must shut down gracefully, not kill the process.
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (listener, resume) = match config.resume_handover {
            // A live upgrade: the previous image's socket, still listening.
            Some(fd) => {
                let (listener, loaded) =
                    envd::upgrade::resume::load(fd).map_err(std::io::Error::other)?;
                (tokio::net::TcpListener::from_std(listener)?, Some(loaded))
            }
            None => (tokio::net::TcpListener::bind(config.listen).await?, None),
        };
        let addr = listener.local_addr()?;
        if resume.is_none() {
            // The one line on stdout: tests and scripts read the bound address
            // here (after a live upgrade its reader may be gone).
            println!("envd {VERSION} listening on http://{addr}");
        }
        tracing::info!(%addr, version = VERSION, resumed = resume.is_some(), "listening");
        let shutdown = CancellationToken::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
            trigger.cancel();
        });
        envd::app::run(config, listener, resume, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("envd: {e}");
            ExitCode::FAILURE
        }
    }
}

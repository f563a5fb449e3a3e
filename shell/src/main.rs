//! `envd-shell`: an interactive terminal on an envd (see README.md).

mod args;
mod exit;
mod shell;
mod tty;

use std::process::ExitCode;
use std::time::Duration;

use args::Invocation;

fn main() -> ExitCode {
    let invocation = args::parse(
        std::env::args().skip(1),
        std::env::var("ENVD_ACCESS_TOKEN").ok(),
    );
    let options = match invocation {
        Ok(Invocation::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Shell(options)) => options,
        Err(e) => {
            eprintln!("envd-shell: {e} (see --help)");
            return ExitCode::from(exit::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("envd-shell: cannot start the async runtime: {e}");
            return ExitCode::from(exit::REFUSED);
        }
    };
    let result = runtime.block_on(shell::run(options));
    // The stdin reader blocks in read(2); do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(50));
    tty::restore();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("envd-shell: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

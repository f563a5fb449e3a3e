//! Live upgrade (`POST /upgrade`, spec §5.8): the running envd hands its
//! state to a new binary that `execve`s on the same pid.
//!
//! Order, and why:
//! 1. The new binary must accept [`SCHEMA`] (`<bin> --check-handover-schema
//!    N`, run as a child first): if it cannot read the handover the old
//!    envd keeps running and answers 500, instead of exec'ing into a binary
//!    that would have to exit and lose every process.
//! 2. `/init` is locked, new connections stay in the kernel's backlog (the
//!    accept loop pauses), reaping and every output reader stop (the fds
//!    stay open), then the state is captured ([`capture`]) into a memfd.
//! 3. `execve` with the listener, every process fd and the memfd no longer
//!    close-on-exec. On failure everything is resumed and the request gets
//!    500; on success nothing answers (the connection dies with the image).
//!
//! The new image ([`resume`]) rebuilds the listener from its fd (pending
//! connections are accepted by it), adopts every child (a non-blocking
//! reap sweep collects exits that happened during the exec), the retained
//! ends, the watchers (re-armed: changes between capture and re-arm are
//! not seen) and the `/init` state.
//!
//! Output guarantee: every process keeps a replay tail of the last
//! [`crate::process::REPLAY_TAIL_BYTES`] it read (whole chunks). Readers
//! stop before the capture, so every byte read is in the tail handed over
//! and every byte not read stays in the pipe or pty for the new image. For
//! [`REPLAY_WINDOW`] after resume each `Connect` first gets the whole tail
//! (the handed-over one plus what was read since), then live output, with
//! no chunk twice and none missing. A client that had received all but at
//! most that many bytes before the upgrade therefore loses nothing (it
//! sees the overlap again and skips what it already has); one further
//! behind sees a gap.

mod capture;
pub mod resume;
mod wire;

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

pub use resume::Resumed;

/// The handover schema this binary writes and the newest it reads.
pub const SCHEMA: u32 = 1;

/// How long a `Connect` after resume still gets the replay tail first.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(60);

/// Largest binary `/upgrade` accepts in its body.
pub const MAX_BINARY_BYTES: u64 = 256 * 1024 * 1024;

/// How long the schema check of the new binary may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an upgrade did not happen (the old envd keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/upgrade` before the first successful `/init`.
    #[error("envd not initialized")]
    NotInitialized,
    /// Another upgrade is in progress.
    #[error("an upgrade is already in progress")]
    Busy,
    /// `X-Envd-Upgrade-Bin` names another path.
    #[error("unsupported upgrade target {0:?}")]
    BadTarget(String),
    /// The body is larger than [`MAX_BINARY_BYTES`].
    #[error("upgrade binary larger than {0} bytes")]
    TooLarge(u64),
    /// No body and no binary at the path.
    #[error("upgrade binary {} does not exist", .0.display())]
    BinaryMissing(PathBuf),
    /// The binary is not an executable regular file.
    #[error("upgrade binary {} is not an executable file", .0.display())]
    NotExecutable(PathBuf),
    /// Writing the body to the path failed.
    #[error("cannot write the upgrade binary: {0}")]
    WriteBinary(io::Error),
    /// The body could not be read.
    #[error("cannot read the request body: {0}")]
    Body(String),
    /// The new binary does not accept this handover schema.
    #[error("{bin} rejected handover schema {schema}: {detail}")]
    SchemaRejected {
        /// The binary.
        bin: String,
        /// The schema asked for.
        schema: u32,
        /// Its answer.
        detail: String,
    },
    /// Capturing the state failed.
    #[error("cannot capture the handover state: {0}")]
    Capture(io::Error),
    /// `execve` failed.
    #[error("cannot exec the upgrade binary: {0}")]
    Exec(io::Error),
}

/// What the upgrade endpoint shares.
#[derive(Debug)]
pub struct Upgrader {
    initialized: AtomicBool,
    resumed: std::sync::OnceLock<Resumed>,
    /// A duplicate of the listening socket, close-on-exec.
    listener: OwnedFd,
    /// False while an upgrade holds new connections in the backlog.
    accepting: watch::Sender<bool>,
    next_bin: PathBuf,
    running: tokio::sync::Mutex<()>,
}

impl Upgrader {
    /// For a server on `listener` (duplicated here).
    pub fn new(listener: &tokio::net::TcpListener, next_bin: PathBuf) -> io::Result<Self> {
        Ok(Self {
            initialized: AtomicBool::new(false),
            resumed: std::sync::OnceLock::new(),
            listener: listener.as_fd().try_clone_to_owned()?,
            accepting: watch::Sender::new(true),
            next_bin,
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// Records the handover this envd resumed from.
    pub fn resumed_from(&self, resumed: Resumed) {
        if resumed.initialized {
            self.mark_initialized();
        }
        drop(self.resumed.set(resumed));
    }

    /// Records a successful `/init`.
    pub fn mark_initialized(&self) {
        self.initialized.store(true, Ordering::Release);
    }

    /// Whether an `/init` has succeeded (here or before the last upgrade).
    pub fn is_initialized(&self) -> bool {
        self.initialized.load(Ordering::Acquire)
    }

    /// The `X-Envd-Handover` JSON, when this envd was resumed.
    pub fn handover_header(&self) -> Option<String> {
        self.resumed.get().map(Resumed::to_json)
    }

    /// Whether the accept loop should accept (watched by the server).
    pub fn accepting(&self) -> watch::Receiver<bool> {
        self.accepting.subscribe()
    }

    /// The path `X-Envd-Upgrade-Bin` may name.
    pub fn next_bin(&self) -> &std::path::Path {
        &self.next_bin
    }
}

/// Runs the upgrade to the binary at the configured path (already in
/// place). Returns only if it did not happen.
pub async fn upgrade(state: &crate::state::AppState) -> Error {
    let upgrader = &state.upgrade;
    let Ok(_running) = upgrader.running.try_lock() else {
        return Error::Busy;
    };
    let bin = upgrader.next_bin.clone();
    if let Err(e) = check_schema(state, &bin).await {
        return e;
    }
    // Hold /init for the rest: nothing it changes is lost after capture.
    let init = state.host.init.lock().await;
    upgrader.accepting.send_replace(false);
    let frozen = state.processes.freeze().await;
    let captured = capture::capture(state, *init, &frozen).await;
    let error = match captured {
        Ok(captured) => {
            let args = exec_args(captured.state_fd_number());
            let keep = captured.fds();
            tracing::info!(bin = %bin.display(), fds = keep.len(), "live upgrade: exec");
            Error::Exec(crate::sys::exec_keeping(&bin, &args, &keep))
        }
        Err(e) => Error::Capture(e),
    };
    drop(frozen);
    upgrader.accepting.send_replace(true);
    drop(init);
    tracing::error!(error = %error, "live upgrade failed; still serving");
    error
}

/// Runs `<bin> --check-handover-schema N`; it must exit 0.
async fn check_schema(state: &crate::state::AppState, bin: &std::path::Path) -> Result<(), Error> {
    let rejected = |detail: String| Error::SchemaRejected {
        bin: bin.display().to_string(),
        schema: SCHEMA,
        detail,
    };
    let mut command = std::process::Command::new(bin);
    command
        .arg("--check-handover-schema")
        .arg(SCHEMA.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let (_child, exit) = state
        .processes
        .reaper()
        .spawn(&mut command)
        .map_err(|e| rejected(format!("cannot run it: {e}")))?;
    match tokio::time::timeout(CHECK_TIMEOUT, exit).await {
        Ok(Ok(nix::sys::wait::WaitStatus::Exited(_, 0))) => Ok(()),
        Ok(Ok(status)) => Err(rejected(format!("{status:?}"))),
        Ok(Err(_)) => Err(rejected("exit status lost".to_owned())),
        Err(_) => Err(rejected(format!("no answer in {CHECK_TIMEOUT:?}"))),
    }
}

/// This process's arguments without any earlier `--resume-handover`, plus
/// the new one.
fn exec_args(state_fd: i32) -> Vec<OsString> {
    let mut args = Vec::new();
    let mut skip_value = false;
    for arg in std::env::args_os().skip(1) {
        if skip_value {
            skip_value = false;
            continue;
        }
        let text = arg.to_string_lossy();
        let flag = text.trim_start_matches('-');
        if flag == "resume-handover" {
            skip_value = true;
            continue;
        }
        if flag.starts_with("resume-handover=") {
            continue;
        }
        args.push(arg);
    }
    args.push("--resume-handover".into());
    args.push(state_fd.to_string().into());
    args
}

//! One interactive session: stdin to the terminal, the terminal to stdout,
//! window-size changes forwarded, until the remote program ends.

use std::time::Duration;

use bytes::Bytes;
use envd_sdk::{
    Client, Code, RetryPolicy, TerminalEvent, TerminalInput, TerminalOptions, TerminalSession,
};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};

use crate::args::Options;
use crate::exit;
use crate::tty::{self, RawMode};

/// Why a session could not start or go on.
#[derive(Debug, Error)]
pub(crate) enum ShellError {
    /// The URL or settings are unusable.
    #[error("invalid settings: {0}")]
    Settings(envd_sdk::Error),
    /// Nothing answers at the URL.
    #[error("cannot reach envd at {url}: {source}")]
    Unreachable {
        url: String,
        source: envd_sdk::Error,
    },
    /// envd answered 401: no token, or the wrong one.
    #[error(
        "envd at {url} refused the access token (unauthenticated); pass the right one with --token"
    )]
    BadToken { url: String },
    /// envd answered with another error (unknown user, missing program, …).
    #[error("envd at {url} refused the terminal: {source}")]
    Refused {
        url: String,
        source: envd_sdk::Error,
    },
    /// The output stream broke and re-attaching gave up.
    #[error("lost the terminal: {0}")]
    Lost(envd_sdk::Error),
    /// The session ended without reporting how the program ended.
    #[error("the terminal stream ended without an exit status")]
    Ended,
    /// Raw mode could not be set.
    #[error("cannot set up the local terminal: {0}")]
    Tty(#[from] nix::Error),
    /// Signal handlers could not be installed, or stdout is gone.
    #[error("local I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ShellError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Unreachable { .. } => exit::UNREACHABLE,
            Self::Lost(e) if exit::is_unreachable(e.code()) => exit::UNREACHABLE,
            _ => exit::REFUSED,
        }
    }

    fn starting(url: &str, source: envd_sdk::Error) -> Self {
        let url = url.to_owned();
        match source.code() {
            Code::Unauthenticated => Self::BadToken { url },
            code if exit::is_unreachable(code) => Self::Unreachable { url, source },
            _ => Self::Refused { url, source },
        }
    }
}

/// Runs the session; returns the exit status to leave with.
pub(crate) async fn run(options: Options) -> Result<u8, ShellError> {
    let mut builder = Client::builder(&options.url).connect_timeout(Duration::from_secs(5));
    if let Some(token) = &options.token {
        builder = builder.access_token(token.clone());
    }
    let client = builder.build().map_err(ShellError::Settings)?;
    let policy = RetryPolicy::new().give_up_after(Duration::from_secs(options.reconnect_secs));
    let terminals = client.terminals().retry_policy(policy);
    let (cols, rows) = tty::window_size().unwrap_or((80, 24));
    let mut terminal = TerminalOptions::new(cols, rows);
    if let Some(program) = &options.program {
        terminal = terminal.command(program.clone(), options.args.clone());
    }
    if let Some(user) = &options.user {
        terminal = terminal.user(user.clone());
    }
    let session = terminals
        .create(terminal)
        .await
        .map_err(|e| ShellError::starting(&options.url, e))?;
    let _raw = RawMode::enable()?;
    tokio::spawn(forward_stdin(session.input()));
    pump(session).await
}

/// Copies stdin to the terminal until EOF.
async fn forward_stdin(input: TerminalInput) {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0_u8; 16 * 1024];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            return;
        }
        // Failures show up on the output side (the terminal ended, or
        // envd is unreachable past the retry window).
        drop(input.write(Bytes::copy_from_slice(&buf[..n])));
    }
}

/// Copies output to stdout and forwards resizes until the program ends or
/// envd-shell is told to stop.
async fn pump(mut session: TerminalSession) -> Result<u8, ShellError> {
    let mut winch = signal(SignalKind::window_change())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    loop {
        tokio::select! {
            event = session.next_output() => match event {
                Some(Ok(TerminalEvent::Output { data, .. })) => {
                    stdout.write_all(&data).await?;
                    stdout.flush().await?;
                }
                Some(Ok(TerminalEvent::Lost { lost_bytes, .. })) => {
                    let note = format!("\r\n[envd-shell: {lost_bytes} bytes of output were lost]\r\n");
                    stderr.write_all(note.as_bytes()).await?;
                }
                Some(Ok(TerminalEvent::Exit(status))) => return Ok(exit::of_program(&status)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(ShellError::Lost(e)),
                None => return Err(ShellError::Ended),
            },
            _ = winch.recv() => {
                if let Some((cols, rows)) = tty::window_size() {
                    drop(session.resize(cols, rows));
                }
            }
            // Detach: the remote program keeps running.
            _ = term.recv() => return Ok(128 + 15),
            _ = hangup.recv() => return Ok(128 + 1),
        }
    }
}

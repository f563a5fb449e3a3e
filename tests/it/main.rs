//! envd's integration tests: one binary, one module per behaviour, the
//! harness in `support` (linkerd2-proxy's layout). Process, PTY and file
//! behaviour runs against the real envd binary (`support::Envd`);
//! protocol-only behaviour (auth, CORS, content types, error bodies, the
//! documented routes) against the router in this process
//! (`support::app::App`). A test that cannot run fails or is `#[ignore]`d
//! with its reason; it never passes.
//!
//! The soak suite (`tests/soak.rs`) is a binary of its own: it counts this
//! process's sockets, which other tests here would open concurrently.
#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

mod auth;
mod cors;
mod envs;
mod error_reasons;
mod files_auth;
mod files_compose;
mod files_download;
mod files_large;
mod files_metadata;
mod files_sendfile;
mod files_upload;
mod fs_entry;
mod fs_ops;
mod fs_watch;
mod fs_watcher;
mod http1_connection;
mod init;
mod lifecycle_collapse;
mod lifecycle_freeze;
mod lifecycle_fsfreeze;
mod message_limits;
mod metrics;
mod openapi;
mod process_backpressure;
mod process_basic;
mod process_binary_codec;
mod process_connect_after_exit;
mod process_disconnect;
mod process_errors;
mod process_exec;
mod process_exit_drain;
mod process_fast_exit;
mod process_fds;
mod process_isolation;
mod process_keepalive;
mod process_list;
mod process_pty;
mod process_reaping;
mod process_retention;
mod process_signal;
mod process_start;
mod process_stdin;
mod process_timeout;
mod process_user;
mod protocol_errors;
mod pty_service;
mod shutdown;
mod snapshot;
mod upgrade;
mod user_boundary;

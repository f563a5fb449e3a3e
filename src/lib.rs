//! envd: the guest agent of a sandbox microVM.
//!
//! # Architecture
//!
//! ```text
//! main → app → {http, rpc} → {process, fs, auth, host} → {sys, identity}
//!                 error and config are leaves everyone may use
//! ```
//!
//! * **Domain stays free of transport.** `process` and `fs` never import
//!   axum, connectrpc or the generated wire types; `rpc` and `http` convert.
//! * **One owner for each risky thing.** Only `sys` contains `unsafe`; only
//!   `error` maps errors to Connect codes and HTTP statuses; only `app`
//!   starts long-lived tasks; only `main` exits the process.
//! * **Generated code** lives in `envd-proto` under `proto/src/gen` and is
//!   never edited.

pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod fs;
#[cfg(test)]
mod fuzz_corpus;
pub mod host;
pub mod http;
pub mod identity;
pub mod process;
pub mod rpc;
pub mod server;
pub mod state;
pub mod sys;
pub mod upgrade;

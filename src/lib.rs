//! envd: the guest agent of a sandbox microVM.
//!
//! # Architecture
//!
//! ```text
//! main → app → {http, rpc} → error → {state, upgrade} → {auth, host} → process → fs
//!                                                    → {identity, server, sys, config}
//! ```
//!
//! * **Arrows point down.** A module uses its own tier and those below it,
//!   never one above (`scripts/check-tiers.py` holds the same tiers and
//!   fails CI otherwise). `app` mounts the plain-HTTP routes (`http`) beside
//!   the RPC service (`rpc`) and wraps both in CORS, tracing and the token
//!   guard (`http::guard`). `error` names domain errors and is named by the
//!   adapters; the domain never returns it. `state` and `upgrade` hold the
//!   whole daemon (a live upgrade captures all of it). `server` is the
//!   listener and its connection-level layers; `config` is a leaf everyone
//!   may use.
//! * **Domain stays free of transport.** `process` and `fs` never import
//!   axum, connectrpc or the generated wire types; `rpc` and `http` convert.
//! * **One owner for each risky thing.** Only `sys` contains `unsafe`; only
//!   `error` maps errors to Connect codes, reasons and HTTP statuses (one
//!   table, `Error::classify`); only `app` starts long-lived tasks; only
//!   `main` exits the process.
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

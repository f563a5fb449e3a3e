#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[macro_use]
mod launch;

mod client;
mod commands;
mod error;
mod files;
mod filesystem;
mod lifecycle;
mod pty;
mod signing;
mod stream;
mod terminal;
mod transport;

pub use client::{Client, ClientBuilder, DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_REQUEST_TIMEOUT};
pub use commands::{
    Command, CommandEvent, CommandEvents, CommandHandle, CommandOutput, Commands, ExitStatus,
    ProcessInfo, ProcessRef, ProcessSelector, Signal,
};
pub use envd_proto::envd::common::v1::ErrorReason;
pub use error::{Code, Error, Result};
pub use files::{FileStream, Files, WriteInfo};
pub use filesystem::{EntryInfo, FileType, FsEvent, FsEventKind, WatchStream};
pub use lifecycle::{Health, InitOptions, Metrics};
pub use pty::{Delivery, Pty, PtyExit, PtyInput, PtyOptions, PtySession};
pub use signing::UrlOptions;
pub use terminal::{
    Applied, OUTPUT_BUFFER_EVENTS, OutputStream, RetryPolicy, Started, TerminalEvent, TerminalInfo,
    TerminalInput, TerminalOp, TerminalOptions, TerminalSession, TerminalSignal, TerminalStream,
    Terminals,
};

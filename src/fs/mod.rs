//! Filesystem domain: path resolution for a user (used by every path and
//! cwd input), and the operations behind `filesystem.Filesystem`, `/files` (`read`,
//! `write`) and `/files/compose`.

pub mod compose;
pub mod dirs;
pub mod entry;
mod error;
pub mod metadata;
pub mod ops;
pub mod path;
pub mod read;
mod temp;
pub mod watch;
pub mod write;

pub use error::Error;

//! Filesystem domain: path resolution for a user (used by every path and
//! cwd input), and the operations behind `filesystem.Filesystem` and `/files`.

pub mod dirs;
pub mod path;

//! `cargo run -p envd-codegen [OUT_DIR]` rewrites every target's checked-in
//! directory (`proto/src/gen/`, `conformance/connect/src/gen/`), or writes
//! each target to `OUT_DIR/<name>`.
//!
//! The output is checked in so a fresh clone builds without protoc; the
//! `drift` test regenerates into a temporary directory and fails on any
//! difference.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    // tonic-prost-build finds protoc only through `PROTOC`, and setting an
    // environment variable in-process is unsound, so re-exec with it set.
    if std::env::var_os("PROTOC").is_none() {
        let protoc = match protoc_bin_vendored::protoc_bin_path() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("envd-codegen: no vendored protoc: {e}");
                return ExitCode::FAILURE;
            }
        };
        let exe = std::env::current_exe().expect("own executable path");
        let status = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("PROTOC", protoc)
            .status()
            .expect("re-exec envd-codegen");
        return if status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let root = envd_codegen::workspace_root();
    let scratch = std::env::args_os().nth(1).map(PathBuf::from);
    for target in envd_codegen::TARGETS {
        let out = scratch
            .as_ref()
            .map_or_else(|| root.join(target.out_dir), |dir| dir.join(target.name));
        if let Err(e) = envd_codegen::generate(&root, target, &out) {
            eprintln!("envd-codegen: {}: {e}", target.name);
            return ExitCode::FAILURE;
        }
        println!("wrote {}", out.display());
    }
    ExitCode::SUCCESS
}

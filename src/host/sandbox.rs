//! The sandbox marker (spec §8.2): every process sees `WRENN_SANDBOX=true`,
//! and `<run dir>/.WRENN_SANDBOX` says the same to anything that reads files.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// The internal env var marking a sandbox, and its value.
pub const SANDBOX_ENV: (&str, &str) = ("WRENN_SANDBOX", "true");

/// Creates `run_dir` (mode 0755) and writes `.WRENN_SANDBOX` (mode 0444)
/// containing `true`, replacing an older copy.
pub fn write_marker(run_dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(run_dir)?;
    let path = run_dir.join(format!(".{}", SANDBOX_ENV.0));
    // The old file is read-only; replace rather than rewrite it.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&path)?
        .write_all(SANDBOX_ENV.1.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn writes_marker_twice() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run/wrenn");
        write_marker(&run).unwrap();
        write_marker(&run).unwrap();
        let marker = run.join(".WRENN_SANDBOX");
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "true");
        let mode = std::fs::metadata(&marker).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o444);
    }
}

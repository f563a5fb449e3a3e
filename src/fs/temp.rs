//! The temporary file that uploads and composes fill beside their
//! destination: created under a fresh name (never over an existing file),
//! renamed into place on success, removed on drop otherwise.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A temporary file; removed on drop unless renamed into place.
pub(crate) struct Temp {
    path: PathBuf,
    committed: bool,
    /// What the file is, for the warning when it cannot be removed.
    what: &'static str,
}

impl Temp {
    /// Creates the first name from `next_name` that does not exist yet,
    /// mode 0666 less the umask, like a fresh file. A failure other than a
    /// name clash comes back with the path it was for.
    pub(crate) fn create(
        what: &'static str,
        mut next_name: impl FnMut() -> PathBuf,
    ) -> Result<(File, Self), (io::Error, PathBuf)> {
        loop {
            let path = next_name();
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o666)
                .open(&path)
            {
                Ok(file) => {
                    let temp = Self {
                        path,
                        committed: false,
                        what,
                    };
                    return Ok((file, temp));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err((e, path)),
            }
        }
    }

    /// Where the temporary is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary over `destination`; from then on it is no
    /// longer removed on drop.
    pub(crate) fn rename_onto(&mut self, destination: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, destination)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.committed
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove {}", self.what);
        }
    }
}

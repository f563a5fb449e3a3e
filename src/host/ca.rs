//! `/init caBundle` (spec §5.4, [E2B]): trust the orchestrator's CA in the
//! guest. The PEM is appended to the system bundle (`--ca-bundle`, default
//! `/etc/ssl/certs/ca-certificates.crt`, read by OpenSSL, curl and most
//! runtimes) and a copy is persisted (`--ca-cert`, default
//! `/usr/local/share/ca-certificates/e2b-ca.crt`) so `update-ca-certificates`
//! keeps it when it rebuilds the bundle.
//!
//! Idempotent: a bundle the system bundle already contains is not appended
//! again (the orchestrator sends it on every `/init`), and the copy is only
//! rewritten when it differs. A new bundle is appended after the old one,
//! and replaces the copy. One install runs at a time; another one fails
//! with [`Error::Busy`] (503) at once.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The largest bundle accepted.
pub const MAX_BUNDLE: usize = 1024 * 1024;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Why a CA install failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another install is running.
    #[error("another CA bundle install is in progress")]
    Busy,
    /// The bundle is not PEM certificates.
    #[error("invalid caBundle: {0}")]
    Invalid(&'static str),
    /// A file could not be written.
    #[error("cannot install the CA bundle into {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The blocking worker died.
    #[error("CA install worker failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Where CA bundles go.
#[derive(Debug)]
pub struct CaStore {
    bundle: PathBuf,
    copy: PathBuf,
    running: tokio::sync::Mutex<()>,
}

impl CaStore {
    /// Appends to `bundle` and persists to `copy`.
    pub fn new(bundle: PathBuf, copy: PathBuf) -> Self {
        Self {
            bundle,
            copy,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Installs `pem`. Returns whether the system bundle changed.
    pub async fn install(&self, pem: &str) -> Result<bool, Error> {
        let pem = normalise(pem)?;
        let _running = self.running.try_lock().map_err(|_| Error::Busy)?;
        let (bundle, copy) = (self.bundle.clone(), self.copy.clone());
        let appended = tokio::task::spawn_blocking(move || install(&bundle, &copy, &pem)).await??;
        if appended {
            tracing::info!(bundle = %self.bundle.display(), "CA bundle installed");
        }
        Ok(appended)
    }
}

/// Checks the bundle and gives it exactly one trailing newline.
fn normalise(pem: &str) -> Result<String, Error> {
    if pem.len() > MAX_BUNDLE {
        return Err(Error::Invalid("larger than 1 MiB"));
    }
    let pem = pem.trim();
    if !pem.is_ascii() {
        return Err(Error::Invalid("not ASCII PEM"));
    }
    if !pem.starts_with(BEGIN) || !pem.ends_with(END) {
        return Err(Error::Invalid("expected PEM CERTIFICATE blocks"));
    }
    if pem.matches(BEGIN).count() != pem.matches(END).count() {
        return Err(Error::Invalid("unbalanced BEGIN/END CERTIFICATE lines"));
    }
    Ok(format!("{pem}\n"))
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_owned(),
        source,
    }
}

fn install(bundle: &Path, copy: &Path, pem: &str) -> Result<bool, Error> {
    let current = match std::fs::read_to_string(bundle) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(write_error(bundle)(e)),
    };
    let appended = if current.contains(pem.trim_end()) {
        false
    } else {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(bundle)
            .map_err(write_error(bundle))?;
        let separator = if current.is_empty() || current.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        // One write, so a concurrent reader sees all of it or none.
        file.write_all(format!("{separator}{pem}").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(write_error(bundle))?;
        true
    };
    if std::fs::read_to_string(copy).ok().as_deref() != Some(pem) {
        if let Some(dir) = copy.parent() {
            std::fs::create_dir_all(dir).map_err(write_error(copy))?;
        }
        let tmp = copy.with_extension("crt.envd-tmp");
        std::fs::write(&tmp, pem)
            .and_then(|()| std::fs::rename(&tmp, copy))
            .map_err(write_error(copy))?;
    }
    Ok(appended)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----";

    #[test]
    fn rejects_what_is_not_pem() {
        for bad in ["", "hello", "-----BEGIN CERTIFICATE-----\nx", "é"] {
            assert!(matches!(normalise(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
        assert_eq!(
            normalise(&format!("\n{PEM}\n\n")).unwrap(),
            format!("{PEM}\n")
        );
    }

    #[tokio::test]
    async fn appends_once_and_persists_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca-certificates.crt");
        let copy = dir.path().join("share/e2b-ca.crt");
        std::fs::write(&bundle, "existing").unwrap();
        let store = CaStore::new(bundle.clone(), copy.clone());
        assert!(store.install(PEM).await.unwrap());
        assert!(!store.install(PEM).await.unwrap());
        assert_eq!(
            std::fs::read_to_string(&bundle).unwrap(),
            format!("existing\n{PEM}\n")
        );
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), format!("{PEM}\n"));
    }

    #[tokio::test]
    async fn a_concurrent_install_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaStore::new(dir.path().join("b"), dir.path().join("c"));
        let _running = store.running.try_lock().unwrap();
        assert!(matches!(store.install(PEM).await, Err(Error::Busy)));
        assert!(!dir.path().join("b").exists());
    }
}

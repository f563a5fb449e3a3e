//! What to start: the request as given (kept for `List`) plus everything
//! resolved from it (user, cwd, environment, terminal size).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use super::Error;
use crate::config::Defaults;
use crate::fs::path;
use crate::identity::User;

/// Largest accepted terminal dimension.
pub const MAX_PTY_DIMENSION: u32 = 4096;

/// The process configuration exactly as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessConfig {
    /// Executable, looked up in the child's PATH.
    pub cmd: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Request environment.
    pub envs: HashMap<String, String>,
    /// Requested working directory.
    pub cwd: Option<String>,
}

/// A validated terminal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

impl PtySize {
    /// Accepts 1..=4096 in each dimension.
    pub fn new(cols: u32, rows: u32) -> Result<Self, Error> {
        let check = |v: u32| {
            (1..=MAX_PTY_DIMENSION)
                .contains(&v)
                .then(|| u16::try_from(v).ok())
                .flatten()
                .ok_or(Error::InvalidPtySize { cols, rows })
        };
        Ok(Self {
            cols: check(cols)?,
            rows: check(rows)?,
        })
    }
}

/// How the child's standard streams are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Separate stdout and stderr pipes; stdin a pipe or `/dev/null`.
    Pipe {
        /// Whether stdin is a pipe.
        stdin: bool,
    },
    /// One terminal for all three.
    Pty(PtySize),
}

/// A fully resolved start request.
#[derive(Debug, Clone)]
pub struct StartSpec {
    /// As requested.
    pub config: ProcessConfig,
    /// Optional tag.
    pub tag: Option<String>,
    /// Stream wiring.
    pub mode: Mode,
    /// Who runs it.
    pub user: User,
    /// Resolved working directory.
    pub cwd: PathBuf,
    /// Complete child environment.
    pub env: BTreeMap<String, String>,
    /// Kill the process with SIGKILL this long after start.
    pub timeout: Option<Duration>,
}

impl StartSpec {
    /// Resolves cwd and environment for `user` against the current defaults.
    ///
    /// Environment precedence, later wins: envd's PATH; HOME, USER, LOGNAME;
    /// the envd-wide defaults; the request's own variables.
    pub fn resolve(
        config: ProcessConfig,
        tag: Option<String>,
        mode: Mode,
        user: User,
        defaults: &Defaults,
        timeout: Option<Duration>,
    ) -> Result<Self, Error> {
        let requested = config.cwd.as_deref().unwrap_or("");
        let cwd = path::resolve(requested, &user.home, defaults.workdir.as_deref())?;
        if !cwd.is_dir() {
            return Err(Error::CwdMissing(cwd));
        }
        let mut env = BTreeMap::new();
        if let Some(path) = std::env::var_os("PATH") {
            env.insert("PATH".to_owned(), path.to_string_lossy().into_owned());
        }
        env.insert("HOME".to_owned(), user.home.to_string_lossy().into_owned());
        env.insert("USER".to_owned(), user.name.clone());
        env.insert("LOGNAME".to_owned(), user.name.clone());
        env.extend(
            defaults
                .env_vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        env.extend(config.envs.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(Self {
            config,
            tag,
            mode,
            user,
            cwd,
            env,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pty_size_bounds() {
        assert!(PtySize::new(80, 24).is_ok());
        assert!(PtySize::new(4096, 4096).is_ok());
        assert!(matches!(
            PtySize::new(0, 24),
            Err(Error::InvalidPtySize { .. })
        ));
        assert!(matches!(
            PtySize::new(80, 4097),
            Err(Error::InvalidPtySize { .. })
        ));
    }

    #[test]
    fn request_env_wins_and_home_from_passwd() {
        let user = crate::identity::lookup("root").unwrap();
        let mut defaults = Defaults::default();
        defaults.env_vars.insert("A".into(), "default".into());
        defaults.env_vars.insert("B".into(), "default".into());
        let config = ProcessConfig {
            cmd: "env".into(),
            envs: HashMap::from([("B".into(), "request".into()), ("HOME".into(), "/x".into())]),
            ..Default::default()
        };
        let spec = StartSpec::resolve(
            config,
            None,
            Mode::Pipe { stdin: false },
            user,
            &defaults,
            None,
        )
        .unwrap();
        assert_eq!(spec.cwd, PathBuf::from("/root"));
        assert_eq!(spec.env["A"], "default");
        assert_eq!(spec.env["B"], "request");
        assert_eq!(spec.env["HOME"], "/x");
        assert_eq!(spec.env["USER"], "root");
    }
}

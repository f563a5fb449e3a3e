//! The envd binary under test: started on 127.0.0.1:0 with every path it
//! would write on the machine pointed at a scratch directory, killed when
//! dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running envd, killed when dropped.
pub struct Envd {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Client with no overall timeout (streams may be long).
    pub http: reqwest::Client,
    /// Holds the files envd would otherwise write on the machine (run dir,
    /// hosts file, drop_caches); see [`Envd::start_with`].
    scratch: tempfile::TempDir,
}

impl Envd {
    /// Starts `target/.../envd --addr 127.0.0.1:0` and waits for its
    /// "listening on" line (no sleeps: the line is printed after bind).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`Envd::start`] with extra command-line arguments.
    ///
    /// envd never touches the machine's `/run/wrenn`, `/etc/hosts` or
    /// `/proc/sys/vm/drop_caches` from tests: the run dir, hosts file and
    /// drop_caches file default to files in [`Envd::scratch`] (the
    /// reclaimer would otherwise drop the test machine's page cache). `args`
    /// come later, so a test's own flags win.
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// Like [`Envd::start_with`] with extra environment variables for envd
    /// (a test puts a fake `mount` first in `PATH`).
    ///
    /// The lifecycle endpoints never reach the machine either: the cgroup
    /// root, the fsfreeze path (never `/`) and the CA files default to
    /// paths in [`Envd::scratch`] that do not exist (`no-cgroups`,
    /// `no-fsfreeze`) or are scratch files (`ca-bundle.crt`, `e2b-ca.crt`).
    pub fn start_with_env(args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::launch(Command::new(env!("CARGO_BIN_EXE_envd")), args, envs)
    }

    /// Like [`Envd::start`], with envd exec'd by `wrapper` (`nohup` starts
    /// it with SIGHUP ignored, as a supervisor might).
    pub fn start_under(wrapper: &str) -> Self {
        let mut command = Command::new(wrapper);
        command.arg(env!("CARGO_BIN_EXE_envd"));
        Self::launch(command, &[], &[])
    }

    fn launch(mut command: Command, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let scratch = tempfile::tempdir().expect("scratch dir");
        let in_scratch = |name: &str| scratch.path().join(name).to_str().unwrap().to_owned();
        let mut child = command
            .args(["--addr", "127.0.0.1:0"])
            .args(["--run-dir", &in_scratch("run")])
            .args(["--hosts-file", &in_scratch("hosts")])
            .args(["--drop-caches", &in_scratch("drop_caches")])
            .args(["--cgroup-root", &in_scratch("no-cgroups")])
            .args(["--fsfreeze-path", &in_scratch("no-fsfreeze")])
            .args(["--ca-bundle", &in_scratch("ca-bundle.crt")])
            .args(["--ca-cert", &in_scratch("e2b-ca.crt")])
            .args(args)
            .envs(envs.iter().copied())
            .env(
                "ENVD_LOG",
                std::env::var("ENVD_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn envd");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let base = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected first line from envd: {line:?}"))
            .to_owned();
        let http = reqwest::Client::builder().build().expect("client");
        Self {
            child,
            base,
            http,
            scratch,
        }
    }

    /// The directory holding envd's default run dir (`run`), hosts file
    /// (`hosts`) and drop_caches file (`drop_caches`).
    pub fn scratch(&self) -> &std::path::Path {
        self.scratch.path()
    }

    /// envd's pid (to inspect /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends envd SIGTERM.
    pub fn sigterm(&self) {
        sigterm(&self.child);
    }

    /// Waits up to `limit` for envd to exit; `None` if it is still running.
    pub fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        exit_within(&mut self.child, limit)
    }

    /// Sends envd SIGTERM and waits up to `limit` for it to exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.sigterm();
        self.exit_within(limit)
    }

    /// Absolute URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Envd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `child` SIGTERM.
pub fn sigterm(child: &Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
}

/// Polls for `child`'s exit status for up to `limit`.
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

//! Configuration, parsed once and purely from the command line before
//! anything binds; plus the [`RuntimeDefaults`] that `/init` may change later.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

/// The envd version: `--version`, `-version` and `/health` all report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The build commit, when the build provided one.
pub const COMMIT: &str = match option_env!("ENVD_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once at startup and unwrapped at once; boxing buys nothing"
)]
pub enum Invocation {
    /// Print [`VERSION`] and exit.
    Version,
    /// Print [`COMMIT`] and exit.
    Commit,
    /// Print usage and exit successfully.
    Help,
    /// Exit 0 if this binary reads live-upgrade handover schema N
    /// (`--check-handover-schema N`), else non-zero.
    CheckHandoverSchema(u32),
    /// Serve.
    Run(Config),
}

/// Everything envd needs to start serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (`--port` sets the port on 0.0.0.0, `--addr` the whole address).
    pub listen: SocketAddr,
    /// A shell command line to run at startup (`--cmd`).
    pub start_cmd: Option<String>,
    /// Keepalive interval when the client sends no `Keepalive-Ping-Interval`.
    pub default_keepalive: Duration,
    /// How long an exited process's end event stays available to `Connect`
    /// (`--exit-retention`).
    pub exit_retention: Duration,
    /// How many exited processes stay available at most, the oldest ended
    /// dropped first (`--exit-retention-max`): a burst of short commands
    /// must not keep thousands of them for the whole window.
    pub exit_retention_max: usize,
    /// How long to keep reading output after the process exited while
    /// something else (a background grandchild) still holds its pipes.
    pub exit_drain_grace: Duration,
    /// How long one subscriber may refuse output before it is cut off (with
    /// an error, never silently) so it cannot stall the process forever.
    pub subscriber_stall_limit: Duration,
    /// Bytes of output each stream of each process keeps for `Attach`
    /// replay (`--scrollback-bytes`; 0 keeps none).
    pub scrollback_bytes: usize,
    /// How long a terminal `Send` batch waits for an earlier one before it
    /// fails with `aborted` (`--pty-send-wait`).
    pub pty_send_wait: Duration,
    /// Idle time after which a keep-alive connection is closed.
    pub idle_timeout: Duration,
    /// cgroup v2 root (`--cgroup-root`): `/freeze` freezes cgroups under it.
    pub cgroup_root: PathBuf,
    /// The filesystem `/fsfreeze` freezes: the one this path is on
    /// (`--fsfreeze-path`, default `/`).
    pub fsfreeze_path: PathBuf,
    /// `/fsfreeze` thaws by itself after this long (`--fsfreeze-max`).
    pub fsfreeze_max: Duration,
    /// The system CA bundle `/init caBundle` appends to (`--ca-bundle`).
    pub ca_bundle: PathBuf,
    /// Where `/init caBundle` persists a copy (`--ca-cert`).
    pub ca_cert: PathBuf,
    /// How long one `/init volumeMounts` `mount` may take (`--mount-timeout`).
    pub mount_timeout: Duration,
    /// Run directory for marker files such as `.WRENN_SANDBOX` (`--run-dir`).
    pub run_dir: PathBuf,
    /// The hosts file `/init hyperloopIP` rewrites (`--hosts-file`).
    pub hosts_file: PathBuf,
    /// Kernel files the host integrations read and write.
    pub host_paths: HostPaths,
    /// Set the system clock from `/init timestamp` even when not PID 1
    /// (`--set-clock`); as PID 1 envd always does.
    pub set_clock: bool,
    /// CPU sampling period (spec §8.5: fixed at 1 s).
    pub cpu_sample_interval: Duration,
    /// Page-cache reclaimer period (`--reclaim-interval`).
    pub reclaim_interval: Duration,
    /// The reclaimer drops the page cache when `(MemTotal - MemFree)` exceeds
    /// this percentage of `MemTotal`.
    pub reclaim_threshold_pct: u8,
    /// After `/snapshot/prepare`, recover on our own after this long if no
    /// `/health` or `/init` arrives (`--snapshot-recover-timeout`).
    pub snapshot_recover_timeout: Duration,
    /// The binary `/upgrade` writes and execs (`--upgrade-bin`).
    pub upgrade_bin: PathBuf,
    /// Resume from the live-upgrade handover in this inherited fd
    /// (`--resume-handover`; set by the previous envd, never by hand).
    pub resume_handover: Option<i32>,
    /// Largest RPC request message, compressed or decompressed, on every
    /// protocol (`--max-message-size`). Checked before the message is
    /// buffered, so one request cannot grow envd past it; files travel on
    /// `/files`, which streams.
    pub max_message_bytes: usize,
}

/// Default [`Config::max_message_bytes`]: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The `/proc` and `/sys` files envd reads and writes, injectable so tests
/// can point them at temporary files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// `/proc/meminfo` (`--proc-meminfo`).
    pub meminfo: PathBuf,
    /// `/proc/stat` (`--proc-stat`).
    pub stat: PathBuf,
    /// `/proc/sys/vm/drop_caches` (`--drop-caches`).
    pub drop_caches: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            meminfo: PathBuf::from("/proc/meminfo"),
            stat: PathBuf::from("/proc/stat"),
            drop_caches: PathBuf::from("/proc/sys/vm/drop_caches"),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 49983),
            start_cmd: None,
            default_keepalive: Duration::from_secs(30),
            exit_retention: Duration::from_secs(60),
            exit_retention_max: 1024,
            exit_drain_grace: Duration::from_millis(1000),
            subscriber_stall_limit: Duration::from_secs(30),
            scrollback_bytes: 1 << 20,
            pty_send_wait: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(640),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            fsfreeze_path: PathBuf::from("/"),
            fsfreeze_max: Duration::from_secs(60),
            ca_bundle: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            ca_cert: PathBuf::from("/usr/local/share/ca-certificates/e2b-ca.crt"),
            mount_timeout: Duration::from_secs(10),
            run_dir: PathBuf::from("/run/wrenn"),
            hosts_file: PathBuf::from("/etc/hosts"),
            host_paths: HostPaths::default(),
            set_clock: false,
            cpu_sample_interval: Duration::from_secs(1),
            reclaim_interval: Duration::from_secs(5),
            reclaim_threshold_pct: 80,
            snapshot_recover_timeout: Duration::from_secs(60),
            upgrade_bin: PathBuf::from("/usr/bin/envd.next"),
            resume_handover: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// A command line that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// unknown flag: {0}
    #[error("unknown flag: {0}")]
    UnknownFlag(String),
    /// flag needs a value
    #[error("flag needs an argument: {0}")]
    MissingValue(String),
    /// bad value
    #[error("invalid value {value:?} for flag {flag}: {reason}")]
    InvalidValue {
        /// The flag.
        flag: String,
        /// What was given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// positional arguments are not accepted
    #[error("unexpected argument: {0}")]
    UnexpectedArgument(String),
}

/// Usage text for `--help` and usage errors.
pub const USAGE: &str = "\
usage: envd [flags]
  -port N           listen on 0.0.0.0:N (default 49983)
  -addr HOST:PORT   listen on this exact address (tests use 127.0.0.1:0)
  -cmd LINE         run LINE with /bin/bash -l -c at startup (tag startCmd)
  -cgroup-root DIR  cgroup v2 root (default /sys/fs/cgroup)
  -run-dir DIR      run directory for marker files (default /run/wrenn)
  -hosts-file PATH  hosts file /init hyperloopIP rewrites (default /etc/hosts)
  -proc-meminfo PATH, -proc-stat PATH, -drop-caches PATH
                    kernel files read and written (defaults under /proc)
  -set-clock        set the clock from /init timestamp (always when PID 1)
  -fsfreeze-path PATH  /fsfreeze freezes the filesystem PATH is on (default /)
  -fsfreeze-max DUR    thaw a /fsfreeze by itself after DUR (default 60s)
  -ca-bundle PATH   CA bundle /init caBundle appends to
                    (default /etc/ssl/certs/ca-certificates.crt)
  -ca-cert PATH     copy of /init caBundle
                    (default /usr/local/share/ca-certificates/e2b-ca.crt)
  -mount-timeout DUR  limit for each /init volumeMounts mount (default 10s)
  -exit-retention DUR  Connect answers an ended process for DUR (default 60s)
  -exit-retention-max N  ended processes kept at most, oldest dropped first
                    (default 1024)
  -reclaim-interval DUR          page-cache reclaimer period (default 5s)
  -snapshot-recover-timeout DUR  recover this long after /snapshot/prepare
                                 without /health or /init (default 60s)
  -upgrade-bin PATH binary /upgrade writes and execs (default /usr/bin/envd.next)
  -scrollback-bytes BYTES  output each stream keeps for Pty Attach replay
                    (default 1048576; 0 keeps none)
  -pty-send-wait DUR  how long a Pty Send batch waits for an earlier one
                    (default 5s)
  -max-message-size BYTES  largest RPC request message, also once
                    decompressed (default 16777216)
  -version          print the version and exit
  -commit           print the build commit and exit
Flags take one or two dashes, and `-flag=value` or `-flag value`.";

impl Invocation {
    /// Parses arguments (without the program name) the way Go's `flag`
    /// package does: `-f`, `--f`, `-f=v` and `-f v` are all accepted, because
    /// template builders run `envd -version`.
    pub fn parse<I, S>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut config = Config::default();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                return Err(ConfigError::UnexpectedArgument(arg));
            };
            if flag.is_empty() {
                return Err(ConfigError::UnexpectedArgument(arg));
            }
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (flag.to_owned(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| ConfigError::MissingValue(name.to_owned()))
            };
            match name.as_str() {
                "version" | "v" => return Ok(Self::Version),
                "commit" => return Ok(Self::Commit),
                "help" | "h" => return Ok(Self::Help),
                "port" => {
                    let v = value("port")?;
                    let port = v.parse::<u16>().map_err(|e| ConfigError::InvalidValue {
                        flag: name.clone(),
                        value: v.clone(),
                        reason: e.to_string(),
                    })?;
                    config.listen.set_port(port);
                }
                "addr" => {
                    let v = value("addr")?;
                    config.listen = v.parse().map_err(|e: std::net::AddrParseError| {
                        ConfigError::InvalidValue {
                            flag: name.clone(),
                            value: v.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                }
                "cmd" => {
                    let v = value("cmd")?;
                    config.start_cmd = (!v.is_empty()).then_some(v);
                }
                "upgrade-bin" => config.upgrade_bin = PathBuf::from(value("upgrade-bin")?),
                "resume-handover" | "check-handover-schema" => {
                    let v = value(&name)?;
                    let invalid = |reason: &str| ConfigError::InvalidValue {
                        flag: name.clone(),
                        value: v.clone(),
                        reason: reason.to_owned(),
                    };
                    if name == "resume-handover" {
                        config.resume_handover =
                            Some(v.parse().map_err(|_| invalid("expected an fd number"))?);
                    } else {
                        return Ok(Self::CheckHandoverSchema(
                            v.parse().map_err(|_| invalid("expected a schema number"))?,
                        ));
                    }
                }
                "max-message-size" => {
                    let v = value(&name)?;
                    config.max_message_bytes = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0 && u32::try_from(*n).is_ok())
                        .ok_or_else(|| ConfigError::InvalidValue {
                            flag: name.clone(),
                            value: v.clone(),
                            reason: "expected a byte count from 1 to 4294967295".to_owned(),
                        })?;
                }
                "scrollback-bytes" => {
                    let v = value(&name)?;
                    config.scrollback_bytes = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| u32::try_from(*n).is_ok())
                        .ok_or_else(|| ConfigError::InvalidValue {
                            flag: name.clone(),
                            value: v.clone(),
                            reason: "expected a byte count from 0 to 4294967295".to_owned(),
                        })?;
                }
                "exit-retention-max" => {
                    let v = value(&name)?;
                    config.exit_retention_max =
                        v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                            ConfigError::InvalidValue {
                                flag: name.clone(),
                                value: v.clone(),
                                reason: "expected a positive count".to_owned(),
                            }
                        })?;
                }
                "cgroup-root" => config.cgroup_root = PathBuf::from(value("cgroup-root")?),
                "run-dir" => config.run_dir = PathBuf::from(value("run-dir")?),
                "hosts-file" => config.hosts_file = PathBuf::from(value("hosts-file")?),
                "fsfreeze-path" => config.fsfreeze_path = PathBuf::from(value("fsfreeze-path")?),
                "ca-bundle" => config.ca_bundle = PathBuf::from(value("ca-bundle")?),
                "ca-cert" => config.ca_cert = PathBuf::from(value("ca-cert")?),
                "proc-meminfo" => config.host_paths.meminfo = PathBuf::from(value("proc-meminfo")?),
                "proc-stat" => config.host_paths.stat = PathBuf::from(value("proc-stat")?),
                "drop-caches" => {
                    config.host_paths.drop_caches = PathBuf::from(value("drop-caches")?)
                }
                "set-clock" => {
                    // A Go bool flag: `-set-clock` alone or `-set-clock=true|false`.
                    config.set_clock = match inline.as_deref() {
                        None => true,
                        Some(v) => parse_bool(v).ok_or_else(|| ConfigError::InvalidValue {
                            flag: name.clone(),
                            value: v.to_owned(),
                            reason: "expected true or false".to_owned(),
                        })?,
                    };
                }
                "reclaim-interval"
                | "snapshot-recover-timeout"
                | "fsfreeze-max"
                | "mount-timeout"
                | "pty-send-wait"
                | "exit-retention" => {
                    let v = value(&name)?;
                    let d = parse_duration(&v).ok_or_else(|| ConfigError::InvalidValue {
                        flag: name.clone(),
                        value: v.clone(),
                        reason: "expected a positive duration such as 500ms, 5s or 1m".to_owned(),
                    })?;
                    match name.as_str() {
                        "reclaim-interval" => config.reclaim_interval = d,
                        "snapshot-recover-timeout" => config.snapshot_recover_timeout = d,
                        "fsfreeze-max" => config.fsfreeze_max = d,
                        "exit-retention" => config.exit_retention = d,
                        "pty-send-wait" => config.pty_send_wait = d,
                        _ => config.mount_timeout = d,
                    }
                }
                _ => return Err(ConfigError::UnknownFlag(arg)),
            }
        }
        Ok(Self::Run(config))
    }
}

/// Go `strconv.ParseBool` spellings.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A positive whole number followed by `ms`, `s`, `m` or `h`.
fn parse_duration(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = v.split_at(split);
    let n: u64 = number.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

/// Settings that `/init` may change while envd runs. Every request reads
/// them afresh, so a change applies to everything that follows.
#[derive(Debug, Default)]
pub struct RuntimeDefaults {
    inner: RwLock<Defaults>,
}

/// A snapshot of [`RuntimeDefaults`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// User for requests that name none.
    pub user: String,
    /// Substitutes an empty path or cwd.
    pub workdir: Option<PathBuf>,
    /// Environment for every spawned process (below the request's own).
    pub env_vars: BTreeMap<String, String>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            user: "root".to_owned(),
            workdir: None,
            env_vars: BTreeMap::new(),
        }
    }
}

impl RuntimeDefaults {
    /// The current values.
    pub fn snapshot(&self) -> Defaults {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Applies `f` to the stored values under the write lock.
    pub fn update(&self, f: impl FnOnce(&mut Defaults)) {
        f(&mut self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Config {
        match Invocation::parse(args.iter().copied()) {
            Ok(Invocation::Run(c)) => c,
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn version_accepts_go_style_single_dash() {
        assert_eq!(Invocation::parse(["-version"]), Ok(Invocation::Version));
        assert_eq!(Invocation::parse(["--version"]), Ok(Invocation::Version));
    }

    #[test]
    fn port_forms() {
        assert_eq!(run(&["-port", "8080"]).listen.port(), 8080);
        assert_eq!(run(&["--port=9090"]).listen.port(), 9090);
        assert_eq!(run(&[]).listen, "0.0.0.0:49983".parse().unwrap());
    }

    #[test]
    fn addr_and_cmd() {
        let c = run(&["--addr", "127.0.0.1:0", "-cmd", "echo hi"]);
        assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.start_cmd.as_deref(), Some("echo hi"));
    }

    #[test]
    fn host_integration_flags() {
        let c = run(&[]);
        assert_eq!(c.run_dir, PathBuf::from("/run/wrenn"));
        assert_eq!(c.hosts_file, PathBuf::from("/etc/hosts"));
        assert_eq!(c.host_paths, HostPaths::default());
        assert!(!c.set_clock);
        assert_eq!(c.reclaim_interval, Duration::from_secs(5));
        assert_eq!(c.snapshot_recover_timeout, Duration::from_secs(60));
        let c = run(&[
            "-run-dir=/tmp/r",
            "--hosts-file",
            "/tmp/h",
            "-proc-meminfo",
            "/tmp/m",
            "-proc-stat=/tmp/s",
            "-drop-caches",
            "/tmp/d",
            "-set-clock",
            "-reclaim-interval",
            "250ms",
            "-snapshot-recover-timeout=2m",
        ]);
        assert_eq!(c.run_dir, PathBuf::from("/tmp/r"));
        assert_eq!(c.hosts_file, PathBuf::from("/tmp/h"));
        assert_eq!(c.host_paths.meminfo, PathBuf::from("/tmp/m"));
        assert_eq!(c.host_paths.stat, PathBuf::from("/tmp/s"));
        assert_eq!(c.host_paths.drop_caches, PathBuf::from("/tmp/d"));
        assert!(c.set_clock);
        assert_eq!(c.reclaim_interval, Duration::from_millis(250));
        assert_eq!(c.snapshot_recover_timeout, Duration::from_secs(120));
        assert!(!run(&["-set-clock=false"]).set_clock);
        for bad in ["0s", "5", "s", "-1s", "1.5s", "5x"] {
            assert!(
                matches!(
                    Invocation::parse(["-reclaim-interval", bad]),
                    Err(ConfigError::InvalidValue { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn max_message_size() {
        assert_eq!(run(&[]).max_message_bytes, 16 * 1024 * 1024);
        assert_eq!(
            run(&["-max-message-size=1048576"]).max_message_bytes,
            1 << 20
        );
        for bad in ["0", "-1", "1MiB", "4294967296", ""] {
            assert!(
                matches!(
                    Invocation::parse(["-max-message-size", bad]),
                    Err(ConfigError::InvalidValue { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn exit_retention_flags() {
        let c = run(&[]);
        assert_eq!(
            (c.exit_retention, c.exit_retention_max),
            (Duration::from_secs(60), 1024)
        );
        let c = run(&["--exit-retention=5s", "-exit-retention-max", "8"]);
        assert_eq!(
            (c.exit_retention, c.exit_retention_max),
            (Duration::from_secs(5), 8)
        );
        for bad in [["-exit-retention-max", "0"], ["-exit-retention", "0s"]] {
            assert!(
                matches!(
                    Invocation::parse(bad),
                    Err(ConfigError::InvalidValue { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lifecycle_flags() {
        let c = run(&[]);
        assert_eq!(c.fsfreeze_path, PathBuf::from("/"));
        assert_eq!(c.fsfreeze_max, Duration::from_secs(60));
        assert_eq!(
            c.ca_bundle,
            PathBuf::from("/etc/ssl/certs/ca-certificates.crt")
        );
        assert_eq!(
            c.ca_cert,
            PathBuf::from("/usr/local/share/ca-certificates/e2b-ca.crt")
        );
        assert_eq!(c.mount_timeout, Duration::from_secs(10));
        let c = run(&[
            "-fsfreeze-path",
            "/mnt/x",
            "--fsfreeze-max=2s",
            "-ca-bundle=/tmp/b",
            "-ca-cert",
            "/tmp/c",
            "-mount-timeout",
            "500ms",
            "-cgroup-root",
            "/tmp/cg",
        ]);
        assert_eq!(c.fsfreeze_path, PathBuf::from("/mnt/x"));
        assert_eq!(c.fsfreeze_max, Duration::from_secs(2));
        assert_eq!(c.ca_bundle, PathBuf::from("/tmp/b"));
        assert_eq!(c.ca_cert, PathBuf::from("/tmp/c"));
        assert_eq!(c.mount_timeout, Duration::from_millis(500));
        assert_eq!(c.cgroup_root, PathBuf::from("/tmp/cg"));
        for flag in ["-fsfreeze-max", "-mount-timeout"] {
            assert!(matches!(
                Invocation::parse([flag, "0s"]),
                Err(ConfigError::InvalidValue { .. })
            ));
        }
    }

    #[test]
    fn live_upgrade_flags() {
        let c = run(&[]);
        assert_eq!(c.upgrade_bin, PathBuf::from("/usr/bin/envd.next"));
        assert_eq!(c.resume_handover, None);
        let c = run(&["-upgrade-bin", "/tmp/next", "--resume-handover=7"]);
        assert_eq!(c.upgrade_bin, PathBuf::from("/tmp/next"));
        assert_eq!(c.resume_handover, Some(7));
        assert_eq!(
            Invocation::parse(["--check-handover-schema", "1"]),
            Ok(Invocation::CheckHandoverSchema(1))
        );
        assert!(matches!(
            Invocation::parse(["--resume-handover", "x"]),
            Err(ConfigError::InvalidValue { .. })
        ));
    }

    #[test]
    fn rejects_unknown_and_removed_flags() {
        assert_eq!(
            Invocation::parse(["--isnotfc"]),
            Err(ConfigError::UnknownFlag("--isnotfc".into()))
        );
        assert!(matches!(
            Invocation::parse(["-port"]),
            Err(ConfigError::MissingValue(_))
        ));
        assert!(matches!(
            Invocation::parse(["-port", "x"]),
            Err(ConfigError::InvalidValue { .. })
        ));
    }
}

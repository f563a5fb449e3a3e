//! `envd-bench`: measures any envd (ours or E2B's Go one) over its wire
//! protocol only, and prints one table (or `--json`). `--smoke` runs every
//! figure at toy sizes and fails on any wrong byte or missing event.

mod concurrency;
mod envd;
mod exec;
mod files;
mod idle;
mod local;
mod pattern;
mod pty;
mod report;
mod rpc;
mod startup;
mod stdout;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use report::Report;
use wire::{Result, Target};

const USAGE: &str = "\
usage: envd-bench [--url http://HOST:PORT | --envd-bin PATH] [options]

  --url URL           envd to measure (default: the one --envd-bin starts)
  --envd-bin PATH     start this envd (scratch paths, free port on 127.0.0.1);
                      also enables the cold-start and binary-size figures
  --pid PID           envd's pid, for memory and CPU figures (default: found
                      from the listening port when envd is local)
  --token TOKEN       X-Access-Token
  --user USER         user to run as (Basic auth; /files username=), default root
  --runs N            sequential exec round trips per case (default 200;
                      a quarter of that for bash -l)
  --clients N         concurrent clients (default 64)
  --duration SECS     concurrency run time (default 10)
  --bytes N           stdout and /files size (default 1073741824)
  --idle-streams N    idle Start streams (default 1000)
  --keystrokes N      PTY keystrokes (default 500)
  --cold-starts N     envd starts for the cold-start figure (default 20)
  --only LIST         comma-separated subset of: exec,concurrency,stdout,files,idle,pty,startup
  --smoke             tiny sizes, correctness only; non-zero exit on any error
  --json              print JSON instead of the table";

/// Every figure, in the order they run.
const FIGURES: [&str; 7] = [
    "startup",
    "exec",
    "concurrency",
    "stdout",
    "files",
    "idle",
    "pty",
];

/// What the figures need: the target, envd's pid when local, and sizes.
#[derive(Debug)]
pub(crate) struct Bench {
    pub(crate) target: Target,
    pub(crate) pid: Option<u32>,
    pub(crate) envd_bin: Option<PathBuf>,
    pub(crate) runs: usize,
    pub(crate) clients: usize,
    pub(crate) duration: Duration,
    pub(crate) bytes: u64,
    pub(crate) idle_streams: usize,
    pub(crate) keystrokes: usize,
    pub(crate) cold_starts: usize,
}

/// The command line.
#[derive(Debug)]
struct Args {
    url: Option<String>,
    envd_bin: Option<PathBuf>,
    pid: Option<u32>,
    token: Option<String>,
    user: String,
    runs: Option<usize>,
    clients: Option<usize>,
    duration: Option<u64>,
    bytes: Option<u64>,
    idle_streams: Option<usize>,
    keystrokes: Option<usize>,
    cold_starts: Option<usize>,
    only: Vec<String>,
    smoke: bool,
    json: bool,
}

impl Args {
    fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Self>> {
        let mut args = Self {
            url: None,
            envd_bin: None,
            pid: None,
            token: None,
            user: "root".into(),
            runs: None,
            clients: None,
            duration: None,
            bytes: None,
            idle_streams: None,
            keystrokes: None,
            cold_starts: None,
            only: FIGURES.iter().map(|f| (*f).to_owned()).collect(),
            smoke: false,
            json: false,
        };
        while let Some(arg) = argv.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| argv.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--url" => args.url = Some(value()?),
                "--envd-bin" => args.envd_bin = Some(value()?.into()),
                "--pid" => args.pid = Some(value()?.parse()?),
                "--token" => args.token = Some(value()?),
                "--user" => args.user = value()?,
                "--runs" => args.runs = Some(value()?.parse()?),
                "--clients" => args.clients = Some(value()?.parse()?),
                "--duration" => args.duration = Some(value()?.parse()?),
                "--bytes" => args.bytes = Some(value()?.parse()?),
                "--idle-streams" => args.idle_streams = Some(value()?.parse()?),
                "--keystrokes" => args.keystrokes = Some(value()?.parse()?),
                "--cold-starts" => args.cold_starts = Some(value()?.parse()?),
                "--only" => {
                    args.only = value()?.split(',').map(|s| s.trim().to_owned()).collect();
                    if let Some(bad) = args.only.iter().find(|f| !FIGURES.contains(&f.as_str())) {
                        return Err(format!(
                            "unknown figure {bad:?}; figures: {}",
                            FIGURES.join(",")
                        )
                        .into());
                    }
                }
                "--smoke" => args.smoke = true,
                "--json" => args.json = true,
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument {other:?}\n{USAGE}").into()),
            }
        }
        if args.url.is_none() && args.envd_bin.is_none() {
            return Err(format!("give --url or --envd-bin\n{USAGE}").into());
        }
        Ok(Some(args))
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("envd-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("envd-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("envd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the chosen figures; `Ok(true)` when any of them failed.
async fn run(args: Args) -> Result<bool> {
    let began = Instant::now();
    let smoke = args.smoke;
    // The envd under test: the given URL, or one started from --envd-bin.
    let launched = match (&args.url, &args.envd_bin) {
        (None, Some(bin)) => {
            let bin = bin.clone();
            Some(
                tokio::task::spawn_blocking(move || envd::Launched::start(&bin))
                    .await??
                    .0,
            )
        }
        _ => None,
    };
    let url = match (&args.url, &launched) {
        (Some(url), _) => url.clone(),
        (None, Some(launched)) => launched.url.clone(),
        (None, None) => unreachable!("Args::parse requires --url or --envd-bin"),
    };
    let target = Target::new(&url, args.token.as_deref(), &args.user).await?;
    let pid = args
        .pid
        .or_else(|| launched.as_ref().map(envd::Launched::pid))
        .or_else(|| {
            target
                .addr
                .ip()
                .is_loopback()
                .then(|| local::find_pid_by_port(target.addr.port()))
                .flatten()
        });
    let pick = |given: Option<usize>, full: usize, toy: usize| {
        given.unwrap_or(if smoke { toy } else { full })
    };
    let bench = Bench {
        target,
        pid,
        envd_bin: args.envd_bin.clone(),
        runs: pick(args.runs, 200, 5),
        clients: pick(args.clients, 64, 2),
        duration: Duration::from_secs(args.duration.unwrap_or(if smoke { 1 } else { 10 })),
        bytes: args.bytes.unwrap_or(if smoke { 4 << 20 } else { 1 << 30 }),
        idle_streams: pick(args.idle_streams, 1000, 20),
        keystrokes: pick(args.keystrokes, 500, 20),
        cold_starts: pick(args.cold_starts, 20, 3),
    };
    let mut report = Report::default();
    report.context.push(("envd".into(), url.clone()));
    report.context.push((
        "version".into(),
        startup::version(&bench)
            .await
            .unwrap_or_else(|e| format!("? ({e})")),
    ));
    report.context.push((
        "pid".into(),
        bench
            .pid
            .map_or_else(|| "n/a (not local)".into(), |p| p.to_string()),
    ));
    report
        .context
        .push(("mode".into(), if smoke { "smoke" } else { "full" }.into()));
    report.context.push((
        "cpus".into(),
        std::thread::available_parallelism()
            .map_or(0, usize::from)
            .to_string(),
    ));
    for figure in FIGURES.iter().filter(|f| args.only.iter().any(|o| o == *f)) {
        eprintln!("envd-bench: {figure}…");
        let result = match *figure {
            "startup" => startup::run(&bench, &mut report).await,
            "exec" => exec::run(&bench, &mut report).await,
            "concurrency" => concurrency::run(&bench, &mut report).await,
            "stdout" => stdout::run(&bench, &mut report).await,
            "files" => files::run(&bench, &mut report).await,
            "idle" => idle::run(&bench, &mut report).await,
            "pty" => pty::run(&bench, &mut report).await,
            _ => unreachable!("FIGURES lists every figure"),
        };
        if let Err(e) = result {
            report.fail(figure, e);
        }
    }
    if args.only.iter().any(|f| f == "startup") {
        startup::idle_after(&bench, &mut report).await;
    }
    report.context.push((
        "bench time".into(),
        format!("{:.1} s", began.elapsed().as_secs_f64()),
    ));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        print!("{}", report.table());
    }
    if let Some(launched) = launched {
        tokio::task::spawn_blocking(move || launched.stop()).await?;
    }
    Ok(report.failed())
}

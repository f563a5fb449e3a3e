//! Fault and soak suite (#11 item 8): rounds of concurrent starts whose
//! clients are killed mid-stream beside runs whose every byte is checked,
//! slow readers, aborted uploads, uploads to a full disk and many idle
//! streams, against one envd; then SIGTERM with streams open. Afterwards
//! envd holds no more descriptors, threads, zombies or temporary files
//! than before, and its resident memory is back near where it started.
//!
//! `cargo test --test soak` is the bounded smoke CI runs (one round, 200
//! idle streams); `make soak` runs rounds for `ENVD_SOAK_SECONDS` with
//! `ENVD_SOAK_IDLE_STREAMS` idle streams. It prints its figures.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "test: a failed unwrap is a failed test; figures are approximate"
)]

// The harness of `tests/it`, shared.
#[path = "it/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::Envd;
use crate::support::files::upload;
use crate::support::mounts::Tmpfs;
use crate::support::process::start_req;
use crate::support::process::{START, pid_of};
use crate::support::procfs::memory;
use crate::support::procfs::{children_of, fd_targets};
use crate::support::s;
use crate::support::{STEP, eventually};
use bytes::Bytes;

const MIB: u64 = 1024 * 1024;
const OCTET: (&str, &str) = ("content-type", "application/octet-stream");

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map_or(default, |v| {
        v.parse().unwrap_or_else(|_| panic!("{name}={v}"))
    })
}

/// What envd holds: descriptors other than sockets, sockets (connections
/// a client keeps alive are not leaks), threads, resident bytes.
#[derive(Debug, Clone, Copy)]
struct Held {
    fds: usize,
    sockets: usize,
    threads: usize,
    rss: u64,
}

fn held(pid: u32) -> Held {
    let kinds = fd_kinds(pid);
    let sockets = kinds.get("socket").copied().unwrap_or(0);
    Held {
        fds: kinds.values().sum::<usize>() - sockets,
        sockets,
        threads: std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .count(),
        rss: memory(pid).0,
    }
}

/// Sockets this test process holds (its clients' kept-alive connections).
fn own_sockets() -> usize {
    fd_kinds(std::process::id())
        .get("socket")
        .copied()
        .unwrap_or(0)
}

/// What envd's descriptors point at, counted by kind (`socket`, `pipe`,
/// `anon_inode:[pidfd]`, paths).
/// Each thread's name, state and where it sleeps in the kernel, so a
/// lingering thread says what it waits for.
fn thread_states(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .map(|task| {
            let read = |file: &str| {
                std::fs::read_to_string(task.path().join(file))
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            };
            let state = read("stat")
                .rsplit_once(") ")
                .map(|(_, rest)| rest.chars().next().unwrap_or('?'))
                .unwrap_or('?');
            format!("{} {state} {}", read("comm"), read("wchan"))
        })
        .collect()
}

fn fd_kinds(pid: u32) -> std::collections::BTreeMap<String, usize> {
    let mut kinds = std::collections::BTreeMap::new();
    for target in fd_targets(pid) {
        let kind = target.split(":[").next().unwrap_or("?").to_owned();
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

/// envd's user + system CPU time so far, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// `seq 1 n` as the program prints it.
fn seq_output(n: u32) -> Vec<u8> {
    (1..=n)
        .map(|i| format!("{i}\n"))
        .collect::<String>()
        .into_bytes()
}

#[derive(Debug, Default)]
struct Figures {
    commands: usize,
    killed_clients: usize,
    bytes_checked: usize,
    aborted_uploads: usize,
    full_disk_refusals: usize,
    idle_streams_rss: u64,
    idle_streams_cpu_ticks: u64,
    peak_rss: u64,
    rss_after_rounds: Vec<u64>,
}

/// 32 starts whose clients vanish after the first event, beside 32 runs
/// read to the end whose output must be exact.
async fn killed_clients_beside_checked_runs(envd: &Envd, figures: &mut Figures) {
    let expected = seq_output(20_000);
    let killed = (0..32).map(|_| async {
        let mut frames = envd
            .stream(
                START,
                start_req("/bin/sh", &["-c", "seq 1 20000; sleep 0.3"]),
                &[],
            )
            .await;
        frames.start_pid().await;
        // Dropped here: the client is gone mid-stream.
    });
    let checked = (0..32).map(|_| async {
        let run = envd.run(start_req("seq", &["1", "20000"])).await;
        let end = run.end().cloned().unwrap_or_default();
        assert_eq!(end["exitCode"].as_i64().unwrap_or(0), 0, "{end}");
        assert_eq!(run.output("stdout"), expected, "every byte, in order");
    });
    let (_, _) = tokio::join!(
        futures::future::join_all(killed),
        futures::future::join_all(checked)
    );
    figures.commands += 64;
    figures.killed_clients += 32;
    figures.bytes_checked += 32 * expected.len();
}

/// A reader that pauses between messages gets every byte of a large
/// output (envd holds the process back instead of dropping output).
async fn slow_reader(envd: &Envd, figures: &mut Figures) {
    let expected = seq_output(300_000);
    let mut frames = envd
        .stream(START, start_req("seq", &["1", "300000"]), &[])
        .await;
    let mut out = Vec::new();
    let mut messages = 0;
    loop {
        let frame = frames.next_within(STEP).await.expect("end-of-stream frame");
        if frame.flags & 0x02 != 0 {
            assert!(frame.json.get("error").is_none(), "{}", frame.json);
            break;
        }
        out.extend(crate::support::process::output(
            std::slice::from_ref(&frame.json),
            "stdout",
        ));
        messages += 1;
        if messages < 50 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert_eq!(out.len(), expected.len());
    assert!(out == expected, "slow reader lost or reordered bytes");
    figures.commands += 1;
    figures.bytes_checked += expected.len();
}

/// Uploads cut off mid-body leave neither the target nor a temporary.
async fn aborted_uploads(envd: &Envd, dir: &Path, figures: &mut Figures) {
    for i in 0..8 {
        let target = dir.join(format!("aborted-{i}.bin"));
        let chunks: Vec<std::io::Result<Bytes>> = vec![
            Ok(Bytes::from(vec![1u8; MIB as usize])),
            Ok(Bytes::from(vec![2u8; MIB as usize])),
            Err(std::io::Error::other("client gave up")),
        ];
        let result = envd
            .http
            .post(envd.url("/files"))
            .query(&[("path", s(&target))])
            .header(OCTET.0, OCTET.1)
            .header("content-length", (8 * MIB).to_string())
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await;
        assert!(
            result.is_err(),
            "an aborted body is not answered 2xx: {result:?}"
        );
        figures.aborted_uploads += 1;
    }
    let leftovers = || {
        let names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        names.is_empty().then_some(())
    };
    eventually(STEP, "aborted uploads leave nothing behind", leftovers).await;
}

/// An upload larger than the free space is 507 and leaves nothing; the
/// next one that fits succeeds.
async fn full_disk(envd: &Envd, disk: &Tmpfs, figures: &mut Figures) {
    let target = disk.path().join("big.bin");
    let r = upload(
        envd,
        &[("path", s(&target))],
        &[OCTET],
        vec![7u8; 2 * MIB as usize],
    )
    .await;
    r.error(507);
    assert!(
        disk.entries().is_empty(),
        "left behind: {:?}",
        disk.entries()
    );
    let small = disk.path().join("small.bin");
    let r = upload(envd, &[("path", s(&small))], &[OCTET], vec![8u8; 4096]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    std::fs::remove_file(&small).unwrap();
    figures.full_disk_refusals += 1;
}

/// `n` idle `Start` streams on sleeping processes, spread over h2c
/// connections: envd's resident growth and CPU while they idle; then the
/// processes are killed.
async fn idle_streams(envd: &Envd, n: usize, figures: &mut Figures) {
    let clients: Vec<reqwest::Client> = (0..n.div_ceil(100))
        .map(|_| {
            reqwest::Client::builder()
                .http2_prior_knowledge()
                .build()
                .unwrap()
        })
        .collect();
    let before = memory(envd.pid()).0;
    let opened = futures::future::join_all((0..n).map(|i| {
        let client = &clients[i / 100];
        async move {
            let mut frames = envd
                .stream_on(client, START, start_req("sleep", &["600"]), &[])
                .await;
            let pid = frames.start_pid().await;
            (pid, frames)
        }
    }))
    .await;
    let ticks = cpu_ticks(envd.pid());
    tokio::time::sleep(Duration::from_secs(2)).await;
    figures.idle_streams_cpu_ticks = figures
        .idle_streams_cpu_ticks
        .max(cpu_ticks(envd.pid()) - ticks);
    figures.idle_streams_rss = figures
        .idle_streams_rss
        .max(memory(envd.pid()).0.saturating_sub(before));
    figures.peak_rss = figures.peak_rss.max(memory(envd.pid()).0);
    for (pid, _) in &opened {
        envd.kill(*pid).await;
    }
    drop(opened);
    figures.commands += n;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak() {
    let seconds = setting("ENVD_SOAK_SECONDS", 0);
    let idle = setting("ENVD_SOAK_IDLE_STREAMS", 200) as usize;
    let mut envd = Envd::start();
    let pid = envd.pid();
    let uploads = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount("size=1m");
    // Warm up every path once so lazily built state counts as the baseline.
    envd.run(start_req("true", &[])).await;
    let mut scratch = Figures::default();
    full_disk(&envd, &disk, &mut scratch).await;
    let start = held(pid);
    // envd's listening sockets (the live-upgrade handover keeps a duplicate).
    let listening = start.sockets.saturating_sub(own_sockets());

    let mut figures = Figures::default();
    let began = Instant::now();
    let mut rounds = 0;
    loop {
        killed_clients_beside_checked_runs(&envd, &mut figures).await;
        slow_reader(&envd, &mut figures).await;
        aborted_uploads(&envd, uploads.path(), &mut figures).await;
        full_disk(&envd, &disk, &mut figures).await;
        idle_streams(&envd, idle, &mut figures).await;
        figures.peak_rss = figures.peak_rss.max(memory(pid).1);
        rounds += 1;
        figures.rss_after_rounds.push(memory(pid).0);
        if began.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
    }

    // Everything ends: no zombies, no extra descriptors or threads (the
    // blocking pool's idle threads exit after 10 s), memory back near
    // where it was once ended processes are no longer retained for
    // `Connect` (60 s after their end).
    let settle = Duration::from_secs(90);
    eventually(settle, "every command is reaped", || {
        children_of(pid).is_empty().then_some(())
    })
    .await;
    let deadline = Instant::now() + settle;
    let (end, kept) = loop {
        let now = held(pid);
        // The listener, and one end of each connection the test keeps.
        let back = now.fds <= start.fds
            && now.sockets <= listening + own_sockets()
            && now.threads <= start.threads;
        if back && now.rss < start.rss + 16 * MIB {
            break (now, own_sockets());
        }
        assert!(
            Instant::now() < deadline,
            "envd still holds {now:?} {settle:?} after the rounds (before: {start:?}): {:?}, \
             the test holds {} sockets; resident after each round: {:?}; threads: {:?}",
            fd_kinds(pid),
            own_sockets(),
            figures.rss_after_rounds,
            thread_states(pid),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // SIGTERM with streams open: each ends with `unavailable`, envd exits.
    let mut open = Vec::new();
    for _ in 0..20 {
        let mut frames = envd.stream(START, start_req("sleep", &["600"]), &[]).await;
        let first = frames.message().await;
        open.push((pid_of(&first), frames));
    }
    envd.sigterm();
    for (_, frames) in &mut open {
        let last = loop {
            let frame = frames
                .next_within(STEP)
                .await
                .expect("an end-of-stream frame");
            if frame.flags & 0x02 != 0 {
                break frame.json;
            }
        };
        assert_eq!(last["error"]["code"], "unavailable", "{last}");
    }
    assert!(
        envd.exit_within(Duration::from_secs(5)).is_some(),
        "envd exits"
    );
    for (child, _) in &open {
        // Commands outlive envd by design; the test cleans up its own.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(*child).unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    eprintln!(
        "soak: {rounds} round(s) in {:.1} s — {} commands ({} clients killed mid-stream), \
         {:.1} MiB of output checked byte for byte, {} aborted uploads, {} full-disk refusals; \
         {idle} idle streams: +{:.1} MiB resident, {} CPU ticks (1/100 s) in 2 s idle; \
         envd peak {:.1} MiB; before → after: non-socket fds {} → {}, sockets {} → {} \
         (the test keeps {}), threads {} → {}, resident {:.1} → {:.1} MiB, no zombies; \
         SIGTERM ended 20 open streams with unavailable; resident after each round (MiB): {:?}",
        began.elapsed().as_secs_f64(),
        figures.commands,
        figures.killed_clients,
        figures.bytes_checked as f64 / MIB as f64,
        figures.aborted_uploads,
        figures.full_disk_refusals,
        figures.idle_streams_rss as f64 / MIB as f64,
        figures.idle_streams_cpu_ticks,
        figures.peak_rss as f64 / MIB as f64,
        start.fds,
        end.fds,
        start.sockets,
        end.sockets,
        kept,
        start.threads,
        end.threads,
        start.rss as f64 / MIB as f64,
        end.rss as f64 / MIB as f64,
        figures
            .rss_after_rounds
            .iter()
            .map(|r| (*r as f64 / MIB as f64 * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
    );
}

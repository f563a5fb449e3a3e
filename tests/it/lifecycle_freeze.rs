//! `POST /freeze` and `/unfreeze` (spec §5.8) against a cgroup v2 subtree
//! this test creates, with processes started through envd.
//!
//! Safety: envd's `--cgroup-root` is the test's own subtree
//! (`<cgroup2 mount>/envd-test-<random>`); nothing outside it is written,
//! and [`Subtree`]'s drop thaws, kills and removes everything in it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::Envd;
use crate::support::frames::Frames;
use crate::support::process::START;
use serde_json::{Value, json};

/// A cgroup subtree made for one test, removed on drop.
struct Subtree {
    root: PathBuf,
}

/// The cgroup v2 mount point, from /proc/self/mountinfo.
fn cgroup2_mount() -> PathBuf {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split(' ').next()? == "cgroup2").then_some(())?;
            left.split(' ').nth(4).map(PathBuf::from)
        })
        .expect(
            "this test needs a cgroup v2 hierarchy (none is mounted; see `mount | grep cgroup`)",
        )
}

impl Subtree {
    fn create(children: &[&str]) -> Self {
        let root = cgroup2_mount().join(format!("envd-test-{:016x}", fastrand::u64(..)));
        std::fs::create_dir(&root).unwrap_or_else(|e| {
            panic!(
                "this test needs a writable cgroup v2 hierarchy: mkdir {}: {e}",
                root.display()
            )
        });
        let tree = Self { root };
        for child in children {
            std::fs::create_dir_all(tree.root.join(child)).unwrap();
        }
        tree
    }

    fn path(&self, child: &str) -> PathBuf {
        self.root.join(child)
    }

    /// Every cgroup below the root, deepest first.
    fn all(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&entry.path(), out);
                    out.push(entry.path());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }
}

impl Drop for Subtree {
    fn drop(&mut self) {
        let mut all = self.all();
        all.push(self.root.clone());
        for cgroup in &all {
            let _ = std::fs::write(cgroup.join("cgroup.freeze"), "0");
            let _ = std::fs::write(cgroup.join("cgroup.kill"), "1");
        }
        // Killed processes take a moment to leave their cgroups.
        let deadline = Instant::now() + Duration::from_secs(10);
        for cgroup in &all {
            while std::fs::remove_dir(cgroup).is_err() && cgroup.exists() {
                if Instant::now() > deadline {
                    eprintln!("could not remove {}", cgroup.display());
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn events_frozen(cgroup: &Path) -> bool {
    std::fs::read_to_string(cgroup.join("cgroup.events"))
        .unwrap()
        .lines()
        .any(|l| l == "frozen 1")
}

fn freeze_flag(cgroup: &Path) -> String {
    std::fs::read_to_string(cgroup.join("cgroup.freeze"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Starts, through envd, a shell that moves itself into `cgroup` and then
/// writes an increasing counter to `counter` every 20 ms. The stream is
/// returned so the process stays attached.
async fn counter_in(envd: &Envd, cgroup: &Path, counter: &Path) -> Frames {
    let script = format!(
        "echo $$ > '{}/cgroup.procs' || exit 1; i=0; while :; do i=$((i+1)); echo $i > '{}'; sleep 0.02; done",
        cgroup.display(),
        counter.display()
    );
    let mut stream = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", script]}, "stdin": false}),
            &[],
        )
        .await;
    stream.start_pid().await;
    stream
}

fn read_counter(counter: &Path) -> u64 {
    std::fs::read_to_string(counter)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits (up to 10 s) until the counter passes its current value.
async fn assert_advances(counter: &Path) {
    let from = read_counter(counter);
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_counter(counter) <= from {
        assert!(
            Instant::now() < deadline,
            "{} stuck at {from}",
            counter.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The counter of a frozen process does not move (several of its 20 ms
/// periods pass between the reads).
async fn assert_stopped(counter: &Path) {
    let before = read_counter(counter);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        read_counter(counter),
        before,
        "{} still counting",
        counter.display()
    );
}

async fn post(envd: &Envd, path: &str) -> reqwest::Response {
    envd.http.post(envd.url(path)).send().await.unwrap()
}

async fn freeze_json(envd: &Envd, query: &str) -> Value {
    let resp = post(envd, &format!("/freeze?{query}")).await;
    assert_eq!(resp.status(), 200, "/freeze?{query}");
    resp.json().await.unwrap()
}

/// envd itself still answers HTTP and RPCs while the cgroups are frozen.
/// (It cannot spawn: new commands join the frozen `user` cgroup, as in
/// E2B's envd.)
async fn assert_envd_alive(envd: &Envd) {
    let resp = envd.http.get(envd.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (status, body) = envd
        .unary("filesystem.Filesystem/Stat", json!({"path": "/"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entry"]["type"], "FILE_TYPE_DIRECTORY", "{body}");
}

#[tokio::test]
async fn legacy_freezes_user_and_ptys_and_unfreeze_thaws() {
    let tree = Subtree::create(&["user", "ptys", "socats"]);
    let scratch = tempfile::tempdir().unwrap();
    let envd = Envd::start_with(&["--cgroup-root", tree.root.to_str().unwrap()]);
    let (user_n, ptys_n, other_n) = (
        scratch.path().join("user"),
        scratch.path().join("ptys"),
        scratch.path().join("socats"),
    );
    let _user = counter_in(&envd, &tree.path("user"), &user_n).await;
    let _ptys = counter_in(&envd, &tree.path("ptys"), &ptys_n).await;
    let _other = counter_in(&envd, &tree.path("socats"), &other_n).await;
    for c in [&user_n, &ptys_n, &other_n] {
        assert_advances(c).await;
    }

    let result = freeze_json(&envd, "mode=legacy&maxWaitMs=10000").await;
    let keys: Vec<&str> = result
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "allowlisted",
            "failed",
            "frozen",
            "mode",
            "notFrozen",
            "preFrozen",
            "requested",
            "sweepMs",
            "truncated",
            "unobservable",
            "visited",
            "waitMs"
        ]
    );
    assert_eq!(result["mode"], "legacy");
    for (field, want) in [
        ("visited", 2),
        ("allowlisted", 0),
        ("preFrozen", 0),
        ("requested", 2),
        ("frozen", 2),
        ("notFrozen", 0),
        ("failed", 0),
        ("unobservable", 0),
    ] {
        assert_eq!(result[field], want, "{field}: {result}");
    }
    assert_eq!(result["truncated"], false);
    assert!(events_frozen(&tree.path("user")) && events_frozen(&tree.path("ptys")));
    assert!(
        !events_frozen(&tree.path("socats")),
        "legacy leaves other cgroups alone"
    );
    assert_stopped(&user_n).await;
    assert_stopped(&ptys_n).await;
    assert_advances(&other_n).await;
    assert_envd_alive(&envd).await;

    // Freezing again finds them frozen already.
    let again = freeze_json(&envd, "maxWaitMs=1000").await;
    assert_eq!(
        (again["preFrozen"].clone(), again["requested"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(again["frozen"], 2);

    let resp = post(&envd, "/unfreeze").await;
    assert_eq!(resp.status(), 204);
    assert_eq!(freeze_flag(&tree.path("user")), "0");
    assert_eq!(freeze_flag(&tree.path("ptys")), "0");
    assert_advances(&user_n).await;
    assert_advances(&ptys_n).await;

    // Without maxWaitMs: 204, and the freeze takes effect.
    let resp = post(&envd, "/freeze?mode=legacy").await;
    assert_eq!(resp.status(), 204);
    assert_eq!(freeze_flag(&tree.path("user")), "1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !events_frozen(&tree.path("user")) {
        assert!(Instant::now() < deadline, "user never froze");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_stopped(&user_n).await;

    // /init after a restore thaws, and reports both in its audit header.
    let resp = envd
        .http
        .post(envd.url("/init"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let audit: Value =
        serde_json::from_str(resp.headers()["x-envd-freeze-audit"].to_str().unwrap()).unwrap();
    assert_eq!(audit["lastFreeze"]["waited"], false, "{audit}");
    assert_eq!(audit["lastFreeze"]["mode"], "legacy", "{audit}");
    assert_eq!(audit["lastFreeze"]["requested"], 2, "{audit}");
    assert_eq!(audit["lastUnfreeze"]["by"], "init", "{audit}");
    assert_eq!(audit["lastUnfreeze"]["thawed"], 2, "{audit}");
    assert!(audit["lastUnfreeze"]["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(freeze_flag(&tree.path("user")), "0");
    assert_advances(&user_n).await;
    assert_advances(&ptys_n).await;
}

#[tokio::test]
async fn hierarchy_freezes_everything_but_envd_and_its_ancestors() {
    let tree = Subtree::create(&["envd", "other", "work/a/b"]);
    let scratch = tempfile::tempdir().unwrap();
    let envd = Envd::start_with(&["--cgroup-root", tree.root.to_str().unwrap()]);
    // envd now runs inside the subtree: its cgroup must never be frozen.
    std::fs::write(tree.path("envd/cgroup.procs"), envd.pid().to_string()).unwrap();
    let (deep_n, other_n) = (scratch.path().join("deep"), scratch.path().join("other"));
    let _deep = counter_in(&envd, &tree.path("work/a/b"), &deep_n).await;
    let _other = counter_in(&envd, &tree.path("other"), &other_n).await;
    assert_advances(&deep_n).await;
    assert_advances(&other_n).await;

    // A bound of 1 stops at the first cgroup (envd's, in name order).
    let truncated = freeze_json(&envd, "mode=hierarchy&maxCgroups=1&maxWaitMs=1000").await;
    assert_eq!(truncated["truncated"], true, "{truncated}");
    assert_eq!(truncated["visited"], 1, "{truncated}");
    assert_eq!(truncated["allowlisted"], 1, "{truncated}");
    assert_eq!(truncated["requested"], 0, "{truncated}");

    let result = freeze_json(&envd, "mode=hierarchy&maxWaitMs=10000").await;
    assert_eq!(result["mode"], "hierarchy");
    // envd's own `ptys`, `socats` and `user` (spec §7.6) are there too.
    for (field, want) in [
        ("visited", 6),
        ("allowlisted", 1),
        ("requested", 5),
        ("frozen", 5),
        ("notFrozen", 0),
        ("failed", 0),
    ] {
        assert_eq!(result[field], want, "{field}: {result}");
    }
    assert_eq!(result["truncated"], false);
    assert!(
        events_frozen(&tree.path("work/a/b")),
        "descendants freeze with their parent"
    );
    assert!(events_frozen(&tree.path("other")));
    assert_eq!(freeze_flag(&tree.path("envd")), "0");
    assert!(!events_frozen(&tree.path("envd")));
    assert_stopped(&deep_n).await;
    assert_stopped(&other_n).await;
    assert_envd_alive(&envd).await;

    // Unfreeze thaws what the freeze froze and anything else frozen here.
    std::fs::write(tree.path("work/a/cgroup.freeze"), "1").unwrap();
    let resp = post(&envd, "/unfreeze").await;
    assert_eq!(resp.status(), 204);
    for cgroup in tree.all() {
        assert_eq!(freeze_flag(&cgroup), "0", "{}", cgroup.display());
    }
    assert_advances(&deep_n).await;
    assert_advances(&other_n).await;
}

#[tokio::test]
async fn bad_parameters_are_400_and_a_missing_root_is_500() {
    let envd = Envd::start();
    for query in ["mode=all", "maxWaitMs=x", "maxCgroups=0", "maxWaitMs=60001"] {
        let resp = post(&envd, &format!("/freeze?{query}")).await;
        assert_eq!(resp.status(), 400, "{query}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["reason"], "ERROR_REASON_INVALID_REQUEST", "{query}");
    }
    // The harness's cgroup root does not exist: nothing to freeze safely.
    let resp = post(&envd, "/freeze?mode=hierarchy").await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("no-cgroups"),
        "{body}"
    );
    assert_eq!(post(&envd, "/unfreeze").await.status(), 500);
}

/// The cgroup (v2 path, relative to the mount) `pid` is in.
fn cgroup_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        .unwrap()
}

#[tokio::test]
async fn envd_places_commands_in_user_and_terminals_in_ptys_which_legacy_freezes() {
    // envd creates the three cgroups itself (spec §7.6).
    let tree = Subtree::create(&[]);
    let envd = Envd::start_with(&["--cgroup-root", tree.root.to_str().unwrap()]);
    // envd prints its address before it sets up; once it answers, it is.
    assert_envd_alive(&envd).await;
    for name in ["user", "ptys", "socats"] {
        assert!(
            tree.path(name).join("cgroup.procs").is_file(),
            "{name} made"
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    let counter = scratch.path().join("pipe");
    let script = format!(
        "i=0; while :; do i=$((i+1)); echo $i > '{}'; sleep 0.02; done",
        counter.display()
    );
    let mut pipe = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", script]}, "stdin": false}),
            &[],
        )
        .await;
    let pipe_pid = pipe.start_pid().await;
    let mut pty = envd
        .stream(
            START,
            json!({"process": {"cmd": "/bin/sleep", "args": ["1000"]},
                   "pty": {"size": {"cols": 80, "rows": 24}}}),
            &[],
        )
        .await;
    let pty_pid = pty.start_pid().await;

    let mount = cgroup2_mount();
    let relative = |child: &str| {
        format!(
            "/{}",
            tree.path(child).strip_prefix(&mount).unwrap().display()
        )
    };
    assert_eq!(cgroup_of(pipe_pid), relative("user"));
    assert_eq!(cgroup_of(pty_pid), relative("ptys"));
    assert_ne!(cgroup_of(std::process::id()), relative("user"));
    assert_advances(&counter).await;

    let result = freeze_json(&envd, "mode=legacy&maxWaitMs=10000").await;
    assert_eq!(result["frozen"], 2, "{result}");
    assert_stopped(&counter).await;
    assert_envd_alive(&envd).await;
    assert_eq!(post(&envd, "/unfreeze").await.status(), 204);
    assert_advances(&counter).await;
}

#[tokio::test]
async fn a_root_that_is_not_cgroupfs_places_nothing_and_envd_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let envd = Envd::start_with(&["--cgroup-root", dir.path().to_str().unwrap()]);
    assert_envd_alive(&envd).await;
    assert!(!dir.path().join("user").exists());
}

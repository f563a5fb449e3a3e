//! Orphans: envd is a child subreaper, so a process's background children
//! are re-parented to envd when it exits and are reaped when they die: no
//! zombie children of envd are left behind.

use std::time::Duration;

use crate::support::process::start_req;
use crate::support::procfs::{children_of, proc_state};
use crate::support::{Envd, eventually};

/// Children of envd according to every thread's `children` file.
fn task_children(envd_pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{envd_pid}/task"))
        .unwrap()
        .flatten()
    {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(list.split_whitespace().map(|p| p.parse::<u32>().unwrap()));
        }
    }
    out
}

#[tokio::test]
async fn double_forked_orphans_are_reaped_by_envd() {
    let envd = Envd::start();
    let runs = futures::future::join_all(
        (0..20).map(|_| envd.run(start_req("/bin/sh", &["-c", "sleep 0.2 & exit 0"]))),
    )
    .await;
    for run in &runs {
        run.assert_complete();
        assert_eq!(run.end().unwrap()["status"], "exit status 0");
    }
    let pid = envd.pid();
    // Every orphan finishes within 0.2 s; give reaping a bounded while.
    eventually(Duration::from_secs(10), "envd has no children left", || {
        (children_of(pid).is_empty() && task_children(pid).is_empty()).then_some(())
    })
    .await;
    let zombies: Vec<_> = children_of(pid)
        .into_iter()
        .filter(|c| c.1 == 'Z')
        .collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
}

#[tokio::test]
async fn an_orphan_is_reparented_to_envd_while_it_runs() {
    let envd = Envd::start();
    let run = envd
        .run(start_req(
            "/bin/sh",
            &["-c", "sleep 1 >/dev/null 2>&1 & echo $!; exit 0"],
        ))
        .await;
    run.assert_complete();
    let orphan: u32 = String::from_utf8(run.output("stdout"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (state, ppid) = proc_state(orphan).expect("the orphan still runs");
    assert_eq!(
        ppid,
        envd.pid(),
        "re-parented to envd (subreaper), state {state}"
    );
    eventually(Duration::from_secs(10), "orphan reaped", || {
        proc_state(orphan).is_none().then_some(())
    })
    .await;
    assert!(children_of(envd.pid()).is_empty());
}

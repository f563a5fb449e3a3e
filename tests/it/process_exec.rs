//! How a command is executed, pinned to what the `/bin/sh -c '…; exec "$@"'`
//! wrapper showed clients (E2B SDK compatibility): PATH lookup in the
//! child's environment and cwd, exit 127/126/2 with dash's message on
//! stderr, scripts without a shebang run by `/bin/sh`, the environment as
//! dash exports it (invalid names dropped, IFS/OPTIND/PPID reset, PWD), and
//! the child's state: argv, credentials, groups, cwd, OOM score, signal
//! mask and dispositions, and no lost exits under concurrent starts.

use std::os::unix::fs::PermissionsExt;

use crate::support::Envd;
use crate::support::process::{basic, start_req};
use crate::support::users::TestUser;
use serde_json::{Value, json};

fn stderr_of(run: &crate::support::frames::Collected) -> String {
    String::from_utf8(run.output("stderr")).unwrap()
}

fn stdout_of(run: &crate::support::frames::Collected) -> String {
    String::from_utf8(run.output("stdout")).unwrap()
}

fn in_dir(cmd: &str, args: &[&str], cwd: &str, envs: &Value) -> Value {
    json!({"process": {"cmd": cmd, "args": args, "cwd": cwd, "envs": envs}, "stdin": false})
}

/// A scratch directory with a non-executable file, a script without a
/// shebang and a directory.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("noexec"), "x").unwrap();
    let script = dir.path().join("noshebang");
    std::fs::write(&script, "echo script-ran \"$0\" \"$@\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    dir
}

#[tokio::test]
async fn command_lookup_failures_end_like_the_wrapper_shell() {
    let envd = Envd::start();
    let dir = scratch();
    let d = dir.path().to_str().unwrap();
    let cases = [
        (
            "no-such-command-xyz",
            127,
            "--: 1: exec: no-such-command-xyz: not found\n".to_owned(),
        ),
        (
            "./noexec",
            126,
            "--: 1: exec: ./noexec: Permission denied\n".to_owned(),
        ),
        (
            &format!("{d}/noexec"),
            126,
            format!("--: 1: exec: {d}/noexec: Permission denied\n"),
        ),
        (
            &format!("{d}/sub"),
            126,
            format!("--: 1: exec: {d}/sub: Permission denied\n"),
        ),
        (
            "/nonexistent/x",
            127,
            "--: 1: exec: /nonexistent/x: not found\n".to_owned(),
        ),
        (
            "/etc/passwd/x",
            127,
            "--: 1: exec: /etc/passwd/x: not found\n".to_owned(),
        ),
        ("", 126, "--: 1: exec: : Permission denied\n".to_owned()),
        // Not on PATH: a file in the cwd is not found without a slash.
        (
            "noshebang",
            127,
            "--: 1: exec: noshebang: not found\n".to_owned(),
        ),
    ];
    for (cmd, code, message) in cases {
        let run = envd.run(in_dir(cmd, &["a"], d, &json!({}))).await;
        let end = run.assert_complete();
        assert_eq!(end["exitCode"], code, "{cmd}: {run:?}");
        assert_eq!(stderr_of(&run), message, "{cmd}");
        assert_eq!(run.output("stdout"), b"", "{cmd}");
    }
}

#[tokio::test]
async fn a_script_without_shebang_runs_under_bin_sh() {
    let envd = Envd::start();
    let dir = scratch();
    let d = dir.path().to_str().unwrap();
    // By path, and through PATH entries relative to the cwd ("." and empty).
    let cases = [
        ("./noshebang", json!({}), "script-ran ./noshebang a b\n"),
        (
            "noshebang",
            json!({"PATH": "/nonexistent:."}),
            "script-ran ./noshebang a b\n",
        ),
        (
            "noshebang",
            json!({"PATH": ""}),
            "script-ran noshebang a b\n",
        ),
    ];
    for (cmd, envs, expected) in cases {
        let run = envd.run(in_dir(cmd, &["a", "b"], d, &envs)).await;
        run.assert_complete();
        assert_eq!(stdout_of(&run), expected, "{cmd}: {}", stderr_of(&run));
    }
}

#[tokio::test]
async fn path_comes_from_the_child_environment() {
    let envd = Envd::start();
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("only-here");
    std::fs::write(&tool, "#!/bin/sh\necho found \"$0\"\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = dir.path().to_str().unwrap();
    let path = format!("/nonexistent:{d}:/usr/bin:/bin");
    let run = envd
        .run(in_dir("only-here", &[], "/", &json!({"PATH": path})))
        .await;
    run.assert_complete();
    assert_eq!(stdout_of(&run), format!("found {d}/only-here\n"));
    // argv[0] is the command as given, not the path it was found at.
    let run = envd
        .run(in_dir("sh", &["-c", "echo $0"], "/", &json!({})))
        .await;
    assert_eq!(stdout_of(&run), "sh\n");
}

#[tokio::test]
async fn environment_is_what_dash_exports() {
    let envd = Envd::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let envs = json!({
        "IFS": "x", "OPTIND": "5", "PPID": "7", "x.y": "1", "Ä": "1", "a": "",
        "_ok9": "v", "PWD": "/nonexistent", "LINENO": "9"
    });
    let run = envd.run(in_dir("env", &[], d, &envs)).await;
    run.assert_complete();
    let stdout = stdout_of(&run);
    let mut vars: Vec<&str> = stdout.lines().collect();
    vars.sort_unstable();
    for expected in [
        "IFS= \t".to_owned(),
        "OPTIND=1".to_owned(),
        format!("PPID={}", envd.pid()),
        "a=".to_owned(),
        "_ok9=v".to_owned(),
        "LINENO=9".to_owned(),
        format!("PWD={d}"),
    ] {
        assert!(
            vars.contains(&expected.as_str()),
            "{expected:?} in {stdout}"
        );
    }
    assert!(!stdout.contains("x.y="), "{stdout}");
    assert!(!stdout.contains("Ä="), "{stdout}");
    // A PWD naming the cwd (here through a symlink) is kept as given.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    let l = link.to_str().unwrap();
    let run = envd.run(in_dir("env", &[], d, &json!({"PWD": l}))).await;
    assert!(stdout_of(&run).lines().any(|v| v == format!("PWD={l}")));
    // Without one, PWD is the kernel's path of the cwd (symlinks resolved).
    let run = envd.run(in_dir("env", &[], l, &json!({}))).await;
    assert!(stdout_of(&run).lines().any(|v| v == format!("PWD={d}")));
}

#[tokio::test]
async fn a_user_command_gets_its_argv_env_cwd_user_and_groups() {
    let user = TestUser::create();
    let sub = user.home.join("work dir");
    std::fs::create_dir(&sub).unwrap();
    std::process::Command::new("chown")
        .args([&user.name, sub.to_str().unwrap()])
        .status()
        .unwrap();
    let envd = Envd::start();
    let auth = basic(&user.name);
    let script = r#"printf '%s|' "$0" "$@"; echo; id -u; id -g; id -G; pwd; echo "$FOO"; touch mine && stat -c %U mine"#;
    let run = envd
        .run_with(
            json!({"process": {"cmd": "/bin/sh", "args": ["-c", script, "zero", "one two", "", "*"],
                   "envs": {"FOO": "bar baz"}, "cwd": "~/work dir"}, "stdin": false}),
            &[("authorization", auth.as_str())],
        )
        .await;
    run.assert_complete();
    let uid = user.uid();
    let gid = String::from_utf8(
        std::process::Command::new("id")
            .args(["-g", &user.name])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let gid = gid.trim();
    let mut groups = vec![gid.parse::<u32>().unwrap(), user.group_gid];
    groups.sort_unstable();
    let lines: Vec<String> = stdout_of(&run).lines().map(str::to_owned).collect();
    let mut got_groups: Vec<u32> = lines[3].split(' ').map(|g| g.parse().unwrap()).collect();
    got_groups.sort_unstable();
    assert_eq!(lines[0], "zero|one two||*|", "{lines:?}");
    assert_eq!(lines[1], uid.to_string());
    assert_eq!(lines[2], gid);
    assert_eq!(got_groups, groups, "exactly the user's groups");
    assert_eq!(lines[4], sub.to_str().unwrap());
    assert_eq!(lines[5], "bar baz");
    assert_eq!(lines[6], user.name);
    assert_eq!(stderr_of(&run), "");
}

#[tokio::test]
async fn child_has_oom_score_100_empty_mask_default_dispositions_and_envd_keeps_its_own() {
    let envd = Envd::start();
    let envd_oom = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", envd.pid())).unwrap();
    for mode in [json!(null), json!({"size": {"cols": 80, "rows": 24}})] {
        let mut req = start_req(
            "/bin/sh",
            &["-c", "cat /proc/self/oom_score_adj /proc/self/status"],
        );
        if !mode.is_null() {
            req["pty"] = mode.clone();
        }
        let run = envd.run(req).await;
        run.assert_complete();
        let out = String::from_utf8(run.output(if mode.is_null() { "stdout" } else { "pty" }))
            .unwrap()
            .replace("\r\n", "\n");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "100", "{out}");
        // cat (which inherits the shell's state and changes none) blocks,
        // ignores and catches nothing: whatever envd ignores (SIGPIPE, or
        // what its own parent ignored) is default again.
        let sig: Vec<&str> = lines
            .iter()
            .filter(|l| {
                ["SigBlk:", "SigIgn:", "SigCgt:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .copied()
            .collect();
        assert_eq!(
            sig,
            [
                "SigBlk:\t0000000000000000",
                "SigIgn:\t0000000000000000",
                "SigCgt:\t0000000000000000"
            ],
            "{out}"
        );
    }
    let after = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", envd.pid())).unwrap();
    assert_eq!(
        envd_oom, after,
        "the child's OOM score never leaks into envd"
    );
}

#[tokio::test]
async fn sixty_four_concurrent_starts_lose_no_exit() {
    let envd = Envd::start();
    for round in 0..3 {
        let runs = futures::future::join_all((0..64).map(|i| {
            let envd = &envd;
            async move {
                let code = (i + round) % 7;
                let run = envd
                    .run(start_req(
                        "/bin/sh",
                        &["-c", &format!("echo {i}; exit {code}")],
                    ))
                    .await;
                (i, code, run)
            }
        }))
        .await;
        for (i, code, run) in runs {
            let end = run.assert_complete();
            assert_eq!(end["exitCode"].as_i64().unwrap_or(0), i64::from(code));
            assert_eq!(stdout_of(&run), format!("{i}\n"));
        }
        // Fast exits (no output at all) too.
        let runs =
            futures::future::join_all((0..64).map(|_| envd.run(start_req("/bin/true", &[])))).await;
        for run in runs {
            run.assert_complete();
        }
    }
}

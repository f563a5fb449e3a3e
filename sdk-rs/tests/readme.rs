//! The README's quick start runs for real: its lines are the ones in
//! `examples/quickstart.rs`, executed here against a real envd.

mod support;

/// The non-hidden lines of the README's first Rust block.
fn readme_quickstart() -> Vec<String> {
    let readme = include_str!("../README.md");
    let start = readme.find("```rust").expect("a rust block");
    let body = &readme[start..];
    let body = &body[body.find('\n').expect("newline") + 1..];
    let body = &body[..body.find("```").expect("block end")];
    body.lines()
        .filter(|l| !l.trim_start().starts_with("# ") && l.trim() != "#")
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The lines between the markers in `examples/quickstart.rs`.
fn example_quickstart() -> Vec<String> {
    let example = include_str!("../examples/quickstart.rs");
    let start = example.find("// quickstart:begin").expect("begin marker");
    let end = example.find("// quickstart:end").expect("end marker");
    example[start..end]
        .lines()
        .skip(1)
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn readme_quickstart_is_five_lines_and_matches_the_example() {
    let readme = readme_quickstart();
    assert_eq!(readme.len(), 5, "{readme:#?}");
    assert_eq!(readme, example_quickstart());
}

/// `target/<profile>/examples/quickstart`, which `cargo test` builds.
fn quickstart_example() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile_dir
        .join("examples")
        .join(format!("quickstart{}", std::env::consts::EXE_SUFFIX))
}

#[tokio::test]
async fn the_quickstart_example_runs_against_envd() {
    let envd = support::Envd::start().await;
    let example = quickstart_example();
    let output = tokio::process::Command::new(&example)
        .arg(&envd.url)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {} ({e}); `cargo test` builds it", example.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "quickstart failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("envd 0.7.0 sees "), "{stdout}");
}

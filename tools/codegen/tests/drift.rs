//! Fails when the checked-in `proto/src/gen` differs from what the protos
//! generate (someone edited generated code, or changed a proto without
//! regenerating). Fix with `make gen`.

use std::path::Path;
use std::process::Command;

#[test]
fn checked_in_rust_matches_protos() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_envd-codegen"))
        .arg(out.path())
        .status()
        .expect("run envd-codegen");
    assert!(status.success(), "envd-codegen failed");
    let checked_in = envd_codegen::workspace_root().join("proto/src/gen");
    let mut generated: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut committed: Vec<_> = std::fs::read_dir(&checked_in)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    generated.sort();
    committed.sort();
    assert_eq!(
        generated, committed,
        "generated file set differs; run `make gen`"
    );
    for name in generated {
        let a = std::fs::read(out.path().join(&name)).unwrap();
        let b = std::fs::read(Path::new(&checked_in).join(&name)).unwrap();
        assert!(
            a == b,
            "{} is stale or was edited; run `make gen`",
            name.to_string_lossy()
        );
    }
}

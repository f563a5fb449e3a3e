//! Fails when a checked-in generated directory differs from what its protos
//! generate (someone edited generated code, or changed a proto without
//! regenerating). Fix with `make gen`.

use std::process::Command;

#[test]
fn checked_in_rust_matches_protos() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_envd-codegen"))
        .arg(out.path())
        .status()
        .expect("run envd-codegen");
    assert!(status.success(), "envd-codegen failed");
    let root = envd_codegen::workspace_root();
    for target in envd_codegen::TARGETS {
        let fresh = out.path().join(target.name);
        let checked_in = root.join(target.out_dir);
        let names = |dir: &std::path::Path| {
            let mut names: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            names
        };
        let generated = names(&fresh);
        assert_eq!(
            generated,
            names(&checked_in),
            "{}: generated file set differs; run `make gen`",
            target.out_dir
        );
        for name in generated {
            let a = std::fs::read(fresh.join(&name)).unwrap();
            let b = std::fs::read(checked_in.join(&name)).unwrap();
            assert!(
                a == b,
                "{}/{} is stale or was edited; run `make gen`",
                target.out_dir,
                name.to_string_lossy()
            );
        }
    }
}

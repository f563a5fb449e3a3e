//! Replays the fuzz targets' seed corpora and every input a fuzzer ever
//! found failing (`fuzz/regressions/<target>/`) through the same entry
//! points the targets call, on every `cargo test`.

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("range", crate::http::files::fuzz::range),
    ("encodings", crate::http::files::fuzz::encodings),
    ("metadata", crate::http::files::fuzz::metadata),
    ("signed_url", crate::http::files::fuzz::signed_url),
    ("multipart", crate::http::files::fuzz::multipart),
    ("init", crate::http::fuzz::init),
    ("headers", crate::rpc::fuzz::headers),
    ("messages", crate::rpc::fuzz::messages),
    ("path", crate::fs::path::fuzz),
    ("rpc", crate::app::fuzz::rpc),
];

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn every_target_has_a_seed_corpus_and_replays_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for (name, target) in TARGETS {
        let seeds = inputs(&root.join("corpus").join(name));
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seeds");
        for input in seeds
            .iter()
            .chain(&inputs(&root.join("regressions").join(name)))
        {
            let data = std::fs::read(input).expect("readable input");
            target(&data);
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len());
}

#[test]
fn every_fuzz_target_binary_is_listed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/targets");
    let mut files: Vec<String> = inputs(&root)
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_owned))
        .collect();
    files.sort();
    let mut listed: Vec<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

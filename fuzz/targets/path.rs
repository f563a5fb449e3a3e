//! Fuzz target: see `envd::fs::path::fuzz`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::fs::path::fuzz(data));
}

//! Fuzz target: see `envd::http::files::fuzz::metadata`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::http::files::fuzz::metadata(data));
}

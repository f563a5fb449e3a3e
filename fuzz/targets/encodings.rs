//! Fuzz target: see `envd::http::files::fuzz::encodings`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::http::files::fuzz::encodings(data));
}

//! Fuzz target: see `envd::http::fuzz::init`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::http::fuzz::init(data));
}

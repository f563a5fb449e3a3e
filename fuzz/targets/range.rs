//! Fuzz target: see `envd::http::files::fuzz::range`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::http::files::fuzz::range(data));
}

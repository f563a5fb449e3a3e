//! Fuzz target: see `envd::http::files::fuzz::multipart`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::http::files::fuzz::multipart(data));
}

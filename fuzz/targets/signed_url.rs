//! Fuzz target: see `envd::http::files::fuzz::signed_url`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::http::files::fuzz::signed_url(data));
}

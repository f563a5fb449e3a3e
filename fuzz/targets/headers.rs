//! Fuzz target: see `envd::rpc::fuzz::headers`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::rpc::fuzz::headers(data));
}

//! Fuzz target: see `envd::app::fuzz::rpc`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::app::fuzz::rpc(data));
}

//! Fuzz target: see `envd::rpc::fuzz::messages`.

fn main() {
    afl::fuzz!(|data: &[u8]| envd::rpc::fuzz::messages(data));
}

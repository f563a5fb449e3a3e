//! The conformance service's messages, generated from the protos vendored
//! from `connectrpc.com/conformance@v1.0.5` (see `proto/`).

#[rustfmt::skip]
#[allow(
    missing_docs,
    missing_debug_implementations,
    dead_code,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::allow_attributes_without_reason,
    reason = "generated code"
)]
mod generated {
    include!("gen/connectrpc.conformance.v1.rs");
}

pub(crate) use generated::*;

/// `FileDescriptorSet` of the conformance protos (method kinds for the
/// content-type check).
pub(crate) const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("gen/descriptor.bin");

//! The envd wire contract: messages, JSON mapping, Connect handler builders
//! and gRPC stubs, generated from `proto/` by `tools/codegen`.
//!
//! Features, like tonic's own: the messages, their JSON mapping and
//! [`signing`] are always there; `client` adds the tonic client stubs
//! (`*_client`); `server` adds the Connect handler builders (`*_connect`),
//! the tonic server stubs (`*_server`) and [`FILE_DESCRIPTOR_SET`].
//!
//! The package names (`process`, `filesystem`) carry no version suffix
//! because existing clients call `/process.Process/Start` and friends.

#[rustfmt::skip]
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::allow_attributes_without_reason,
    reason = "generated code"
)]
mod generated {
    pub mod process {
        include!("gen/process.rs");
    }
    pub mod filesystem {
        include!("gen/filesystem.rs");
    }
    /// Versioned packages of envd's own (`envd.<area>.v1`).
    pub mod envd {
        pub mod common {
            pub mod v1 {
                include!("gen/envd.common.v1.rs");
            }
        }
        pub mod handover {
            pub mod v1 {
                include!("gen/envd.handover.v1.rs");
            }
        }
        pub mod pty {
            pub mod v1 {
                include!("gen/envd.pty.v1.rs");
            }
        }
    }
}

pub mod signing;
pub mod wkt;

pub use generated::{envd, filesystem, process};

/// Serialized `FileDescriptorSet` of every envd proto, for gRPC reflection.
#[cfg(feature = "server")]
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("gen/descriptor.bin");

//! Generation of the wire types: prost messages, pbjson JSON (unknown fields
//! ignored on input), connectrpc-axum Connect handlers and tonic gRPC stubs.

use std::fs;
use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

/// One set of protos and the checked-in directory generated from them.
#[derive(Debug)]
pub struct Target {
    /// Short name; `envd-codegen OUT_DIR` writes this target to `OUT_DIR/<name>`.
    pub name: &'static str,
    /// Include root of the protos, relative to the workspace root.
    pub proto_dir: &'static str,
    /// The proto files, relative to `proto_dir`.
    pub protos: &'static [&'static str],
    /// Where the generated code is checked in, relative to the workspace root.
    pub out_dir: &'static str,
    /// Rust paths standing in for generated types (`(".proto.Name", "crate::Type")`).
    pub extern_paths: &'static [(&'static str, &'static str)],
    /// Whether the service code is gated behind the crate's `server` and
    /// `client` features (see [`gate_features`]).
    pub gated: bool,
}

/// The wire contract (`envd-proto`) and the official Connect conformance
/// service (`conformance/connect`), whose protos are vendored from
/// `connectrpc.com/conformance@v1.0.5`.
pub const TARGETS: &[Target] = &[
    Target {
        name: "envd",
        proto_dir: "proto",
        protos: &[
            "process/process.proto",
            "filesystem/filesystem.proto",
            "envd/common/v1/error.proto",
            "envd/handover/v1/handover.proto",
            "envd/pty/v1/pty.proto",
        ],
        out_dir: "proto/src/gen",
        // The SDKs accept only `Z` timestamps; pbjson-types writes `+00:00`.
        extern_paths: &[(".google.protobuf.Timestamp", "crate::wkt::Timestamp")],
        gated: true,
    },
    Target {
        name: "conformance",
        proto_dir: "conformance/connect/proto",
        protos: &[
            "connectrpc/conformance/v1/config.proto",
            "connectrpc/conformance/v1/service.proto",
            "connectrpc/conformance/v1/server_compat.proto",
        ],
        out_dir: "conformance/connect/src/gen",
        // pbjson-types writes `Any` as `{typeUrl, value}`; the JSON mapping is
        // `{"@type", ...fields}`.
        extern_paths: &[(".google.protobuf.Any", "crate::any::Any")],
        gated: false,
    },
];

/// Regenerates the Rust code of `target` into `out_dir`, replacing whatever
/// was there.
pub fn generate(root: &Path, target: &Target, out_dir: &Path) -> std::io::Result<()> {
    let proto_dir = root.join(target.proto_dir);
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(std::io::Error::other)?;
    let include = protoc_bin_vendored::include_path().map_err(std::io::Error::other)?;
    let protoc_for_descriptor = protoc.clone();
    let scratch = tempfile::tempdir()?;
    let protos: Vec<PathBuf> = target.protos.iter().map(|p| proto_dir.join(p)).collect();
    let includes = vec![proto_dir.clone(), include];
    let extern_paths = target.extern_paths;

    connectrpc_axum_build::builder()
        .compile_protos(&protos, &includes)
        .out_dir(scratch.path())
        .with_prost_config(move |config| {
            config.protoc_executable(&protoc);
            // Output chunks move from the reader to the wire without copies.
            config.bytes(["."]);
            for (proto, rust) in extern_paths {
                config.extern_path(*proto, *rust);
            }
        })
        .with_pbjson_config(move |builder| {
            builder.ignore_unknown_fields();
            for (proto, rust) in extern_paths {
                builder.extern_path(*proto, *rust);
            }
        })
        .with_tonic()
        .with_tonic_client()
        // The transport helper `ProcessClient::connect` would collide with the
        // `Connect` RPC; clients bring their own channel instead.
        .with_tonic_client_config(|builder| builder.build_transport(false))
        .compile()?;

    // A self-contained descriptor set for gRPC server reflection.
    let status = std::process::Command::new(&protoc_for_descriptor)
        .arg(format!(
            "--descriptor_set_out={}",
            scratch.path().join("descriptor.bin").display()
        ))
        .arg("--include_imports")
        .arg("--include_source_info")
        .arg(format!("-I{}", proto_dir.display()))
        .arg(format!("-I{}", includes[1].display()))
        .args(target.protos)
        .current_dir(&proto_dir)
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(
            "protoc failed to write the descriptor set",
        ));
    }

    if out_dir.exists() {
        fs::remove_dir_all(out_dir)?;
    }
    fs::create_dir_all(out_dir)?;
    let mut names: Vec<_> = fs::read_dir(scratch.path())?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs") || n == "descriptor.bin")
        .collect();
    names.sort();
    for name in names {
        let from = scratch.path().join(&name);
        if name.ends_with(".rs") {
            let text = fs::read_to_string(&from)?;
            let text = if target.gated {
                gate_features(&text)
            } else {
                text
            };
            fs::write(
                out_dir.join(&name),
                format!(
                    "// @generated by envd-codegen from {}/. Do not edit.\n{text}",
                    target.proto_dir
                ),
            )?;
        } else {
            fs::copy(&from, out_dir.join(&name))?;
        }
    }
    Ok(())
}

/// Puts the service code of one generated file behind cargo features, as
/// tonic gates its own halves: the Connect handler builders and the tonic
/// server stubs behind `server`, the tonic client stubs behind `client`.
/// Messages and their JSON mapping stay ungated. Each section is found by
/// the marker comment the generator writes before it, and only the first
/// top-level module after a marker is gated.
pub fn gate_features(text: &str) -> String {
    const SECTIONS: [(&str, &str); 3] = [
        ("// --- Connect service/client code ---", "server"),
        ("// --- Tonic gRPC server stubs", "server"),
        ("// --- Tonic gRPC client stubs", "client"),
    ];
    let mut out = String::with_capacity(text.len() + 128);
    let mut pending: Option<&str> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with("// --- ") {
            pending = SECTIONS
                .iter()
                .find(|(marker, _)| line.starts_with(marker))
                .map(|(_, feature)| *feature);
        } else if let Some(feature) = pending {
            if line.starts_with("pub mod ") {
                out.push_str(&format!("#[cfg(feature = \"{feature}\")]\n"));
                pending = None;
            } else if line.starts_with("# [") && line.contains(" pub mod ") {
                // The Connect code is one line of several items: gate each.
                out.push_str(&gate_items(line, feature));
                pending = None;
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

/// `line` (a run of whole items, as a token stream prints) with
/// `#[cfg(feature = "…")]` before each top-level item. Items end at a `;`
/// or at a `}` closing depth 0 that no `;` follows; string literals are
/// skipped (no other literal in generated code holds a delimiter).
fn gate_items(line: &str, feature: &str) -> String {
    let gate = format!("#[cfg(feature = \"{feature}\")] ");
    let mut out = String::with_capacity(line.len() + 1024);
    out.push_str(&gate);
    let mut depth = 0i32;
    let mut chars = line.char_indices().peekable();
    let mut previous = '\0';
    while let Some((i, c)) = chars.next() {
        out.push(c);
        match c {
            '"' => {
                // Raw strings here never carry `#` delimiters.
                let raw = previous == 'r';
                let mut escaped = false;
                for (_, s) in chars.by_ref() {
                    out.push(s);
                    if s == '"' && !escaped {
                        break;
                    }
                    escaped = !raw && s == '\\' && !escaped;
                }
            }
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => {
                depth -= 1;
                let rest = line[i + 1..].trim_start();
                let ends = c == '}' && depth == 0 && !rest.starts_with([';', ',', ')', '.']);
                if ends && !rest.trim_end().is_empty() {
                    out.push(' ');
                    out.push_str(gate.trim_end());
                }
            }
            ';' if depth == 0 && !line[i + 1..].trim().is_empty() => {
                out.push(' ');
                out.push_str(gate.trim_end());
            }
            _ => {}
        }
        previous = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::gate_features;

    #[test]
    fn only_service_modules_are_gated() {
        let text = "pub mod foo_server {}\n\
            // --- Connect service/client code ---\n\
            # [allow (dead_code)] pub mod foo_connect { # [doc = r\" a } \"] fn f () { } } \
            type T < A > = B < A > ; const C : S = S { a : \"}\\\"\" } ; pub struct Svc { } \
            impl < S > D for Svc where S : Clone , { fn d () -> Self { Self { } } }\n\
            // --- pbjson serde implementations ---\n\
            pub mod bar_client {}\n\
            // --- Tonic gRPC server stubs (extern_path reused messages) ---\n\
            /// Generated server implementations.\n\
            pub mod foo_server {}\n\
            pub mod other {}\n\
            // --- Tonic gRPC client stubs (extern_path reused messages) ---\n\
            pub mod foo_client {}\n";
        let gated = gate_features(text);
        let expected = "pub mod foo_server {}\n\
            // --- Connect service/client code ---\n\
            #[cfg(feature = \"server\")] # [allow (dead_code)] pub mod foo_connect { \
            # [doc = r\" a } \"] fn f () { } } #[cfg(feature = \"server\")] \
            type T < A > = B < A > ; #[cfg(feature = \"server\")] \
            const C : S = S { a : \"}\\\"\" } ; #[cfg(feature = \"server\")] pub struct Svc { } \
            #[cfg(feature = \"server\")] \
            impl < S > D for Svc where S : Clone , { fn d () -> Self { Self { } } }\n\
            // --- pbjson serde implementations ---\n\
            pub mod bar_client {}\n\
            // --- Tonic gRPC server stubs (extern_path reused messages) ---\n\
            /// Generated server implementations.\n\
            #[cfg(feature = \"server\")]\n\
            pub mod foo_server {}\n\
            pub mod other {}\n\
            // --- Tonic gRPC client stubs (extern_path reused messages) ---\n\
            #[cfg(feature = \"client\")]\n\
            pub mod foo_client {}\n";
        assert_eq!(gated, expected);
    }
}

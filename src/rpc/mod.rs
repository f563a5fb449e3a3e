//! Connect, gRPC and gRPC-Web adapters. One set of handlers serves all
//! three protocols: connectrpc-axum routes Connect requests, and its tonic
//! bridge serves `application/grpc*` through the same handlers.

mod connect_timeout;
mod content_type;
pub mod context;
mod early_answer;
mod filesystem;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
mod grpc_request;
mod grpc_status;
pub mod grpc_timeout;
mod one_message;
mod process;
pub mod stack;
mod stream;
mod unary_gzip;

use axum::Router;
use envd_proto::filesystem::filesystem_connect::FilesystemServiceTonicCompatibleBuilder;
use envd_proto::process::process_connect::ProcessServiceTonicCompatibleBuilder;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;

use crate::state::AppState;

/// Every RPC service on every protocol, with `http` (the plain endpoints)
/// served beside them: `application/grpc*` requests go to tonic (with
/// gRPC-Web translation and `grpc-timeout`), everything else to axum.
pub fn service(state: &AppState, http: Router) -> Router {
    let (process_router, process_grpc) = ProcessServiceTonicCompatibleBuilder::new()
        .list(process::list)
        .connect(process::connect)
        .start(process::start)
        .update(process::update)
        .send_input(process::send_input)
        .stream_input(process::stream_input)
        .send_signal(process::send_signal)
        .close_stdin(process::close_stdin)
        .with_state(state.clone())
        .build();
    let (filesystem_router, filesystem_grpc) = FilesystemServiceTonicCompatibleBuilder::new()
        .stat(filesystem::stat)
        .make_dir(filesystem::make_dir)
        .r#move(filesystem::r#move)
        .list_dir(filesystem::list_dir)
        .remove(filesystem::remove)
        .watch_dir(filesystem::watch_dir)
        .create_watcher(filesystem::create_watcher)
        .get_watcher_events(filesystem::get_watcher_events)
        .remove_watcher(filesystem::remove_watcher)
        .with_state(state.clone())
        .build();

    let max_message = state.config.max_message_bytes;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(envd_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the checked-in descriptor set is valid");
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(envd_proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect("the checked-in descriptor set is valid");
    // gRPC clients may gzip their messages (Connect accepts gzip too).
    let process_grpc = process_grpc
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message);
    let filesystem_grpc = filesystem_grpc
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message);
    let routes = Routes::new(process_grpc)
        .add_service(filesystem_grpc)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    stack::protocols(
        [process_router, filesystem_router],
        routes,
        envd_proto::FILE_DESCRIPTOR_SET,
        max_message,
        http,
    )
}

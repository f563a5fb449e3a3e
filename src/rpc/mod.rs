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
pub mod grpc_json;
mod grpc_request;
mod grpc_status;
pub mod grpc_timeout;
mod one_message;
mod process;
mod pty;
mod pty_events;
pub mod stack;
mod stream;
mod unary_gzip;

use axum::Router;
use envd_proto::envd::pty::v1::pty_connect::PtyServiceTonicCompatibleBuilder;
use envd_proto::filesystem::filesystem_connect::FilesystemServiceTonicCompatibleBuilder;
use envd_proto::process::process_connect::ProcessServiceTonicCompatibleBuilder;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;

use crate::state::AppState;
use grpc_json::{JsonMethod, JsonMethods};

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
    let (pty_router, pty_grpc) = PtyServiceTonicCompatibleBuilder::new()
        .create(pty::create)
        .attach(pty::attach)
        .send(pty::send)
        .list(pty::list)
        .close(pty::close)
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
    let pty_grpc = pty_grpc
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message);
    let routes = Routes::new(process_grpc)
        .add_service(filesystem_grpc)
        .add_service(pty_grpc)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    stack::protocols(
        [process_router, filesystem_router, pty_router],
        routes,
        envd_proto::FILE_DESCRIPTOR_SET,
        json_methods(),
        max_message,
        http,
    )
}

/// Every method's messages for gRPC and gRPC-Web with the JSON codec.
fn json_methods() -> JsonMethods {
    use envd_proto::envd::pty::v1 as t;
    use envd_proto::filesystem as f;
    use envd_proto::process as p;
    JsonMethods::default()
        .with(
            "/envd.pty.v1.Pty/Create",
            JsonMethod::of::<t::CreateRequest, t::CreateResponse>(),
        )
        .with(
            "/envd.pty.v1.Pty/Attach",
            JsonMethod::of::<t::AttachRequest, t::AttachResponse>(),
        )
        .with(
            "/envd.pty.v1.Pty/Send",
            JsonMethod::of::<t::SendRequest, t::SendResponse>(),
        )
        .with(
            "/envd.pty.v1.Pty/List",
            JsonMethod::of::<t::ListRequest, t::ListResponse>(),
        )
        .with(
            "/envd.pty.v1.Pty/Close",
            JsonMethod::of::<t::CloseRequest, t::CloseResponse>(),
        )
        .with(
            "/process.Process/List",
            JsonMethod::of::<p::ListRequest, p::ListResponse>(),
        )
        .with(
            "/process.Process/Connect",
            JsonMethod::of::<p::ConnectRequest, p::ConnectResponse>(),
        )
        .with(
            "/process.Process/Start",
            JsonMethod::of::<p::StartRequest, p::StartResponse>(),
        )
        .with(
            "/process.Process/Update",
            JsonMethod::of::<p::UpdateRequest, p::UpdateResponse>(),
        )
        .with(
            "/process.Process/StreamInput",
            JsonMethod::of::<p::StreamInputRequest, p::StreamInputResponse>(),
        )
        .with(
            "/process.Process/SendInput",
            JsonMethod::of::<p::SendInputRequest, p::SendInputResponse>(),
        )
        .with(
            "/process.Process/SendSignal",
            JsonMethod::of::<p::SendSignalRequest, p::SendSignalResponse>(),
        )
        .with(
            "/process.Process/CloseStdin",
            JsonMethod::of::<p::CloseStdinRequest, p::CloseStdinResponse>(),
        )
        .with(
            "/filesystem.Filesystem/Stat",
            JsonMethod::of::<f::StatRequest, f::StatResponse>(),
        )
        .with(
            "/filesystem.Filesystem/MakeDir",
            JsonMethod::of::<f::MakeDirRequest, f::MakeDirResponse>(),
        )
        .with(
            "/filesystem.Filesystem/Move",
            JsonMethod::of::<f::MoveRequest, f::MoveResponse>(),
        )
        .with(
            "/filesystem.Filesystem/ListDir",
            JsonMethod::of::<f::ListDirRequest, f::ListDirResponse>(),
        )
        .with(
            "/filesystem.Filesystem/Remove",
            JsonMethod::of::<f::RemoveRequest, f::RemoveResponse>(),
        )
        .with(
            "/filesystem.Filesystem/WatchDir",
            JsonMethod::of::<f::WatchDirRequest, f::WatchDirResponse>(),
        )
        .with(
            "/filesystem.Filesystem/CreateWatcher",
            JsonMethod::of::<f::CreateWatcherRequest, f::CreateWatcherResponse>(),
        )
        .with(
            "/filesystem.Filesystem/GetWatcherEvents",
            JsonMethod::of::<f::GetWatcherEventsRequest, f::GetWatcherEventsResponse>(),
        )
        .with(
            "/filesystem.Filesystem/RemoveWatcher",
            JsonMethod::of::<f::RemoveWatcherRequest, f::RemoveWatcherResponse>(),
        )
}

#[cfg(test)]
mod tests {
    /// A method added to the protos cannot be left without JSON over gRPC.
    #[test]
    fn every_method_is_served_with_the_json_codec() {
        let methods =
            super::content_type::Methods::from_descriptor_set(envd_proto::FILE_DESCRIPTOR_SET)
                .unwrap();
        let json = super::json_methods();
        let paths = methods.paths();
        assert_eq!(paths.len(), 22, "{paths:?}");
        for path in paths {
            assert!(json.contains(path), "{path} has no JSON transcoding");
        }
    }
}

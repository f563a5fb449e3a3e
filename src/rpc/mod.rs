//! Connect, gRPC and gRPC-Web adapters. One set of handlers serves all
//! three protocols: connectrpc-axum routes Connect requests, and its tonic
//! bridge serves `application/grpc*` through the same handlers.

mod connect_timeout;
mod content_type;
pub mod context;
mod filesystem;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
mod grpc_status;
pub mod grpc_timeout;
mod process;
mod stream;
mod unary_gzip;

use std::sync::Arc;

use axum::Router;
use connectrpc_axum::{ContentTypeSwitch, FromRequestPartsLayer, MakeServiceBuilder};
use envd_proto::filesystem::filesystem_connect::FilesystemServiceTonicCompatibleBuilder;
use envd_proto::process::process_connect::ProcessServiceTonicCompatibleBuilder;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tower::ServiceBuilder;

use crate::state::AppState;

/// An over-limit request is answered (429 `resource_exhausted`) before its
/// body is read to the end, after which hyper closes an HTTP/1.1
/// connection; saying so lets the client open a new one for its next call
/// instead of losing that call on the closed one.
async fn close_after_refusal(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let http1 = req.version() < http::Version::HTTP_2;
    let mut response = next.run(req).await;
    if http1 && response.status() == http::StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    response
}

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

    // One limit for every protocol, checked before a message is buffered
    // and again on its decompressed size (gzip bombs).
    let max_message = state.config.max_message_bytes;
    let methods = Arc::new(
        content_type::Methods::from_descriptor_set(envd_proto::FILE_DESCRIPTOR_SET)
            .expect("the checked-in descriptor set is valid"),
    );
    let connect = MakeServiceBuilder::new()
        .receive_max_bytes(max_message)
        .add_router(process_router)
        .add_router(filesystem_router)
        .add_axum_router_raw(http)
        .build()
        .layer(axum::middleware::map_request(
            |req: axum::extract::Request| async move { connect_timeout::zero_means_none(req) },
        ))
        .layer(axum::middleware::from_fn({
            let methods = methods.clone();
            move |req, next| unary_gzip::inflate(methods.clone(), max_message, req, next)
        }))
        .layer(axum::middleware::from_fn(move |req, next| {
            content_type::check(methods.clone(), req, next)
        }))
        .layer(axum::middleware::from_fn(close_after_refusal));

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
    let grpc = ServiceBuilder::new()
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(grpc_status::layer())
        .layer(grpc_timeout::GrpcTimeoutLayer)
        .layer(FromRequestPartsLayer::new())
        .service(routes.prepare());

    Router::new().fallback_service(ContentTypeSwitch::new(grpc, connect))
}

//! The protocol layers every RPC service is served with, apart from the
//! services themselves, so the official Connect conformance server
//! (`conformance/connect`) runs through exactly what envd serves with.

use std::sync::Arc;

use axum::Router;
use connectrpc_axum::{ContentTypeSwitch, FromRequestPartsLayer, MakeServiceBuilder};
use tonic::service::Routes;
use tower::ServiceBuilder;

use super::grpc_json::{self, JsonMethods};
use super::{connect_timeout, content_type, grpc_request, grpc_status, grpc_timeout, unary_gzip};
use crate::server::early_answer;

/// Serves the Connect routers (`connect`) and their tonic twins (`grpc`,
/// each configured with `accept_compressed(Gzip)` and
/// `max_decoding_message_size(max_message)`): `application/grpc*` requests
/// go to tonic (with gRPC-Web translation and `grpc-timeout`, after the
/// checks tonic leaves out; JSON ones transcoded per `json`), everything
/// else to connectrpc-axum. Every path is answered (unknown ones 404). `descriptor_set` names every
/// method's kind for the content-type check.
///
/// # Panics
/// If `descriptor_set` is not a valid `FileDescriptorSet` (it is generated
/// and checked in, so a test catches that).
pub fn protocols(
    connect: impl IntoIterator<Item = Router>,
    grpc: Routes,
    descriptor_set: &[u8],
    json: JsonMethods,
    max_message: usize,
) -> Router {
    let json = Arc::new(json);
    // One limit for every protocol, checked before a message is buffered
    // and again on its decompressed size (gzip bombs).
    let methods = Arc::new(
        content_type::Methods::from_descriptor_set(descriptor_set)
            .expect("the checked-in descriptor set is valid"),
    );
    let mut builder = MakeServiceBuilder::new().receive_max_bytes(max_message);
    for router in connect {
        builder = builder.add_router(router);
    }
    let connect = builder
        .build()
        .layer(axum::middleware::map_request(
            |req: axum::extract::Request| async move { connect_timeout::zero_means_none(req) },
        ))
        .layer(axum::middleware::from_fn({
            let methods = methods.clone();
            move |req, next| unary_gzip::inflate(methods.clone(), max_message, req, next)
        }))
        .layer(axum::middleware::from_fn({
            let methods = methods.clone();
            move |req, next| content_type::check(methods.clone(), max_message, req, next)
        }));

    let grpc = ServiceBuilder::new()
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(grpc_status::layer())
        .layer(grpc_timeout::GrpcTimeoutLayer)
        .layer(FromRequestPartsLayer::new())
        .service(grpc.prepare());

    Router::new()
        .fallback_service(ContentTypeSwitch::new(grpc, connect))
        .layer(axum::middleware::from_fn(move |req, next| {
            grpc_request::check(methods.clone(), max_message, req, next)
        }))
        .layer(axum::middleware::from_fn(move |req, next| {
            grpc_json::transcode(json.clone(), max_message, req, next)
        }))
        .layer(axum::middleware::from_fn(early_answer::close_if_unread))
}

//! What tonic accepts without checking, refused the way grpc-go and
//! connect-go refuse it (the official Connect conformance suite's
//! "gRPC/gRPC-Web Unexpected Requests"):
//! - a verb other than POST is `405` with `Allow: POST`;
//! - a codec other than proto is `415` with `Accept-Post`: tonic would
//!   decode it as protobuf (JSON is transcoded to proto before this check,
//!   by [`super::grpc_json`]);
//! - a unary or server-streaming call whose body holds no message or more
//!   than one is `UNIMPLEMENTED`: tonic answers `INTERNAL` for none and
//!   silently drops the extra ones.
//!
//! Counting needs the body, so a one-message call is buffered
//! ([`one_message::read`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method, StatusCode};

use super::content_type::Methods;
use super::one_message::{self, Refusal};

/// The gRPC content types tonic and tonic-web serve, by essence.
const SERVED: [&str; 6] = [
    "application/grpc",
    "application/grpc+proto",
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc-web-text+proto",
];

/// Checks a gRPC or gRPC-Web request before tonic sees it; anything else
/// passes untouched.
pub(super) async fn check(
    methods: Arc<Methods>,
    max_message: usize,
    req: Request,
    next: Next,
) -> Response {
    let Some(essence) = grpc_essence(&req) else {
        return next.run(req).await;
    };
    if req.method() != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [(ALLOW, "POST")]).into_response();
    }
    if !SERVED.contains(&essence.as_str()) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(
                HeaderName::from_static("accept-post"),
                HeaderValue::from_static(
                    "application/grpc, application/grpc+proto, application/grpc-web, \
                     application/grpc-web+proto",
                ),
            )],
        )
            .into_response();
    }
    // Text bodies are base64; tonic-web decodes them and nothing else sends them.
    let binary = !essence.starts_with("application/grpc-web-text");
    if !binary || methods.takes_one_request(req.uri().path()) != Some(true) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match one_message::read(body, max_message).await {
        Ok(body) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Err(refusal) => {
            // A transcoding layer in front reports bad messages as statuses.
            let carried = match &refusal {
                Refusal::Gone(e) => carried_status(e),
                _ => None,
            };
            let status = carried.unwrap_or_else(|| refusal.to_connect().into());
            let mut response = status.into_http::<Body>();
            if let Ok(content_type) = HeaderValue::from_str(&essence) {
                response.headers_mut().insert(CONTENT_TYPE, content_type);
            }
            response
        }
    }
}

/// The gRPC status a body error carries in its source chain, if any.
fn carried_status(error: &axum::Error) -> Option<tonic::Status> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(status) = e.downcast_ref::<tonic::Status>() {
            return Some(status.clone());
        }
        source = e.source();
    }
    None
}

/// The lower-cased content type without parameters, for gRPC requests.
fn grpc_essence(req: &Request) -> Option<String> {
    let content_type = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("application/grpc").then_some(essence)
}

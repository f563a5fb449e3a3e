//! The RPC channel: tonic's HTTP/2 [`Channel`], plus one repair. envd's
//! auth guard (and any proxy) may answer a gRPC call with a plain HTTP
//! error (e.g. `401` and a JSON body) instead of a `grpc-status`; tonic
//! would then try to decode the JSON as gRPC frames. Such responses are
//! turned into trailers-only gRPC errors whose code comes from the HTTP
//! status (the same table as `/files`) and whose message is envd's.

use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Limited};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tonic::body::Body;
use tonic::transport::Channel;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use envd_proto::envd::common::v1::{ErrorDetail, ErrorReason};
use prost::Message;

use crate::error::{Code, DETAIL_TYPE, RpcAny, RpcStatus};

/// Bytes that `grpc-message` must percent-encode (besides non-ASCII).
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// How much of a non-gRPC error body is read for its message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A [`Channel`] that reports plain HTTP error responses as gRPC statuses.
#[derive(Debug, Clone)]
pub(crate) struct RpcChannel {
    inner: Channel,
}

impl RpcChannel {
    pub(crate) fn new(inner: Channel) -> Self {
        Self { inner }
    }
}

impl tower_service::Service<http::Request<Body>> for RpcChannel {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let response = tower_service::Service::call(&mut self.inner, request);
        Box::pin(async move {
            let response = response.await?;
            if response.status() == http::StatusCode::OK
                || response.headers().contains_key("grpc-status")
            {
                return Ok(response);
            }
            Ok(as_grpc_error(response).await)
        })
    }
}

/// Rewrites a non-gRPC HTTP error into a trailers-only gRPC response.
async fn as_grpc_error(response: http::Response<Body>) -> http::Response<Body> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ErrorBody {
        message: String,
        #[serde(default)]
        connect_code: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    }
    let (mut parts, body) = response.into_parts();
    let status = parts.status;
    let bytes = Limited::new(body, ERROR_BODY_LIMIT)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_else(|_| Bytes::new());
    let mut reason = None;
    let mut code = None;
    let message = match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => {
            reason = body.reason.as_deref().and_then(ErrorReason::from_str_name);
            code = body.connect_code.as_deref().and_then(Code::from_name);
            body.message
        }
        Err(_) => {
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            if text.is_empty() {
                format!("HTTP {status}")
            } else {
                text
            }
        }
    };
    let code = grpc_number(code.unwrap_or_else(|| Code::from_http_status(status.as_u16())));
    parts.status = http::StatusCode::OK;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    parts
        .headers
        .insert("grpc-status", http::HeaderValue::from(code));
    if let Ok(value) =
        http::HeaderValue::from_str(&utf8_percent_encode(&message, GRPC_MESSAGE).to_string())
    {
        parts.headers.insert("grpc-message", value);
    }
    if let Some(reason) = reason {
        let status = RpcStatus {
            code: i32::from(code),
            message,
            details: vec![RpcAny {
                type_url: format!("type.googleapis.com/{DETAIL_TYPE}"),
                value: ErrorDetail {
                    reason: reason.into(),
                }
                .encode_to_vec(),
            }],
        };
        let encoded = STANDARD_NO_PAD.encode(status.encode_to_vec());
        if let Ok(value) = http::HeaderValue::from_str(&encoded) {
            parts.headers.insert("grpc-status-details-bin", value);
        }
    }
    http::Response::from_parts(parts, Body::empty())
}

/// The gRPC status number of `code`.
fn grpc_number(code: Code) -> u16 {
    match code {
        Code::Canceled => 1,
        Code::Unknown => 2,
        Code::InvalidArgument => 3,
        Code::DeadlineExceeded => 4,
        Code::NotFound => 5,
        Code::AlreadyExists => 6,
        Code::PermissionDenied => 7,
        Code::ResourceExhausted => 8,
        Code::FailedPrecondition => 9,
        Code::Aborted => 10,
        Code::OutOfRange => 11,
        Code::Unimplemented => 12,
        Code::Internal => 13,
        Code::Unavailable => 14,
        Code::DataLoss => 15,
        Code::Unauthenticated => 16,
    }
}

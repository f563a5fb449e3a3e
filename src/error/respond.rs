//! The answer of every protocol for an [`Error`], all from its
//! [`Class`](super::Class): a Connect error (which connectrpc-axum and its
//! tonic bridge also send as gRPC and gRPC-Web statuses), a trailers-only
//! gRPC answer, `grpc-status` headers written by hand, and the JSON body of
//! plain-HTTP endpoints.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use connectrpc_axum::{Code, ConnectError};
use envd_proto::envd::common::v1::{ErrorDetail, ErrorReason};

use super::Error;

/// The Connect error-detail type envd attaches to every RPC error.
const DETAIL_TYPE: &str = "envd.common.v1.ErrorDetail";

/// The response header that repeats a plain-HTTP error's reason.
pub const REASON_HEADER: &str = "envd-error-reason";

/// The binary `ErrorDetail` for `reason`.
fn detail_bytes(reason: ErrorReason) -> Vec<u8> {
    let detail = ErrorDetail {
        reason: reason.into(),
    };
    prost::Message::encode_to_vec(&detail)
}

impl Error {
    /// The message sent to clients. Internal errors are logged in full and
    /// sent as they are: they carry OS errors, not secrets, and the SDKs
    /// show them to users who need them to debug.
    fn message(&self) -> String {
        self.to_string()
    }

    /// The gRPC / gRPC-Web answer for requests rejected before reaching a
    /// handler: a trailers-only response (HTTP 200, `grpc-status` and the
    /// reason detail in the headers), which gRPC clients read as a status
    /// instead of failing on a JSON body. `content_type` is the request's.
    pub fn into_grpc_response(self, content_type: &HeaderValue) -> Response {
        let status = tonic::Status::from(ConnectError::from(self));
        let mut response: Response = status.into_http();
        // gRPC-Web clients expect their own content type back.
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type.clone());
        response
    }

    /// `grpc-status` (the number of the error's code) and `grpc-message`,
    /// for answers written outside tonic (a deadline's trailers).
    pub fn grpc_status_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "grpc-status",
            HeaderValue::from(self.classify().code as u16),
        );
        if let Ok(message) = HeaderValue::from_str(&self.message()) {
            headers.insert("grpc-message", message);
        }
        headers
    }

    /// The response `/init` sends: the same status as every other endpoint,
    /// with the message as a plain-text body (spec §5.4: the host and the
    /// E2B orchestrator read `/init` errors as text).
    pub fn into_plain_text_response(self) -> Response {
        let status = self.classify().status;
        if status.is_server_error() {
            tracing::warn!(error = %self, %status, "request failed");
        }
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message(),
        )
            .into_response()
    }
}

impl From<Error> for ConnectError {
    fn from(err: Error) -> Self {
        let class = err.classify();
        if class.code == Code::Internal || class.code == Code::Unknown {
            tracing::warn!(error = %err, code = ?class.code, "request failed");
        }
        ConnectError::new(class.code, err.message())
            .add_detail(DETAIL_TYPE, detail_bytes(class.reason))
    }
}

/// The JSON error body of every plain-HTTP endpoint.
#[derive(Debug, serde::Serialize)]
pub struct HttpErrorBody {
    /// HTTP status code (E2B's field: its SDKs read it as a number).
    pub code: u16,
    /// The Connect code, e.g. `not_found`: what SDKs branch on, the same
    /// for an error whichever protocol carried it.
    #[serde(rename = "connectCode")]
    pub connect_code: Code,
    /// What went wrong.
    pub message: String,
    /// The `envd.common.v1.ErrorReason` value name.
    pub reason: &'static str,
    /// The same reason as a Connect error detail, so Connect clients that
    /// get this body for an RPC (the token guard answers before routing)
    /// find it where they look.
    pub details: [HttpErrorDetail; 1],
}

/// A Connect error detail in JSON: the message type and its binary
/// encoding in unpadded standard base64.
#[derive(Debug, serde::Serialize)]
pub struct HttpErrorDetail {
    /// `envd.common.v1.ErrorDetail`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The encoded `ErrorDetail`.
    pub value: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let class = self.classify();
        let status = class.status;
        if status.is_server_error() {
            tracing::warn!(error = %self, %status, "request failed");
        }
        http_error(status, class.code, self.message(), class.reason)
    }
}

/// The JSON error response for `status`, `code`, `message` and `reason`.
fn http_error(status: StatusCode, code: Code, message: String, reason: ErrorReason) -> Response {
    let body = HttpErrorBody {
        code: status.as_u16(),
        connect_code: code,
        message,
        reason: reason.as_str_name(),
        details: [HttpErrorDetail {
            kind: DETAIL_TYPE,
            value: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                detail_bytes(reason),
            ),
        }],
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Also in a header: Connect clients do not read the body of a failed
    // streaming call, but they do keep its headers.
    headers.insert(
        REASON_HEADER,
        HeaderValue::from_static(reason.as_str_name()),
    );
    response
}

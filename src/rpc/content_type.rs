//! Connect content types checked against the method's kind before
//! connectrpc-axum sees the request: a streaming type on a unary method (or
//! the reverse) is `415 Unsupported Media Type` with `Accept-Post`, as
//! connect-go answers, instead of the library's `200` error frame or `500`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use prost::Message;

/// Whether a method streams its requests or responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// One request, one response.
    Unary,
    /// Either side streams.
    Streaming,
}

impl Kind {
    /// The content types a method of this kind is served with.
    fn accept_post(self) -> &'static str {
        match self {
            Self::Unary => {
                "application/grpc, application/grpc+proto, application/grpc-web, \
                 application/grpc-web+proto, application/json, application/proto"
            }
            Self::Streaming => {
                "application/connect+json, application/connect+proto, application/grpc, \
                 application/grpc+proto, application/grpc-web, application/grpc-web+proto"
            }
        }
    }
}

/// Every method's kind, by route path (`/package.Service/Method`).
#[derive(Debug, Default)]
pub(super) struct Methods(HashMap<String, Kind>);

impl Methods {
    /// Reads the methods of every service in an encoded descriptor set.
    pub(super) fn from_descriptor_set(encoded: &[u8]) -> Result<Self, prost::DecodeError> {
        let set = prost_types::FileDescriptorSet::decode(encoded)?;
        let mut methods = HashMap::new();
        for file in &set.file {
            let package = file.package();
            for service in &file.service {
                let service_name = match package {
                    "" => service.name().to_owned(),
                    p => format!("{p}.{}", service.name()),
                };
                for method in &service.method {
                    let kind = if method.client_streaming() || method.server_streaming() {
                        Kind::Streaming
                    } else {
                        Kind::Unary
                    };
                    methods.insert(format!("/{service_name}/{}", method.name()), kind);
                }
            }
        }
        Ok(Self(methods))
    }

    /// The kind of the method at `path`, if it is one.
    pub(super) fn kind(&self, path: &str) -> Option<Kind> {
        self.0.get(path).copied()
    }
}

/// The kind a Connect content type is for, ignoring parameters and case;
/// `None` for anything that is not a Connect type (gRPC is routed
/// elsewhere, unknown types get the library's 415).
pub(super) fn connect_kind(content_type: &str) -> Option<Kind> {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("application/proto")
    {
        Some(Kind::Unary)
    } else if essence.eq_ignore_ascii_case("application/connect+json")
        || essence.eq_ignore_ascii_case("application/connect+proto")
    {
        Some(Kind::Streaming)
    } else {
        None
    }
}

/// Refuses a POST whose Connect content type is for the other kind of method.
pub(super) async fn check(methods: Arc<Methods>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST
        && let Some(method) = methods.kind(req.uri().path())
        && let Some(sent) = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(connect_kind)
        && sent != method
    {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(
                HeaderName::from_static("accept-post"),
                HeaderValue::from_static(method.accept_post()),
            )],
        )
            .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_come_from_the_descriptor_set() {
        let methods = Methods::from_descriptor_set(envd_proto::FILE_DESCRIPTOR_SET).unwrap();
        assert_eq!(
            methods.kind("/filesystem.Filesystem/Stat"),
            Some(Kind::Unary)
        );
        assert_eq!(
            methods.kind("/process.Process/Start"),
            Some(Kind::Streaming)
        );
        assert_eq!(
            methods.kind("/process.Process/StreamInput"),
            Some(Kind::Streaming)
        );
        assert_eq!(methods.kind("/files"), None);
    }

    #[test]
    fn connect_types_are_matched_without_parameters_or_case() {
        assert_eq!(
            connect_kind("application/json; charset=utf-8"),
            Some(Kind::Unary)
        );
        assert_eq!(connect_kind("Application/Proto"), Some(Kind::Unary));
        assert_eq!(
            connect_kind("application/connect+json"),
            Some(Kind::Streaming)
        );
        assert_eq!(connect_kind("application/grpc"), None);
        assert_eq!(connect_kind("text/plain"), None);
    }
}

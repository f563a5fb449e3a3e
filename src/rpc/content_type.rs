//! Connect requests checked against the method before connectrpc-axum sees
//! them, answering as connect-go does: a streaming type on a unary method
//! (or the reverse) is `415 Unsupported Media Type` with `Accept-Post`
//! instead of the library's `200` error frame or `500`; an unknown unary
//! compression and a streaming body without exactly one message for a
//! one-message method are `unimplemented`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use connectrpc_axum::{Code, ConnectError};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use prost::Message;

use super::one_message;

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

/// Every method's kind, and whether its client streams, by route path
/// (`/package.Service/Method`).
#[derive(Debug, Default)]
pub(super) struct Methods(HashMap<String, (Kind, bool)>);

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
                    methods.insert(
                        format!("/{service_name}/{}", method.name()),
                        (kind, method.client_streaming()),
                    );
                }
            }
        }
        Ok(Self(methods))
    }

    /// The kind of the method at `path`, if it is one.
    pub(super) fn kind(&self, path: &str) -> Option<Kind> {
        self.0.get(path).map(|(kind, _)| *kind)
    }

    /// Every method's route path.
    #[cfg(test)]
    pub(super) fn paths(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }

    /// Whether the method at `path` takes exactly one request message
    /// (unary and server-streaming), if it is one.
    pub(super) fn takes_one_request(&self, path: &str) -> Option<bool> {
        self.0
            .get(path)
            .map(|(_, client_streaming)| !client_streaming)
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

/// Refuses a POST whose Connect content type is for the other kind of
/// method (415), a unary body in a compression we do not speak, and a
/// streaming body that does not hold exactly the one message its method
/// takes (`unimplemented`, as connect-go answers both).
pub(super) async fn check(
    methods: Arc<Methods>,
    max_message: usize,
    req: Request,
    next: Next,
) -> Response {
    let Some(method) = methods.kind(req.uri().path()) else {
        return next.run(req).await;
    };
    let sent = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| connect_kind(t).map(|kind| (kind, is_proto(t))));
    let Some((sent, proto)) = sent.filter(|_| req.method() == Method::POST) else {
        return next.run(req).await;
    };
    if sent != method {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(
                HeaderName::from_static("accept-post"),
                HeaderValue::from_static(method.accept_post()),
            )],
        )
            .into_response();
    }
    if sent == Kind::Unary {
        if let Some(encoding) = unknown_encoding(&req) {
            return ConnectError::new(
                Code::Unimplemented,
                format!("unknown compression {encoding:?}: supported encodings are gzip"),
            )
            .into_response();
        }
        return next.run(req).await;
    }
    if methods.takes_one_request(req.uri().path()) != Some(true) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match one_message::read(body, max_message).await {
        Ok(body) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Err(refusal) => refusal.to_connect().into_streaming_response(proto),
    }
}

/// Whether a Connect content type carries protobuf (not JSON).
fn is_proto(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/proto")
        || essence.eq_ignore_ascii_case("application/connect+proto")
}

/// A unary body's `Content-Encoding` other than gzip and identity.
fn unknown_encoding(req: &Request) -> Option<String> {
    let encoding = req.headers().get(CONTENT_ENCODING)?;
    let encoding = String::from_utf8_lossy(encoding.as_bytes())
        .trim()
        .to_owned();
    let known = encoding.is_empty()
        || encoding.eq_ignore_ascii_case("gzip")
        || encoding.eq_ignore_ascii_case("identity");
    (!known).then_some(encoding)
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
        assert_eq!(
            methods.takes_one_request("/process.Process/Start"),
            Some(true)
        );
        assert_eq!(
            methods.takes_one_request("/process.Process/StreamInput"),
            Some(false)
        );
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

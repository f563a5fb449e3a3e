//! A response read whole, from a real envd (reqwest) or from the router in
//! this process: status, headers, body and, for gRPC, trailers.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Trailers (gRPC over HTTP/2; empty otherwise).
    pub trailers: HeaderMap,
}

impl Reply {
    /// Reads `response` whole.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body");
        Self {
            status,
            headers,
            body,
            trailers: HeaderMap::new(),
        }
    }

    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `grpc-status` from the headers (trailers-only) or the trailers.
    pub fn grpc_status(&self) -> &str {
        self.headers
            .get("grpc-status")
            .or_else(|| self.trailers.get("grpc-status"))
            .map_or("", |v| v.to_str().unwrap())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts a spec error body (`{"code":status,"connectCode":…,"message":…}`,
    /// JSON content type, nosniff) and returns the message.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(
            self.status,
            status,
            "body: {:?}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            "application/json; charset=utf-8"
        );
        assert_eq!(self.header("x-content-type-options"), "nosniff");
        let json = self.json();
        assert_eq!(json["code"], status);
        assert!(json["connectCode"].is_string(), "{json}");
        json["message"].as_str().expect("message").to_owned()
    }
}

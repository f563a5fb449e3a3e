//! CORS on the process RPC routes: preflights are answered without a token
//! and mirror the requested headers; real responses (unary and streaming)
//! allow any origin and expose the gRPC status headers.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod support;

use support::process::{LIST, START};
use support::{Envd, envelope, start_req};

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", resp.headers()))
        .to_str()
        .unwrap()
}

fn exposes(resp: &reqwest::Response, name: &str) -> bool {
    header(resp, "access-control-expose-headers")
        .split(',')
        .any(|h| h.trim().eq_ignore_ascii_case(name))
}

#[tokio::test]
async fn preflight_on_start_mirrors_headers_without_a_token() {
    let envd = Envd::start();
    // With an access token set, the preflight still needs none.
    let init = envd
        .http
        .post(envd.url("/init"))
        .json(&serde_json::json!({"accessToken": "cors-test-token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status().as_u16(), 204);
    let resp = envd
        .http
        .request(reqwest::Method::OPTIONS, envd.url(&format!("/{START}")))
        .header("origin", "http://example.test")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(
        matches!(resp.status().as_u16(), 200 | 204),
        "{}",
        resp.status()
    );
    assert_eq!(header(&resp, "access-control-allow-origin"), "*");
    assert_eq!(
        header(&resp, "access-control-allow-headers"),
        "authorization,content-type"
    );
    let methods = header(&resp, "access-control-allow-methods");
    assert!(methods.split(',').any(|m| m.trim() == "POST"), "{methods}");
    assert_eq!(header(&resp, "access-control-max-age"), "7200");
    // The real request without the token is refused, with CORS headers.
    let refused = envd
        .http
        .post(envd.url(&format!("/{START}")))
        .header("origin", "http://example.test")
        .header("content-type", "application/connect+json")
        .body(envelope(0, start_req("true", &[]).to_string().as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(header(&refused, "access-control-allow-origin"), "*");
}

#[tokio::test]
async fn unary_and_streaming_responses_carry_cors_headers() {
    let envd = Envd::start();
    let list = envd
        .http
        .post(envd.url(&format!("/{LIST}")))
        .header("origin", "http://example.test")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status().as_u16(), 200);
    assert_eq!(header(&list, "access-control-allow-origin"), "*");
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(exposes(&list, name), "{name} not exposed");
    }

    let start = envd
        .http
        .post(envd.url(&format!("/{START}")))
        .header("origin", "http://example.test")
        .header("content-type", "application/connect+json")
        .body(envelope(0, start_req("true", &[]).to_string().as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status().as_u16(), 200);
    assert_eq!(header(&start, "access-control-allow-origin"), "*");
    assert!(exposes(&start, "grpc-status"));
    let _ = start.bytes().await.unwrap();
}

//! Protocol errors a client makes get a client error, the way connect-go
//! answers them: a Connect content type of the other method kind is `415`
//! with `Accept-Post`, a body that is not the gzip it claims is `400
//! invalid_argument`.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod support;

use serde_json::json;
use support::Envd;
use support::files::gzip;
use support::process::connect_error;

const STAT: &str = "/filesystem.Filesystem/Stat";
const START: &str = "/process.Process/Start";

/// POSTs `body` to `path` with `content_type`: `(status, Accept-Post, body)`.
async fn post(envd: &Envd, path: &str, content_type: &str, body: Vec<u8>) -> (u16, String, String) {
    let resp = envd
        .http
        .post(envd.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let accept = resp
        .headers()
        .get("accept-post")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, accept, resp.text().await.unwrap())
}

#[tokio::test]
async fn streaming_content_type_on_a_unary_method_is_415() {
    let envd = Envd::start();
    let message = json!({"path": "/"}).to_string().into_bytes();
    for content_type in ["application/connect+json", "application/connect+proto"] {
        let body = support::envelope(0, &message);
        let (status, accept, text) = post(&envd, STAT, content_type, body).await;
        assert_eq!(status, 415, "{content_type}: {text}");
        assert!(accept.contains("application/json"), "{accept}");
        assert!(accept.contains("application/proto"), "{accept}");
        assert!(!accept.contains("connect+json"), "{accept}");
    }
    // The right type on the same route still works.
    let (status, _, text) = post(&envd, STAT, "application/json", message).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn unary_content_type_on_a_streaming_method_is_415() {
    let envd = Envd::start();
    let message = json!({"process": {"cmd": "/bin/true"}})
        .to_string()
        .into_bytes();
    for content_type in [
        "application/json",
        "application/proto",
        "application/json; charset=utf-8",
    ] {
        let (status, accept, text) = post(&envd, START, content_type, message.clone()).await;
        assert_eq!(status, 415, "{content_type}: {text}");
        assert!(accept.contains("application/connect+json"), "{accept}");
        assert!(accept.contains("application/connect+proto"), "{accept}");
    }
    // Nothing was started by the refused calls.
    assert!(envd.list().await.is_empty());
}

#[tokio::test]
async fn unknown_content_type_is_415() {
    let envd = Envd::start();
    let (status, accept, _) = post(&envd, STAT, "text/plain", b"{}".to_vec()).await;
    assert_eq!(status, 415);
    assert!(accept.contains("application/json"), "{accept}");
}

/// A unary call whose body is declared as gzip.
async fn gzip_stat(envd: &Envd, body: Vec<u8>) -> (u16, serde_json::Value) {
    let resp = envd
        .http
        .post(envd.url(STAT))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn a_body_that_is_not_the_gzip_it_claims_is_invalid_argument() {
    let envd = Envd::start();
    let message = json!({"path": "/"}).to_string();
    let compressed = gzip(message.as_bytes());

    let (status, body) = gzip_stat(&envd, compressed.clone()).await;
    assert_eq!(status, 200, "real gzip is served: {body}");
    assert_eq!(body["entry"]["path"], "/");

    let truncated = compressed[..compressed.len() - 6].to_vec();
    let mut corrupt = compressed.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    for (what, body) in [
        ("plain text", message.clone().into_bytes()),
        ("truncated", truncated),
        ("corrupt", corrupt),
    ] {
        let (status, reply) = gzip_stat(&envd, body).await;
        let (code, text) = connect_error(&reply);
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_argument"),
            "{what}: {reply}"
        );
        assert!(text.contains("gzip"), "{what}: {text}");
        assert_eq!(reply["details"][0]["type"], "envd.common.v1.ErrorDetail");
    }
}

/// HTTP/1.1 pipelining: 50 requests in one write, then `shutdown(SHUT_WR)`
/// — every one is answered, in order, before envd closes (it answered 49
/// when hyper treated the half-close as the client leaving).
#[tokio::test]
async fn pipelined_requests_before_a_half_close_are_all_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let envd = Envd::start();
    let addr = envd.url("").trim_start_matches("http://").to_owned();
    let request = "GET /health HTTP/1.1\r\nHost: envd\r\n\r\n".repeat(50);
    for attempt in 0..10 {
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        let mut answers = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            socket.read_to_string(&mut answers),
        )
        .await
        .expect("envd closes the connection after the last answer")
        .unwrap();
        assert_eq!(
            answers.matches("HTTP/1.1 200 OK").count(),
            50,
            "attempt {attempt}: {answers}"
        );
    }
}

/// A `StatRequest { path: "/" }` in protobuf.
const STAT_ROOT: &[u8] = &[0x0a, 0x01, b'/'];

/// POSTs a gRPC-Web `body` to Stat: `(status, headers)`.
async fn grpc_web_stat(
    envd: &Envd,
    method: reqwest::Method,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap) {
    let resp = envd
        .http
        .request(method, envd.url(STAT))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    drop(resp.bytes().await);
    (status, headers)
}

/// What tonic would accept is refused as grpc-go and connect-go refuse it
/// (the official conformance suite's "gRPC-Web Unexpected Requests").
#[tokio::test]
async fn grpc_requests_tonic_would_misread_are_refused() {
    let envd = Envd::start();
    let one = support::envelope(0, STAT_ROOT);
    let web = "application/grpc-web+proto";

    let (status, headers) = grpc_web_stat(&envd, reqwest::Method::POST, web, one.clone()).await;
    assert_eq!(status, 200);
    assert!(headers.get("grpc-status").is_none(), "{headers:?}");

    let (status, headers) = grpc_web_stat(&envd, reqwest::Method::DELETE, web, one.clone()).await;
    assert_eq!((status, headers["allow"].to_str().unwrap()), (405, "POST"));

    // A codec tonic does not know would be decoded as protobuf.
    let foo = support::envelope(0, STAT_ROOT);
    let (status, headers) = grpc_web_stat(
        &envd,
        reqwest::Method::POST,
        "application/grpc-web+foo",
        foo,
    )
    .await;
    assert_eq!(status, 415);
    assert!(
        headers["accept-post"]
            .to_str()
            .unwrap()
            .contains("application/grpc-web+proto")
    );

    let mut two = one.clone();
    two.extend(&one);
    for (what, body) in [("no message", Vec::new()), ("two messages", two)] {
        let (status, headers) = grpc_web_stat(&envd, reqwest::Method::POST, web, body).await;
        assert_eq!(status, 200, "{what}");
        assert_eq!(headers["grpc-status"], "12", "{what}: {headers:?}");
    }
}

#[tokio::test]
async fn a_connect_stream_without_exactly_one_request_starts_nothing() {
    let envd = Envd::start();
    let message = json!({"process": {"cmd": "/bin/true"}})
        .to_string()
        .into_bytes();
    let one = support::envelope(0, &message);
    let mut two = one.clone();
    two.extend(&one);
    for (what, body) in [("no message", Vec::new()), ("two messages", two)] {
        let (status, _, text) = post(&envd, START, "application/connect+json", body).await;
        assert_eq!(status, 200, "{what}: {text}");
        // The only frame is the end of the stream, carrying the error.
        let end: serde_json::Value = serde_json::from_slice(&text.as_bytes()[5..]).unwrap();
        assert_eq!(text.as_bytes()[0], 0x02, "{what}: {text}");
        assert_eq!(connect_error(&end).0, "unimplemented", "{what}: {end}");
    }
    assert!(envd.list().await.is_empty());
}

#[tokio::test]
async fn an_unknown_unary_compression_is_unimplemented() {
    let envd = Envd::start();
    let resp = envd
        .http
        .post(envd.url(STAT))
        .header("content-type", "application/json")
        .header("content-encoding", "br")
        .body(json!({"path": "/"}).to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    let (code, message) = connect_error(&body);
    assert_eq!((status, code.as_str()), (501, "unimplemented"), "{body}");
    assert!(message.contains("br"), "{message}");
}

/// An answer given before the request body ended leaves the rest on the
/// connection, which hyper then closes: the answer says so, and a client
/// does not send its next call on a dying connection.
#[tokio::test]
async fn an_answer_before_the_body_ended_closes_the_http1_connection() {
    let envd = Envd::start();
    // A length prefix far over the limit, and only part of its payload.
    let mut refused = vec![0, 0x10, 0, 0, 0];
    refused.extend(vec![0; 64 * 1024]);
    let (status, headers) = grpc_web_stat(
        &envd,
        reqwest::Method::POST,
        "application/grpc-web",
        refused,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["grpc-status"], "8", "{headers:?}");
    assert_eq!(headers["connection"], "close");
    // A call that read its body keeps the connection.
    let one = support::envelope(0, STAT_ROOT);
    let (_, headers) =
        grpc_web_stat(&envd, reqwest::Method::POST, "application/grpc-web", one).await;
    assert!(headers.get("connection").is_none(), "{headers:?}");
}

/// gRPC-Web with the JSON codec (connect-go serves it; tonic alone would
/// read the JSON as protobuf): JSON in, JSON out, trailers untouched.
#[tokio::test]
async fn grpc_web_json_is_transcoded_both_ways() {
    let envd = Envd::start();
    let body = support::envelope(0, br#"{"path":"/"}"#);
    let resp = envd
        .http
        .post(envd.url(STAT))
        .header("content-type", "application/grpc-web+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/grpc-web+json");
    let bytes = resp.bytes().await.unwrap();
    let length = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
    assert_eq!(bytes[0], 0);
    let message: serde_json::Value = serde_json::from_slice(&bytes[5..5 + length]).unwrap();
    assert_eq!(message["entry"]["path"], "/", "{message}");
    let trailers = String::from_utf8_lossy(&bytes[5 + length + 5..]).to_string();
    assert_eq!(bytes[5 + length], 0x80);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // A message that is not the method's JSON is invalid_argument.
    let resp = envd
        .http
        .post(envd.url(STAT))
        .header("content-type", "application/grpc-web+json")
        .body(support::envelope(0, b"[1,2]"))
        .send()
        .await
        .unwrap();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let all = format!("{headers:?} {}", String::from_utf8_lossy(&bytes));
    assert!(
        all.contains(r#""grpc-status": "3""#) || all.contains("grpc-status:3"),
        "{all}"
    );
}

//! Protocol errors a client makes get a client error, the way connect-go
//! answers them, in process: a Connect content type of the other method
//! kind is `415` with `Accept-Post`, a body that is not the gzip it claims
//! is `400 invalid_argument`, gRPC-Web requests tonic would misread are
//! refused, and gRPC-Web JSON is transcoded.

use axum::body::Body;
use http::Method;
use serde_json::{Value, json};

use crate::support::app::App;
use crate::support::connect::{connect_error, envelope};
use crate::support::files::gzip;
use crate::support::frames::{END_STREAM, frames_of};
use crate::support::reply::Reply;

const STAT: &str = "/filesystem.Filesystem/Stat";
const START: &str = "/process.Process/Start";

/// A `StatRequest { path: "/" }` in protobuf.
const STAT_ROOT: &[u8] = &[0x0a, 0x01, b'/'];

/// Whether `List` shows no process.
async fn nothing_started(app: &App) -> bool {
    let reply = app
        .post("/process.Process/List", "application/json", &[], "{}")
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply
        .json()
        .get("processes")
        .is_none_or(|p| p == &json!([]))
}

#[tokio::test]
async fn streaming_content_type_on_a_unary_method_is_415() {
    let app = App::new().await;
    let message = json!({"path": "/"}).to_string().into_bytes();
    for content_type in ["application/connect+json", "application/connect+proto"] {
        let reply = app
            .post(STAT, content_type, &[], envelope(0, &message))
            .await;
        assert_eq!(reply.status, 415, "{content_type}: {reply:?}");
        let accept = reply.header("accept-post");
        assert!(accept.contains("application/json"), "{accept}");
        assert!(accept.contains("application/proto"), "{accept}");
        assert!(!accept.contains("connect+json"), "{accept}");
    }
    // The right type on the same route still works.
    let reply = app.post(STAT, "application/json", &[], message).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn unary_content_type_on_a_streaming_method_is_415() {
    let app = App::new().await;
    let message = json!({"process": {"cmd": "/bin/true"}}).to_string();
    for content_type in [
        "application/json",
        "application/proto",
        "application/json; charset=utf-8",
    ] {
        let reply = app.post(START, content_type, &[], message.clone()).await;
        assert_eq!(reply.status, 415, "{content_type}: {reply:?}");
        let accept = reply.header("accept-post");
        assert!(accept.contains("application/connect+json"), "{accept}");
        assert!(accept.contains("application/connect+proto"), "{accept}");
    }
    assert!(nothing_started(&app).await);
}

#[tokio::test]
async fn unknown_content_type_is_415() {
    let app = App::new().await;
    let reply = app.post(STAT, "text/plain", &[], "{}").await;
    assert_eq!(reply.status, 415);
    assert!(reply.header("accept-post").contains("application/json"));
}

/// A unary Stat whose body is declared as gzip.
async fn gzip_stat(app: &App, body: Vec<u8>) -> (u16, Value) {
    let reply = app
        .post(
            STAT,
            "application/json",
            &[("content-encoding", "gzip")],
            body,
        )
        .await;
    (reply.status, reply.json())
}

#[tokio::test]
async fn a_body_that_is_not_the_gzip_it_claims_is_invalid_argument() {
    let app = App::new().await;
    let message = json!({"path": "/"}).to_string();
    let compressed = gzip(message.as_bytes());

    let (status, body) = gzip_stat(&app, compressed.clone()).await;
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
        let (status, reply) = gzip_stat(&app, body).await;
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

/// Sends a gRPC-Web `body` to Stat with `method` and `content_type`.
async fn grpc_web_stat(app: &App, method: Method, content_type: &str, body: Vec<u8>) -> Reply {
    let request = App::request(method, STAT)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    app.send(request).await
}

/// What tonic would accept is refused as grpc-go and connect-go refuse it
/// (the official conformance suite's "gRPC-Web Unexpected Requests").
#[tokio::test]
async fn grpc_requests_tonic_would_misread_are_refused() {
    let app = App::new().await;
    let one = envelope(0, STAT_ROOT);
    let web = "application/grpc-web+proto";

    let reply = grpc_web_stat(&app, Method::POST, web, one.clone()).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.get("grpc-status").is_none(), "{reply:?}");

    let reply = grpc_web_stat(&app, Method::DELETE, web, one.clone()).await;
    assert_eq!((reply.status, reply.header("allow")), (405, "POST"));

    // A codec tonic does not know would be decoded as protobuf.
    let reply = grpc_web_stat(&app, Method::POST, "application/grpc-web+foo", one.clone()).await;
    assert_eq!(reply.status, 415);
    assert!(
        reply
            .header("accept-post")
            .contains("application/grpc-web+proto")
    );

    let mut two = one.clone();
    two.extend(&one);
    for (what, body) in [("no message", Vec::new()), ("two messages", two)] {
        let reply = grpc_web_stat(&app, Method::POST, web, body).await;
        assert_eq!(reply.status, 200, "{what}");
        assert_eq!(reply.header("grpc-status"), "12", "{what}: {reply:?}");
    }
}

#[tokio::test]
async fn a_connect_stream_without_exactly_one_request_starts_nothing() {
    let app = App::new().await;
    let message = json!({"process": {"cmd": "/bin/true"}})
        .to_string()
        .into_bytes();
    let one = envelope(0, &message);
    let mut two = one.clone();
    two.extend(&one);
    for (what, body) in [("no message", Vec::new()), ("two messages", two)] {
        let reply = app.post(START, "application/connect+json", &[], body).await;
        assert_eq!(reply.status, 200, "{what}: {reply:?}");
        // The only frame is the end of the stream, carrying the error.
        let frames = frames_of(&reply.body);
        assert_eq!(frames.len(), 1, "{what}: {reply:?}");
        let (flags, payload) = &frames[0];
        assert_eq!(*flags, END_STREAM, "{what}: {reply:?}");
        let end: Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(connect_error(&end).0, "unimplemented", "{what}: {end}");
    }
    assert!(nothing_started(&app).await);
}

#[tokio::test]
async fn an_unknown_unary_compression_is_unimplemented() {
    let app = App::new().await;
    let reply = app
        .post(
            STAT,
            "application/json",
            &[("content-encoding", "br")],
            json!({"path": "/"}).to_string(),
        )
        .await;
    let body = reply.json();
    let (code, message) = connect_error(&body);
    assert_eq!(
        (reply.status, code.as_str()),
        (501, "unimplemented"),
        "{body}"
    );
    assert!(message.contains("br"), "{message}");
}

/// gRPC-Web with the JSON codec (connect-go serves it; tonic alone would
/// read the JSON as protobuf): JSON in, JSON out, trailers untouched.
#[tokio::test]
async fn grpc_web_json_is_transcoded_both_ways() {
    let app = App::new().await;
    let json_web = "application/grpc-web+json";
    let reply = grpc_web_stat(
        &app,
        Method::POST,
        json_web,
        envelope(0, br#"{"path":"/"}"#),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), json_web);
    let frames = frames_of(&reply.body);
    assert_eq!(frames.len(), 2, "a message and the trailers: {reply:?}");
    assert_eq!(frames[0].0, 0);
    let message: Value = serde_json::from_slice(&frames[0].1).unwrap();
    assert_eq!(message["entry"]["path"], "/", "{message}");
    assert_eq!(frames[1].0, 0x80);
    let trailers = String::from_utf8_lossy(&frames[1].1).to_string();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // A message that is not the method's JSON is invalid_argument.
    let reply = grpc_web_stat(&app, Method::POST, json_web, envelope(0, b"[1,2]")).await;
    let all = format!("{:?} {}", reply.headers, reply.text());
    assert!(
        all.contains(r#""grpc-status": "3""#) || all.contains("grpc-status:3"),
        "{all}"
    );
}

//! CORS, in process: preflights are answered without a token and mirror
//! the requested headers; real answers (unary, streaming and the guard's
//! refusals) allow any origin and expose the headers clients read.

use axum::body::Body;
use http::Method;
use serde_json::json;

use crate::support::app::App;
use crate::support::connect::envelope;
use crate::support::reply::Reply;

const ORIGIN: &str = "https://app.example";

fn exposes(reply: &Reply, name: &str) -> bool {
    reply
        .header("access-control-expose-headers")
        .split(',')
        .any(|h| h.trim().eq_ignore_ascii_case(name))
}

async fn preflight(app: &App, path: &str, headers: &str) -> Reply {
    let request = App::request(Method::OPTIONS, path)
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

#[tokio::test]
async fn preflights_need_no_token_and_mirror_the_requested_headers() {
    let app = App::with_token("cors-test-token").await;
    for path in [
        "/process.Process/Start",
        "/envs",
        "/filesystem.Filesystem/Stat",
        "/files",
    ] {
        let requested = "authorization,content-type,x-access-token,connect-protocol-version";
        let reply = preflight(&app, path, requested).await;
        assert!(matches!(reply.status, 200 | 204), "{path}: {reply:?}");
        assert_eq!(reply.header("access-control-allow-origin"), "*", "{path}");
        assert_eq!(reply.header("access-control-allow-headers"), requested);
        assert_eq!(reply.header("access-control-max-age"), "7200");
        let methods = reply.header("access-control-allow-methods");
        assert!(methods.split(',').any(|m| m.trim() == "POST"), "{methods}");
    }
}

#[tokio::test]
async fn refusals_carry_cors_headers() {
    let app = App::with_token("cors-test-token").await;
    let get = App::request(Method::GET, "/envs")
        .header("origin", ORIGIN)
        .body(Body::empty())
        .unwrap();
    let start = App::request(Method::POST, "/process.Process/Start")
        .header("origin", ORIGIN)
        .header("content-type", "application/connect+json")
        .body(Body::from(envelope(0, br#"{"process":{"cmd":"true"}}"#)))
        .unwrap();
    for request in [get, start] {
        let what = format!("{} {}", request.method(), request.uri());
        let reply = app.send(request).await;
        assert_eq!(reply.status, 401, "{what}");
        assert_eq!(reply.header("access-control-allow-origin"), "*", "{what}");
    }
}

#[tokio::test]
async fn unary_and_streaming_answers_carry_cors_headers() {
    let app = App::new().await;
    let list = App::request(Method::POST, "/process.Process/List")
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let reply = app.send(list).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("access-control-allow-origin"), "*");
    for name in [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "envd-error-reason",
    ] {
        assert!(exposes(&reply, name), "{name} not exposed: {reply:?}");
    }
    // A stream (Connect to a pid envd never started: no process runs).
    let connect = App::request(Method::POST, "/process.Process/Connect")
        .header("origin", ORIGIN)
        .header("content-type", "application/connect+json")
        .body(Body::from(envelope(
            0,
            json!({"process": {"pid": 999_999_999}})
                .to_string()
                .as_bytes(),
        )))
        .unwrap();
    let reply = app.send(connect).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("access-control-allow-origin"), "*");
    assert!(exposes(&reply, "grpc-status"));
}

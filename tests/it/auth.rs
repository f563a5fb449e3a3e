//! The access-token guard (spec §6.1), in process: a matrix over every
//! method of every service in the descriptor sets envd serves
//! (`envd_proto::FILE_DESCRIPTOR_SET` and gRPC reflection's) and every
//! operation in `docs/openapi.json`, so a new RPC or route is covered the
//! day it is added. For each: no token and wrong tokens are refused as the
//! guard refuses, the right token is not. Operations the document marks as
//! needing no token (`security` allows `{}`) must pass the guard without one.
//!
//! Requests that pass the guard are harmless: envd's RPC messages do not
//! decode (so no handler body runs), reflection is asked to list services,
//! and each plain-HTTP route has a probe that touches only this test's
//! scratch directory or the scratch paths the state points at.

use axum::body::Body;
use http::Method;
use prost::Message as _;
use prost_types::FileDescriptorSet;
use serde_json::{Value, json};

use crate::support::app::App;
use crate::support::connect::envelope;
use crate::support::frames::{END_STREAM, frames_of};
use crate::support::reply::Reply;

const TOKEN: &str = "secret-access-token";
const GUARD_MESSAGE: &str =
    "unauthorized access, please provide a valid access token or method signing if supported";

/// Tokens that must be refused: none, and near misses.
const WRONG: [Option<&str>; 5] = [
    None,
    Some(""),
    Some("wrong"),
    Some("secret-access-toke"),
    Some("secret-access-token2"),
];

/// One RPC method from a descriptor set.
#[derive(Debug, Clone)]
struct Rpc {
    /// `/package.Service/Method`
    path: String,
    /// Client or server streaming: Connect frames the message.
    streaming: bool,
    /// envd's own (Connect and gRPC), or gRPC reflection's (gRPC only).
    reflection: bool,
}

fn rpcs_of(descriptors: &[u8], reflection: bool) -> Vec<Rpc> {
    let set = FileDescriptorSet::decode(descriptors).expect("a FileDescriptorSet");
    let mut out = Vec::new();
    for file in set.file {
        for service in &file.service {
            for method in &service.method {
                out.push(Rpc {
                    path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                    streaming: method.client_streaming() || method.server_streaming(),
                    reflection,
                });
            }
        }
    }
    out
}

/// Every RPC envd serves, from the descriptor sets it serves them from.
fn rpcs() -> Vec<Rpc> {
    let mut all = rpcs_of(envd_proto::FILE_DESCRIPTOR_SET, false);
    all.extend(rpcs_of(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET, true));
    all.extend(rpcs_of(
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        true,
    ));
    all
}

/// A Connect request whose message is not JSON: past the guard it is
/// `invalid_argument` before any handler body runs.
fn connect_request(rpc: &Rpc, token: Option<&str>) -> http::Request<Body> {
    let (content_type, body) = if rpc.streaming {
        ("application/connect+json", envelope(0, b"{"))
    } else {
        ("application/json", b"{".to_vec())
    };
    with_token(
        App::request(Method::POST, &rpc.path).header("content-type", content_type),
        token,
    )
    .body(Body::from(body))
    .unwrap()
}

/// `ServerReflectionRequest { list_services: "" }`: reflection reads its
/// stream past messages it cannot decode, so its probe is a valid one.
const LIST_SERVICES: &[u8] = &[0x3a, 0x00];

/// A gRPC request (HTTP/2, as gRPC needs). envd's methods get a message
/// that is not protobuf (a varint that never ends); reflection gets
/// [`LIST_SERVICES`].
fn grpc_request(rpc: &Rpc, token: Option<&str>) -> http::Request<Body> {
    let message: &[u8] = if rpc.reflection {
        LIST_SERVICES
    } else {
        &[0xff]
    };
    with_token(
        App::request(Method::POST, &rpc.path)
            .version(http::Version::HTTP_2)
            .header("content-type", "application/grpc")
            .header("te", "trailers"),
        token,
    )
    .body(Body::from(envelope(0, message)))
    .unwrap()
}

fn with_token(request: http::request::Builder, token: Option<&str>) -> http::request::Builder {
    match token {
        Some(token) => request.header("x-access-token", token),
        None => request,
    }
}

/// The guard's refusal: 401 and its JSON body, the reason in Connect
/// `details` too (`ErrorDetail { reason: 19 }` = `08 13`).
fn assert_guard_refusal(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {reply:?}");
    assert!(
        reply.header("content-type").starts_with("application/json"),
        "{what}: {reply:?}"
    );
    assert_eq!(
        reply.json(),
        json!({
            "code": 401,
            "connectCode": "unauthenticated",
            "message": GUARD_MESSAGE,
            "reason": "ERROR_REASON_ACCESS_TOKEN_INVALID",
            "details": [{"type": "envd.common.v1.ErrorDetail", "value": "CBM"}],
        }),
        "{what}"
    );
}

/// The Connect code of an answer: a unary error body, or the error in a
/// stream's end-of-stream frame.
fn connect_code(reply: &Reply) -> String {
    let json = if reply
        .header("content-type")
        .starts_with("application/connect+")
    {
        let mut frames = frames_of(&reply.body);
        let (flags, payload) = frames.pop().expect("an end-of-stream frame");
        assert_eq!(
            flags & END_STREAM,
            END_STREAM,
            "the last frame ends the stream"
        );
        serde_json::from_slice::<Value>(&payload).expect("JSON")["error"].clone()
    } else {
        serde_json::from_slice(&reply.body).unwrap_or_default()
    };
    json["code"].as_str().unwrap_or("(none)").to_owned()
}

#[tokio::test]
async fn every_rpc_is_guarded_on_connect_and_grpc() {
    let app = App::with_token(TOKEN).await;
    let rpcs = rpcs();
    assert!(
        rpcs.iter().any(|r| r.path == "/process.Process/Start")
            && rpcs.iter().any(|r| r.path == "/filesystem.Filesystem/Stat"),
        "the descriptor sets hold envd's services: {rpcs:?}"
    );
    for rpc in &rpcs {
        if !rpc.reflection {
            for token in WRONG {
                let reply = app.send(connect_request(rpc, token)).await;
                assert_guard_refusal(&reply, &format!("Connect {} token {token:?}", rpc.path));
            }
            let reply = app.send(connect_request(rpc, Some(TOKEN))).await;
            assert_eq!(
                connect_code(&reply),
                "invalid_argument",
                "Connect {} with the token reaches the method: {reply:?}",
                rpc.path
            );
        }
        for token in WRONG {
            let reply = app.send(grpc_request(rpc, token)).await;
            let what = format!("gRPC {} token {token:?}", rpc.path);
            // gRPC clients read a trailers-only status, not a JSON body.
            assert_eq!(reply.status, 200, "{what}");
            assert_eq!(reply.header("content-type"), "application/grpc", "{what}");
            assert_eq!(reply.grpc_status(), "16", "{what}: {reply:?}");
            assert!(
                reply.headers.contains_key("grpc-status-details-bin"),
                "{what}: the reason detail"
            );
        }
        let reply = app.send(grpc_request(rpc, Some(TOKEN))).await;
        let what = format!(
            "gRPC {} with the token reaches the method: {reply:?}",
            rpc.path
        );
        if rpc.reflection {
            assert_eq!(reply.grpc_status(), "0", "{what}");
            let services = String::from_utf8_lossy(&reply.body).into_owned();
            assert!(services.contains("process.Process"), "{what}");
        } else {
            // The method's decoder refuses the message as tonic (and
            // grpc-go) do: `internal`, "failed to decode".
            let message = reply.header("grpc-message").to_owned();
            assert_eq!(
                (reply.grpc_status(), message.contains("decode")),
                ("13", true),
                "{what}"
            );
        }
    }
}

/// One operation of `docs/openapi.json`.
#[derive(Debug)]
struct Operation {
    method: Method,
    path: String,
    /// `security` lists `{}`: the guard lets it pass without a token.
    open: bool,
}

fn operations() -> Vec<Operation> {
    let doc = crate::openapi::document();
    let default_open = needs_no_token(&doc["security"]);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if !crate::openapi::METHODS.contains(&method.as_str()) {
                continue;
            }
            let open = op.get("security").map_or(default_open, needs_no_token);
            out.push(Operation {
                method: method.to_uppercase().parse().expect("a method"),
                path: path.clone(),
                open,
            });
        }
    }
    out
}

/// Whether a security requirement list allows no credentials at all.
fn needs_no_token(security: &Value) -> bool {
    security
        .as_array()
        .expect("security is a list")
        .iter()
        .any(|req| req.as_object().is_some_and(serde_json::Map::is_empty))
}

/// A request to `op` that is harmless once past the guard: it touches only
/// `app`'s scratch directory (or the scratch paths the state points at).
/// A documented operation without a probe fails the test: add one.
fn probe(app: &App, op: &Operation, token: Option<&str>) -> http::Request<Body> {
    let at = |name: &str| app.scratch().join(name).to_str().unwrap().to_owned();
    let query = |name: &str| format!("path={}", at(name));
    let (uri, content_type, body) = match (op.method.as_str(), op.path.as_str()) {
        ("GET", "/health" | "/metrics" | "/envs") => (op.path.clone(), None, String::new()),
        ("POST", "/init") => (
            op.path.clone(),
            Some("application/json"),
            json!({"accessToken": TOKEN}).to_string(),
        ),
        ("POST", "/snapshot/prepare" | "/unfreeze" | "/fsfreeze" | "/fsthaw" | "/collapse") => {
            (op.path.clone(), None, String::new())
        }
        ("POST", "/freeze") => (
            "/freeze?mode=hierarchy&maxWaitMs=10".into(),
            None,
            String::new(),
        ),
        ("GET", "/files") => (format!("/files?{}", query("absent")), None, String::new()),
        ("POST", "/files") => (
            format!("/files?{}", query("uploaded")),
            Some("application/octet-stream"),
            "x".into(),
        ),
        ("POST", "/files/compose") => (
            op.path.clone(),
            Some("application/json"),
            json!({"source_paths": [], "destination": at("composed")}).to_string(),
        ),
        ("POST", "/upgrade") => {
            // A binary path other than the configured one: refused before
            // anything is written or exec'd.
            let request = App::request(Method::POST, "/upgrade")
                .header("x-envd-upgrade-bin", at("not-the-upgrade-bin"));
            return with_token(request, token).body(Body::empty()).unwrap();
        }
        _ => panic!(
            "no harmless probe for {} {}: add one to `probe`",
            op.method, op.path
        ),
    };
    let mut request = App::request(op.method.clone(), &uri);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    with_token(request, token).body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn every_documented_route_is_guarded_unless_documented_open() {
    let app = App::with_token(TOKEN).await;
    let ops = operations();
    assert!(ops.iter().any(|op| op.path == "/envs"), "{ops:?}");
    for op in &ops {
        let what = format!("{} {}", op.method, op.path);
        for token in WRONG {
            let reply = app.send(probe(&app, op, token)).await;
            if op.open {
                assert!(
                    !reply.text().contains(GUARD_MESSAGE),
                    "{what} token {token:?} is documented open: {reply:?}"
                );
            } else {
                assert_guard_refusal(&reply, &format!("{what} token {token:?}"));
            }
        }
        let reply = app.send(probe(&app, op, Some(TOKEN))).await;
        assert_ne!(reply.status, 401, "{what} with the token: {reply:?}");
    }
    // The probes stayed in the scratch directory: only the upload landed.
    let mut left: Vec<_> = std::fs::read_dir(app.scratch())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert!(left.contains(&"uploaded".to_owned()), "{left:?}");
}

/// Paths and methods no route serves are refused by the guard too: it runs
/// before routing.
#[tokio::test]
async fn unrouted_requests_are_guarded() {
    let app = App::with_token(TOKEN).await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::GET, "/"),
        (Method::POST, "/health"),
        (Method::GET, "/health/"),
        (Method::GET, "/init"),
        (Method::PUT, "/files"),
        (Method::GET, "/snapshot/prepare"),
        (Method::POST, "/process.Process/NoSuchMethod"),
        (Method::POST, "/no.Such/Service"),
    ] {
        for token in WRONG {
            let request = with_token(App::request(method.clone(), path), token)
                .body(Body::empty())
                .unwrap();
            let reply = app.send(request).await;
            assert_guard_refusal(&reply, &format!("{method} {path} token {token:?}"));
        }
    }
}

#[tokio::test]
async fn without_a_token_set_nothing_is_guarded() {
    let app = App::new().await;
    for token in [None, Some("anything")] {
        for path in ["/envs", "/metrics"] {
            let request = with_token(App::request(Method::GET, path), token)
                .body(Body::empty())
                .unwrap();
            let reply = app.send(request).await;
            assert_eq!(reply.status, 200, "{path} {token:?}: {reply:?}");
        }
        let request = with_token(App::request(Method::POST, "/process.Process/List"), token)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(app.send(request).await.status, 200, "List {token:?}");
    }
}

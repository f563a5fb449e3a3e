//! The access-token guard (spec §6.1) over every route and RPC, including
//! paths that do not exist: the guard runs before routing.
//!
//! Safety: requests that pass the guard carry harmless bodies (see
//! [`guarded`]); filesystem paths are inside a temporary directory.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod support;

use serde_json::json;
use support::{Envd, envelope};

const TOKEN: &str = "secret-access-token";
const GUARD_MESSAGE: &str =
    "unauthorized access, please provide a valid access token or method signing if supported";

/// A pid envd never started: process RPCs that get past the guard answer
/// `not_found` (envd only selects processes from its own table).
const NO_PID: u32 = 999_999_999;

/// How a guarded request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Connect unary, `application/json`.
    Unary,
    /// Connect streaming, `application/connect+json`, one enveloped message.
    Stream,
    /// gRPC, `application/grpc`, one enveloped empty protobuf message.
    Grpc,
    /// Plain HTTP with a JSON body.
    Http,
}

/// One guarded request.
#[derive(Debug)]
struct Guarded {
    method: reqwest::Method,
    path: String,
    shape: Shape,
    body: serde_json::Value,
}

/// Every Process and Filesystem RPC, every guarded HTTP route and a few
/// paths that only the guard answers (wrong method, unknown path).
///
/// Safety: a request that gets past the guard runs its handler, so every
/// body is valid and harmless: process RPCs select a pid envd never
/// started, `Start` runs `true`, and filesystem RPCs only name paths inside
/// `scratch`, a temporary directory this test created (Remove and Move name
/// entries that do not exist there; MakeDir creates one there).
fn guarded(scratch: &std::path::Path) -> Vec<Guarded> {
    let at = |name: &str| scratch.join(name).to_str().unwrap().to_owned();
    let pid = json!({"process": {"pid": NO_PID}});
    let rpc = |service: &str, method: &str, shape: Shape, body: serde_json::Value| Guarded {
        method: reqwest::Method::POST,
        path: format!("/{service}/{method}"),
        shape,
        body,
    };
    let mut all = vec![
        rpc("process.Process", "List", Shape::Unary, json!({})),
        rpc("process.Process", "Connect", Shape::Stream, pid.clone()),
        rpc(
            "process.Process",
            "Start",
            Shape::Stream,
            json!({"process": {"cmd": "true"}, "stdin": false}),
        ),
        rpc("process.Process", "Update", Shape::Unary, pid.clone()),
        rpc(
            "process.Process",
            "StreamInput",
            Shape::Stream,
            json!({"start": pid.clone()}),
        ),
        rpc(
            "process.Process",
            "SendInput",
            Shape::Unary,
            json!({"process": {"pid": NO_PID}, "input": {"stdin": ""}}),
        ),
        rpc(
            "process.Process",
            "SendSignal",
            Shape::Unary,
            json!({"process": {"pid": NO_PID}, "signal": "SIGNAL_SIGTERM"}),
        ),
        rpc("process.Process", "CloseStdin", Shape::Unary, pid),
        rpc(
            "filesystem.Filesystem",
            "Stat",
            Shape::Unary,
            json!({"path": at("")}),
        ),
        rpc(
            "filesystem.Filesystem",
            "MakeDir",
            Shape::Unary,
            json!({"path": at("made")}),
        ),
        rpc(
            "filesystem.Filesystem",
            "Move",
            Shape::Unary,
            json!({"source": at("absent"), "destination": at("absent-too")}),
        ),
        rpc(
            "filesystem.Filesystem",
            "ListDir",
            Shape::Unary,
            json!({"path": at(""), "depth": 1}),
        ),
        rpc(
            "filesystem.Filesystem",
            "Remove",
            Shape::Unary,
            json!({"path": at("absent")}),
        ),
        rpc(
            "filesystem.Filesystem",
            "WatchDir",
            Shape::Stream,
            json!({"path": at("")}),
        ),
        rpc(
            "filesystem.Filesystem",
            "CreateWatcher",
            Shape::Unary,
            json!({"path": at("")}),
        ),
        rpc(
            "filesystem.Filesystem",
            "GetWatcherEvents",
            Shape::Unary,
            json!({"watcherId": "envd-auth-test-none"}),
        ),
        rpc(
            "filesystem.Filesystem",
            "RemoveWatcher",
            Shape::Unary,
            json!({"watcherId": "envd-auth-test-none"}),
        ),
        rpc("process.Process", "List", Shape::Grpc, json!({})),
    ];
    for (method, path) in [
        (reqwest::Method::GET, "/metrics"),
        (reqwest::Method::GET, "/envs"),
        (reqwest::Method::GET, "/nope"),
        (reqwest::Method::GET, "/"),
        (reqwest::Method::POST, "/health"),
        (reqwest::Method::GET, "/health/"),
        (reqwest::Method::GET, "/init"),
        (reqwest::Method::PUT, "/files"),
        (reqwest::Method::GET, "/snapshot/prepare"),
        (reqwest::Method::POST, "/files/compose"),
        // Harmless past the guard: the harness points the cgroup root and
        // the fsfreeze path at paths that do not exist.
        (reqwest::Method::POST, "/freeze"),
        (reqwest::Method::POST, "/freeze?mode=hierarchy&maxWaitMs=10"),
        (reqwest::Method::POST, "/unfreeze"),
        (reqwest::Method::POST, "/fsfreeze"),
        (reqwest::Method::POST, "/fsthaw"),
        (reqwest::Method::POST, "/collapse"),
        (reqwest::Method::POST, "/upgrade"),
    ] {
        all.push(Guarded {
            method,
            path: path.into(),
            shape: Shape::Http,
            body: json!({}),
        });
    }
    all
}

async fn call(envd: &Envd, request: &Guarded, token: Option<&str>) -> reqwest::Response {
    let payload = request.body.to_string();
    let (content_type, body) = match request.shape {
        Shape::Unary | Shape::Http => ("application/json", payload.into_bytes()),
        Shape::Stream => ("application/connect+json", envelope(0, payload.as_bytes())),
        Shape::Grpc => ("application/grpc", envelope(0, b"")),
    };
    let mut req = envd
        .http
        .request(request.method.clone(), envd.url(&request.path))
        .header("content-type", content_type)
        .body(body);
    if request.shape == Shape::Grpc {
        req = req.header("te", "trailers");
    }
    if let Some(t) = token {
        req = req.header("x-access-token", t);
    }
    req.send().await.unwrap()
}

async fn get(envd: &Envd, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = envd.http.get(envd.url(path));
    if let Some(t) = token {
        req = req.header("x-access-token", t);
    }
    req.send().await.unwrap()
}

async fn with_token() -> Envd {
    let envd = Envd::start();
    let resp = envd
        .http
        .post(envd.url("/init"))
        .json(&json!({"accessToken": TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    envd
}

#[tokio::test]
async fn everything_open_without_a_token() {
    let envd = Envd::start();
    for token in [None, Some("anything")] {
        for path in ["/envs", "/metrics"] {
            let resp = get(&envd, path, token).await;
            assert_eq!(resp.status(), 200, "{path} {token:?}");
        }
        let resp = envd
            .http
            .post(envd.url("/process.Process/List"))
            .header("content-type", "application/json")
            .header("x-access-token", token.unwrap_or(""))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

#[tokio::test]
async fn matrix_with_a_token_set() {
    let envd = with_token().await;
    let scratch = tempfile::tempdir().unwrap();
    for request in guarded(scratch.path()) {
        let what = format!("{} {} {:?}", request.method, request.path, request.shape);
        for token in [
            None,
            Some("wrong"),
            Some(""),
            Some("secret-access-toke"),
            Some("secret-access-token2"),
        ] {
            let resp = call(&envd, &request, token).await;
            if request.shape == Shape::Grpc {
                // gRPC clients read a trailers-only status, not a JSON body.
                assert_eq!(resp.status(), 200, "{what} token {token:?}");
                let header = |name: &str| resp.headers()[name].to_str().unwrap().to_owned();
                assert_eq!(header("content-type"), "application/grpc", "{what}");
                assert_eq!(header("grpc-status"), "16", "{what} token {token:?}");
                assert!(
                    resp.headers().contains_key("grpc-status-details-bin"),
                    "{what}: the reason detail"
                );
                continue;
            }
            assert_eq!(resp.status(), 401, "{what} token {token:?}");
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json"),
                "{what}"
            );
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(
                body,
                json!({
                    "code": 401,
                    "connectCode": "unauthenticated",
                    "message": GUARD_MESSAGE,
                    "reason": "ERROR_REASON_ACCESS_TOKEN_INVALID",
                    // ErrorDetail { reason: 19 } = 08 13, for Connect clients.
                    "details": [{"type": "envd.common.v1.ErrorDetail", "value": "CBM"}],
                }),
                "{what}"
            );
        }
        let resp = call(&envd, &request, Some(TOKEN)).await;
        assert_ne!(resp.status(), 401, "{what} with the right token");
        assert_ne!(
            resp.headers().get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"16"[..]),
            "{what} with the right token"
        );
        // The handler ran: streams answer 200, unary calls 200 or a
        // Connect error (`not_found` for the absent pid, paths and watcher).
        match request.shape {
            Shape::Stream => assert_eq!(resp.status(), 200, "{what}"),
            Shape::Unary if resp.status() != 200 => {
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body["code"], "not_found", "{what}: {body}");
            }
            Shape::Unary | Shape::Grpc | Shape::Http => {}
        }
    }
    // The harmless bodies stayed harmless.
    let left: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("made")]);
    // Known routes work with the token.
    for path in ["/envs", "/metrics"] {
        let resp = get(&envd, path, Some(TOKEN)).await;
        assert_eq!(resp.status(), 200, "{path}");
    }
    let resp = envd
        .http
        .post(envd.url("/process.Process/List"))
        .header("content-type", "application/json")
        .header("x-access-token", TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn exempt_routes_need_no_token() {
    let envd = with_token().await;
    let resp = get(&envd, "/health", None).await;
    assert_eq!(resp.status(), 200);
    let resp = envd
        .http
        .post(envd.url("/snapshot/prepare"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    // /init authenticates by its body, not the guard.
    let resp = envd
        .http
        .post(envd.url("/init"))
        .json(&json!({"accessToken": TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    // /files checks the token or a signature itself; whatever it answers,
    // it is not the guard's rejection.
    let scratch = envd.scratch().join("files-probe");
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let resp = envd
            .http
            .request(
                method.clone(),
                envd.url(&format!("/files?path={}", scratch.display())),
            )
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap();
        assert!(!text.contains(GUARD_MESSAGE), "{method} /files: {text}");
    }
}

#[tokio::test]
async fn cors_preflight_passes_and_rejections_carry_cors_headers() {
    let envd = with_token().await;
    for path in [
        "/process.Process/Start",
        "/envs",
        "/filesystem.Filesystem/Stat",
    ] {
        let resp = envd
            .http
            .request(reqwest::Method::OPTIONS, envd.url(path))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-access-token,connect-protocol-version",
            )
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
        assert_eq!(resp.headers()["access-control-max-age"], "7200");
        let allowed = resp.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("x-access-token"), "{allowed}");
    }
    let resp = envd
        .http
        .get(envd.url("/envs"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
}

/// A rejected request's body is read before the 401 goes out, so an HTTP/1.1
/// client still writing a large body gets the 401 on a live connection
/// instead of a reset (closing a socket with unread input sends RST).
#[tokio::test]
async fn rejection_reads_the_body_so_http1_clients_get_the_401() {
    let envd = with_token().await;
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let body = vec![b' '; 4 * 1024 * 1024];
    for attempt in 0..10 {
        let resp = client
            .post(envd.url("/filesystem.Filesystem/Stat"))
            .header("content-type", "application/json")
            .header("x-access-token", "wrong")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e:?}"));
        assert_eq!(resp.status(), 401, "attempt {attempt}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["reason"], "ERROR_REASON_ACCESS_TOKEN_INVALID");
    }
}

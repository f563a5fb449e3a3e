//! Every error carries an `envd.common.v1.ErrorDetail` with a typed reason:
//! in Connect `details` (unary and end-of-stream), in gRPC's
//! `grpc-status-details-bin`, and as `"reason"` in plain-HTTP error bodies.
//! Reasons that share a Connect code are told apart. Asked of the router in
//! this process, except the reasons of a `Start` stream, which spawns.

use axum::body::Body;
use base64::Engine as _;
use envd_proto::envd::common::v1::{ErrorDetail, ErrorReason};
use envd_proto::process as pb;
use http::Method;
use prost::Message as _;
use serde_json::{Value, json};

use crate::support::app::App;
use crate::support::connect::envelope;
use crate::support::reply::Reply;
use crate::support::{Envd, s};

const DETAIL_TYPE: &str = "envd.common.v1.ErrorDetail";

/// The reason in a Connect error (unary body or end-of-stream `error`).
fn connect_reason(body: &Value) -> ErrorReason {
    let err = body.get("error").unwrap_or(body);
    let details = err["details"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(details.len(), 1, "{body}");
    assert_eq!(details[0]["type"], DETAIL_TYPE, "{body}");
    let value = details[0]["value"].as_str().expect("value is base64 text");
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(value.trim_end_matches('='))
        .expect("value is base64");
    ErrorDetail::decode(bytes.as_slice())
        .expect("an ErrorDetail")
        .reason()
}

#[tokio::test]
async fn not_found_reasons_tell_path_process_and_watcher_apart() {
    let app = App::new().await;
    let missing = app.scratch().join("missing");
    let cases = [
        (
            "filesystem.Filesystem/Stat",
            json!({"path": s(&missing)}),
            ErrorReason::PathNotFound,
        ),
        (
            "process.Process/CloseStdin",
            json!({"process": {"pid": 999_999_999}}),
            ErrorReason::ProcessNotFound,
        ),
        (
            "filesystem.Filesystem/GetWatcherEvents",
            json!({"watcherId": "no-such-watcher"}),
            ErrorReason::WatcherNotFound,
        ),
    ];
    for (method, body, want) in cases {
        let (status, reply) = unary(&app, method, &body).await;
        assert_eq!(status, 404, "{method}: {reply}");
        assert_eq!(reply["code"], "not_found", "{method}: {reply}");
        assert_eq!(connect_reason(&reply), want, "{method}: {reply}");
    }
}

#[tokio::test]
async fn invalid_argument_reasons_tell_cases_apart() {
    let app = App::new().await;
    let file = app.scratch().join("file");
    std::fs::write(&file, b"x").unwrap();
    let cases = [
        (
            "filesystem.Filesystem/ListDir",
            json!({"path": s(&file)}),
            ErrorReason::NotADirectory,
        ),
        (
            "filesystem.Filesystem/Stat",
            json!({"path": "~someone-else/x"}),
            ErrorReason::InvalidPath,
        ),
        (
            "filesystem.Filesystem/MakeDir",
            json!({"path": s(&file)}),
            ErrorReason::PathExists,
        ),
    ];
    for (method, body, want) in cases {
        let (_, reply) = unary(&app, method, &body).await;
        assert_eq!(connect_reason(&reply), want, "{method}: {reply}");
    }
}

#[tokio::test]
async fn stream_errors_carry_the_reason_in_end_of_stream() {
    let envd = Envd::start();
    let frames = envd
        .stream(
            "process.Process/Start",
            json!({"process": {"cmd": "/bin/true", "cwd": "/no/such/dir"}}),
            &[],
        )
        .await
        .collect(std::time::Duration::from_secs(10))
        .await;
    let end = &frames.end_stream;
    assert_eq!(end["error"]["code"], "invalid_argument", "{end}");
    assert_eq!(connect_reason(end), ErrorReason::CwdNotFound, "{end}");

    let frames = envd
        .stream(
            "process.Process/Start",
            json!({"process": {"cmd": "/bin/sh"}, "pty": {"size": {"cols": 0, "rows": 24}}}),
            &[],
        )
        .await
        .collect(std::time::Duration::from_secs(10))
        .await;
    let end = &frames.end_stream;
    assert_eq!(connect_reason(end), ErrorReason::InvalidPtySize, "{end}");
}

#[tokio::test]
async fn grpc_status_details_carry_the_reason() {
    let app = App::new().await;
    let request = pb::CloseStdinRequest {
        process: Some(pb::ProcessSelector {
            selector: Some(pb::process_selector::Selector::Tag("no-such-tag".into())),
        }),
    };
    let request = App::request(Method::POST, "/process.Process/CloseStdin")
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::from(envelope(0, &request.encode_to_vec())))
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.grpc_status(), "5", "not_found: {reply:?}");

    /// `google.rpc.Status`, as carried in `grpc-status-details-bin`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<prost_types::Any>,
    }
    let details = reply
        .headers
        .get("grpc-status-details-bin")
        .or_else(|| reply.trailers.get("grpc-status-details-bin"))
        .expect("grpc-status-details-bin");
    let details = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(details.to_str().unwrap().trim_end_matches('='))
        .expect("base64");
    let rich = RpcStatus::decode(details.as_slice()).expect("google.rpc.Status");
    assert_eq!(rich.code, 5);
    assert_eq!(rich.details.len(), 1);
    assert_eq!(
        rich.details[0].type_url,
        format!("type.googleapis.com/{DETAIL_TYPE}")
    );
    let detail = ErrorDetail::decode(rich.details[0].value.as_slice()).unwrap();
    assert_eq!(detail.reason(), ErrorReason::ProcessNotFound);
}

/// `GET /files` with `query`.
async fn download(app: &App, query: &[(&str, &str)]) -> Reply {
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let request = App::request(Method::GET, &format!("/files?{}", query.join("&")))
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

#[tokio::test]
async fn http_error_bodies_name_the_reason() {
    let app = App::new().await;
    let missing = app.scratch().join("missing");
    let reply = download(&app, &[("path", s(&missing))]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["reason"], "ERROR_REASON_PATH_NOT_FOUND");
    assert_eq!(
        reply.header("envd-error-reason"),
        "ERROR_REASON_PATH_NOT_FOUND"
    );

    let reply = download(&app, &[("path", s(app.scratch()))]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["reason"], "ERROR_REASON_IS_A_DIRECTORY");

    let reply = download(
        &app,
        &[("path", s(&missing)), ("username", "envd-no-such-user")],
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["reason"], "ERROR_REASON_UNKNOWN_USER");
}

/// A unary Connect JSON call: `(HTTP status, body)`.
async fn unary(app: &App, method: &str, body: &Value) -> (u16, Value) {
    let reply = app
        .post(
            &format!("/{method}"),
            "application/json",
            &[],
            body.to_string(),
        )
        .await;
    (reply.status, reply.json())
}

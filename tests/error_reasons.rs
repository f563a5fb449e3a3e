//! Every error carries an `envd.common.v1.ErrorDetail` with a typed reason:
//! in Connect `details` (unary and end-of-stream), in gRPC's
//! `grpc-status-details-bin`, and as `"reason"` in plain-HTTP error bodies.
//! Reasons that share a Connect code are told apart.

mod support;

use base64::Engine as _;
use envd_proto::envd::common::v1::{ErrorDetail, ErrorReason};
use envd_proto::process::process_client::ProcessClient;
use envd_proto::process::{self as pb};
use prost::Message as _;
use serde_json::{Value, json};
use support::Envd;
use support::files::download;
use support::fs::s;

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
    let envd = Envd::start();
    let missing = envd.scratch().join("missing");
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
        let (status, reply) = envd.unary(method, body).await;
        assert_eq!(status, 404, "{method}: {reply}");
        assert_eq!(reply["code"], "not_found", "{method}: {reply}");
        assert_eq!(connect_reason(&reply), want, "{method}: {reply}");
    }
}

#[tokio::test]
async fn invalid_argument_reasons_tell_cases_apart() {
    let envd = Envd::start();
    let file = envd.scratch().join("file");
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
        let (_, reply) = envd.unary(method, body).await;
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
    let envd = Envd::start();
    let channel = tonic::transport::Channel::from_shared(envd.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ProcessClient::new(channel);
    let status = client
        .close_stdin(pb::CloseStdinRequest {
            process: Some(pb::ProcessSelector {
                selector: Some(pb::process_selector::Selector::Tag("no-such-tag".into())),
            }),
        })
        .await
        .expect_err("no such process");
    assert_eq!(status.code(), tonic::Code::NotFound);

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
    let rich = RpcStatus::decode(status.details()).expect("google.rpc.Status");
    assert_eq!(rich.code, tonic::Code::NotFound as i32);
    assert_eq!(rich.details.len(), 1);
    assert_eq!(
        rich.details[0].type_url,
        format!("type.googleapis.com/{DETAIL_TYPE}")
    );
    let detail = ErrorDetail::decode(rich.details[0].value.as_slice()).unwrap();
    assert_eq!(detail.reason(), ErrorReason::ProcessNotFound);
}

#[tokio::test]
async fn http_error_bodies_name_the_reason() {
    let envd = Envd::start();
    let missing = envd.scratch().join("missing");
    let reply = download(&envd, &[("path", s(&missing))], &[]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["reason"], "ERROR_REASON_PATH_NOT_FOUND");
    assert_eq!(
        reply.header("envd-error-reason"),
        "ERROR_REASON_PATH_NOT_FOUND"
    );

    let reply = download(&envd, &[("path", s(envd.scratch()))], &[]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["reason"], "ERROR_REASON_IS_A_DIRECTORY");

    let reply = download(
        &envd,
        &[("path", s(&missing)), ("username", "envd-no-such-user")],
        &[],
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["reason"], "ERROR_REASON_UNKNOWN_USER");
}

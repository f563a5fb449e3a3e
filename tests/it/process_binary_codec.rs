//! The binary codec (`application/connect+proto`, as Wrenn's host uses)
//! gives the same results as JSON, with `exit_code` zigzag-encoded (sint32)
//! on the wire.

use crate::support::Envd;
use crate::support::process::{LIST, START, unb64};
use envd_proto::process as pb;
use prost::Message;
use serde_json::json;

fn start_request(script: &str) -> pb::StartRequest {
    pb::StartRequest {
        process: Some(pb::ProcessConfig {
            cmd: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            ..Default::default()
        }),
        stdin: Some(false),
        ..Default::default()
    }
}

/// Events of a binary Start, as raw payloads and decoded, plus the trailer.
/// Raw payloads, decoded events and the end-of-stream JSON of one Start.
type ProtoRun = (
    Vec<bytes::Bytes>,
    Vec<pb::process_event::Event>,
    serde_json::Value,
);

async fn start_proto(envd: &Envd, script: &str) -> ProtoRun {
    let mut frames = envd
        .stream_proto(START, &start_request(script).encode_to_vec(), &[])
        .await;
    let (mut raw, mut events) = (Vec::new(), Vec::new());
    loop {
        let (flags, payload) = tokio::time::timeout(crate::support::STEP, frames.next_raw())
            .await
            .unwrap()
            .expect("end-of-stream frame");
        if flags & 0x02 != 0 {
            return (raw, events, serde_json::from_slice(&payload).unwrap());
        }
        events.push(
            pb::StartResponse::decode(payload.clone())
                .unwrap()
                .event
                .unwrap()
                .event
                .unwrap(),
        );
        raw.push(payload);
    }
}

#[tokio::test]
async fn binary_start_matches_json_start() {
    let envd = Envd::start();
    let script = "printf 'out\\377'; printf err >&2; exit 3";
    let (_, events, trailer) = start_proto(&envd, script).await;
    let json_run = envd
        .run(json!({"process": {"cmd": "/bin/sh", "args": ["-c", script]}, "stdin": false}))
        .await;
    assert_eq!(trailer, json!({}));
    assert_eq!(json_run.end_stream, json!({}));

    // Same sequence of event kinds and the same bytes per stream.
    use pb::process_event::Event;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::Start(_) => "start",
            Event::Data(_) => "data",
            Event::End(_) => "end",
            Event::Keepalive(_) => "keepalive",
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(kinds.last(), Some(&"end"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for e in &events {
        if let Event::Data(d) = e {
            match d.output.clone().unwrap() {
                pb::process_event::data_event::Output::Stdout(b) => out.extend_from_slice(&b),
                pb::process_event::data_event::Output::Stderr(b) => err.extend_from_slice(&b),
                pb::process_event::data_event::Output::Pty(_) => panic!("no pty"),
            }
        }
    }
    assert_eq!(out, json_run.output("stdout"));
    assert_eq!(err, json_run.output("stderr"));
    assert_eq!(out, b"out\xff");
    let Some(Event::End(end)) = events.last() else {
        unreachable!()
    };
    let json_end = json_run.end().unwrap();
    assert_eq!(end.exit_code, 3);
    assert_eq!(json!(end.exit_code), json_end["exitCode"]);
    assert_eq!(json!(end.exited), json_end["exited"]);
    assert_eq!(json!(end.status), json_end["status"]);
    assert_eq!(json!(end.error), json_end["error"]);
    // The JSON data is the same base64 of the same bytes.
    let json_out: Vec<u8> = json_run
        .messages
        .iter()
        .filter_map(|m| m["event"]["data"]["stdout"].as_str())
        .flat_map(unb64)
        .collect();
    assert_eq!(json_out, out);
}

#[tokio::test]
async fn negative_exit_code_is_zigzag_on_the_wire() {
    let envd = Envd::start();
    let (raw, _, _) = start_proto(&envd, "kill -9 $$").await;
    // StartResponse{event(1): ProcessEvent{end(3): EndEvent{exit_code(1,
    // sint32) = -1 -> zigzag 1, exited false omitted, status(3), error(4)}}}
    let status = b"signal: killed";
    let mut end = vec![0x08, 0x01, 0x1a, u8::try_from(status.len()).unwrap()];
    end.extend_from_slice(status);
    end.extend_from_slice(&[0x22, u8::try_from(status.len()).unwrap()]);
    end.extend_from_slice(status);
    let mut event = vec![0x1a, u8::try_from(end.len()).unwrap()];
    event.extend(end);
    let mut expected = vec![0x0a, u8::try_from(event.len()).unwrap()];
    expected.extend(event);
    assert_eq!(raw.last().unwrap().as_ref(), expected.as_slice());
}

#[tokio::test]
async fn binary_unary_list_and_errors() {
    let envd = Envd::start();
    let (status, body) = envd
        .unary_proto(LIST, pb::ListRequest {}.encode_to_vec())
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        pb::ListResponse::decode(body).unwrap(),
        pb::ListResponse::default()
    );
    // Errors on the binary codec still use the JSON error body.
    let request = pb::CloseStdinRequest {
        process: Some(pb::ProcessSelector {
            selector: Some(pb::process_selector::Selector::Pid(999_999_999)),
        }),
    };
    let (status, body) = envd
        .unary_proto("process.Process/CloseStdin", request.encode_to_vec())
        .await;
    assert_eq!(status, 404);
    let body = serde_json::from_slice::<serde_json::Value>(&body).unwrap();
    assert_eq!(body["code"], "not_found", "{body}");
    assert_eq!(
        body["message"], "process with pid 999999999 not found",
        "{body}"
    );
    assert_eq!(
        body["details"][0]["type"], "envd.common.v1.ErrorDetail",
        "{body}"
    );
}

//! Smoke: Start streams start, output and exactly one end.

use crate::support::Envd;
use crate::support::process::start_req;

#[tokio::test]
async fn start_streams_start_data_end() {
    let envd = Envd::start();
    let run = envd
        .run(start_req(
            "/bin/sh",
            &["-c", "printf abc; printf err >&2; exit 2"],
        ))
        .await;
    assert_eq!(run.kinds().first().map(String::as_str), Some("start"));
    assert_eq!(run.kinds().last().map(String::as_str), Some("end"));
    assert_eq!(run.kinds().iter().filter(|k| *k == "end").count(), 1);
    assert_eq!(run.output("stdout"), b"abc");
    assert_eq!(run.output("stderr"), b"err");
    let end = run.end().unwrap();
    assert_eq!(end["exitCode"], 2);
    assert_eq!(end["exited"], true);
    assert_eq!(end["status"], "exit status 2");
    assert_eq!(end["error"], "exit status 2");
    assert_eq!(run.end_stream, serde_json::json!({}));
}

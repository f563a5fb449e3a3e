//! Keepalive events: with `Keepalive-Ping-Interval: 1`, a quiet process's
//! Start and Connect streams carry keepalives after the start event; none
//! without the header within a short run.

use crate::support::process::{CONNECT, START, by_pid, start_req};
use crate::support::{Envd, STEP};
use serde_json::json;

fn assert_shape(kinds: &[String], min_keepalives: usize) {
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("start"),
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("end"), "{kinds:?}");
    let middle = &kinds[1..kinds.len() - 1];
    assert!(middle.iter().all(|k| k == "keepalive"), "{kinds:?}");
    assert!(
        (min_keepalives..=4).contains(&middle.len()),
        "expected {min_keepalives}..=4 keepalives: {kinds:?}"
    );
}

#[tokio::test]
async fn one_second_interval_sends_keepalives_during_a_quiet_sleep() {
    let envd = Envd::start();
    let headers = [("keepalive-ping-interval", "1")];
    let mut start = envd
        .stream(START, start_req("sleep", &["3"]), &headers)
        .await;
    let pid = start.start_pid().await;
    let connect = envd.stream(CONNECT, by_pid(pid), &headers).await;
    let started = start.collect(STEP).await;
    let connected = connect.collect(STEP).await;
    let mut kinds = vec!["start".to_owned()];
    kinds.extend(started.kinds());
    // sleep 3 with a 1 s interval: 2 or 3 keepalives.
    assert_shape(&kinds, 2);
    assert_shape(&connected.kinds(), 1);
    // A keepalive is an empty message, still emitted in JSON.
    assert!(
        started
            .messages
            .iter()
            .any(|m| m == &json!({"event": {"keepalive": {}}}))
    );
    assert_eq!(started.end().unwrap()["status"], "exit status 0");
}

#[tokio::test]
async fn no_keepalive_without_the_header_or_with_an_invalid_one() {
    let envd = Envd::start();
    for headers in [
        vec![],
        vec![("keepalive-ping-interval", "0")],
        vec![("keepalive-ping-interval", "soon")],
    ] {
        let run = envd.run_with(start_req("sleep", &["1.5"]), &headers).await;
        assert_eq!(run.kinds(), ["start", "end"], "{headers:?}");
    }
}

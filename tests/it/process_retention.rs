//! Ended processes are retained for `Connect` (issue #12): bounded by
//! count as well as by time, the oldest ended dropped first, so a burst
//! of short commands cannot keep thousands of them resident.

use crate::support::process::{CONNECT, by_tag};
use crate::support::{Envd, STEP};
use serde_json::json;

#[tokio::test]
async fn retained_exits_are_bounded_by_count_oldest_first() {
    let envd = Envd::start_with(&["--exit-retention-max", "4"]);
    let mut ends = Vec::new();
    for i in 0..6 {
        let run = envd
            .run(json!({"process": {"cmd": "/bin/sh", "args": ["-c", format!("exit {i}")]}, "tag": format!("t{i}"), "stdin": false}))
            .await;
        ends.push(run.assert_complete().clone());
    }
    for (i, end) in ends.iter().enumerate() {
        let connected = envd
            .stream(CONNECT, by_tag(&format!("t{i}")), &[])
            .await
            .collect(STEP)
            .await;
        if i < 2 {
            let (code, message) = connected.error().expect("not found");
            assert_eq!(code, "not_found", "t{i}: {message}");
        } else {
            assert_eq!(connected.kinds(), ["start", "end"], "t{i}: {connected:?}");
            assert_eq!(connected.end().unwrap(), end, "t{i}");
        }
    }
}

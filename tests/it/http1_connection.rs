//! What only a real connection shows (envd's listener, hyper's HTTP/1.1
//! connection handling): pipelined requests before a half-close, a
//! connection closed after an answer given before the body ended, and a
//! refused request whose body is read so the client gets its 401.

use serde_json::json;

use crate::support::Envd;
use crate::support::connect::envelope;

const STAT: &str = "/filesystem.Filesystem/Stat";

/// A `StatRequest { path: "/" }` in protobuf.
const STAT_ROOT: &[u8] = &[0x0a, 0x01, b'/'];

/// POSTs a gRPC-Web `body` to Stat: `(status, headers)`.
async fn grpc_web_stat(envd: &Envd, body: Vec<u8>) -> (u16, reqwest::header::HeaderMap) {
    let resp = envd
        .http
        .post(envd.url(STAT))
        .header("content-type", "application/grpc-web")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    drop(resp.bytes().await);
    (status, headers)
}

/// HTTP/1.1 pipelining: 50 requests in one write, then `shutdown(SHUT_WR)`
/// — every one is answered, in order, before envd closes (it answered 49
/// when hyper treated the half-close as the client leaving).
#[tokio::test]
async fn pipelined_requests_before_a_half_close_are_all_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let envd = Envd::start();
    let addr = envd.url("").trim_start_matches("http://").to_owned();
    let request = "GET /health HTTP/1.1\r\nHost: envd\r\n\r\n".repeat(50);
    for attempt in 0..10 {
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        let mut answers = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            socket.read_to_string(&mut answers),
        )
        .await
        .expect("envd closes the connection after the last answer")
        .unwrap();
        assert_eq!(
            answers.matches("HTTP/1.1 200 OK").count(),
            50,
            "attempt {attempt}: {answers}"
        );
    }
}

/// An answer given before the request body ended leaves the rest on the
/// connection, which hyper then closes: the answer says so, and a client
/// does not send its next call on a dying connection.
#[tokio::test]
async fn an_answer_before_the_body_ended_closes_the_http1_connection() {
    let envd = Envd::start();
    // A length prefix far over the limit, and only part of its payload.
    let mut refused = vec![0, 0x10, 0, 0, 0];
    refused.extend(vec![0; 64 * 1024]);
    let (status, headers) = grpc_web_stat(&envd, refused).await;
    assert_eq!(status, 200);
    assert_eq!(headers["grpc-status"], "8", "{headers:?}");
    assert_eq!(headers["connection"], "close");
    // A call that read its body keeps the connection.
    let (_, headers) = grpc_web_stat(&envd, envelope(0, STAT_ROOT)).await;
    assert!(headers.get("connection").is_none(), "{headers:?}");
}

/// A rejected request's body is read before the 401 goes out, so an HTTP/1.1
/// client still writing a large body gets the 401 on a live connection
/// instead of a reset (closing a socket with unread input sends RST).
#[tokio::test]
async fn rejection_reads_the_body_so_http1_clients_get_the_401() {
    let envd = Envd::start();
    let init = envd
        .http
        .post(envd.url("/init"))
        .json(&json!({"accessToken": "secret-access-token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 204);
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

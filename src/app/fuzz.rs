//! The `rpc` fuzz target's way in: whole requests through the real router,
//! so every protocol's framing and decoding runs as in envd — Connect
//! unary (JSON and binary, gzip, GET with the message in the query), gRPC
//! and gRPC-Web frames — limited to read-only methods (`Stat`, `List`) so
//! a fuzzer can change nothing on the machine. The state points every
//! host integration at paths that do not exist; nothing is spawned.

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, Version};
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::Config;
use crate::process::Reaper;

struct Fixture {
    runtime: Runtime,
    router: Router,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Never created: nothing the read-only methods do touches these.
        let scratch = std::env::temp_dir().join(format!("envd-fuzz-{}", std::process::id()));
        let at = |name: &str| scratch.join(name);
        let mut config = Config {
            cgroup_root: at("no-cgroups"),
            fsfreeze_path: at("no-fsfreeze"),
            ca_bundle: at("ca-bundle.crt"),
            ca_cert: at("ca.crt"),
            run_dir: at("run"),
            hosts_file: at("hosts"),
            upgrade_bin: at("envd.next"),
            ..Config::default()
        };
        config.host_paths.drop_caches = at("drop_caches");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let router = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a listener");
            let state = super::build_state(
                &config,
                &listener,
                &std::sync::Arc::new(Reaper::default()),
                &TaskTracker::new(),
                &CancellationToken::new(),
            )
            .expect("the state");
            super::router(&state)
        });
        Fixture { runtime, router }
    })
}

const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/proto",
    "application/grpc",
    "application/grpc-web+proto",
    "application/grpc-web+json",
];

/// Input: a protocol byte, a method byte, a flags byte (bit 0: gzip,
/// bit 1: HTTP/2, bit 2: Connect GET), then the body (or query).
pub fn rpc(data: &[u8]) {
    let _ = answer(data);
}

/// The response status, or `None` for an input that makes no request or
/// a call that takes longer than 2 s.
fn answer(data: &[u8]) -> Option<http::StatusCode> {
    let [protocol, method, flags, body @ ..] = data else {
        return None;
    };
    let content_type = CONTENT_TYPES[usize::from(*protocol) % CONTENT_TYPES.len()];
    let method = if method % 2 == 0 {
        "/filesystem.Filesystem/Stat"
    } else {
        "/process.Process/List"
    };
    let grpc = content_type.starts_with("application/grpc");
    let get = flags & 4 != 0 && !grpc;
    let mut request = Request::builder()
        .method(if get { Method::GET } else { Method::POST })
        .version(if flags & 2 != 0 {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        })
        .header("connect-timeout-ms", "1000");
    if get {
        let query = crate::http::files::fuzz::query(body);
        request = request.uri(format!("{method}?{query}"));
    } else {
        request = request.uri(method).header("content-type", content_type);
        if flags & 1 != 0 {
            let name = if grpc {
                "grpc-encoding"
            } else {
                "content-encoding"
            };
            request = request.header(name, "gzip");
        }
    }
    let body = if get {
        Body::empty()
    } else {
        Body::from(body.to_vec())
    };
    let request = request.body(body).ok()?;
    let fixture = fixture();
    fixture.runtime.block_on(async {
        let answer = async {
            let response = fixture
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("infallible");
            let status = response.status();
            drop(response.into_body().collect().await);
            status
        };
        tokio::time::timeout(Duration::from_secs(2), answer)
            .await
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_serves_stat_on_every_protocol() {
        let stat = br#"{"path":"/"}"#;
        let mut connect = vec![0, 0, 0];
        connect.extend_from_slice(stat);
        assert_eq!(answer(&connect), Some(http::StatusCode::OK));
        // gRPC-Web, binary: an envelope around `StatRequest { path: "/" }`.
        let grpc_web = [3, 0, 0, 0, 0, 0, 0, 3, 0x0a, 1, b'/'];
        assert_eq!(answer(&grpc_web), Some(http::StatusCode::OK));
    }
}

//! envd's router in this process, as axum's testing example does it:
//! protocol-only behaviour (the access-token guard, CORS, content types,
//! error bodies) is answered by `app::router(..).oneshot(request)` — no
//! listener, no envd process, no sleeps. Processes, PTYs and files are
//! tested against the real binary ([`super::Envd`]).
//!
//! The state points every host integration at scratch paths that do not
//! exist (cgroups, fsfreeze) or are scratch files (run dir, hosts file,
//! drop_caches, CA files), as the binary harness does; nothing is spawned
//! unless a test starts a process, which tests here never do.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::{Method, Request};
use http_body_util::BodyExt as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use envd::config::Config;
use envd::process::Reaper;

use super::STEP;
use super::reply::Reply;

/// envd's whole router (every RPC and route, with its layers) over fresh
/// state.
pub struct App {
    router: Router,
    scratch: tempfile::TempDir,
    /// The live-upgrade state holds the listener envd would hand over; it
    /// never accepts here.
    _listener: TcpListener,
}

impl App {
    /// A router over fresh state with no access token.
    pub async fn new() -> Self {
        let scratch = tempfile::tempdir().expect("scratch dir");
        let at = |name: &str| scratch.path().join(name);
        let mut config = Config {
            cgroup_root: at("no-cgroups"),
            fsfreeze_path: at("no-fsfreeze"),
            ca_bundle: at("ca-bundle.crt"),
            ca_cert: at("e2b-ca.crt"),
            run_dir: at("run"),
            hosts_file: at("hosts"),
            upgrade_bin: at("envd.next"),
            ..Config::default()
        };
        config.host_paths.drop_caches = at("drop_caches");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a listener");
        let state = envd::app::build_state(
            &config,
            &listener,
            &Arc::new(Reaper::default()),
            &TaskTracker::new(),
            &CancellationToken::new(),
        )
        .expect("the state");
        Self {
            router: envd::app::router(&state),
            scratch,
            _listener: listener,
        }
    }

    /// A router whose access token `/init` has set to `token`.
    pub async fn with_token(token: &str) -> Self {
        let app = Self::new().await;
        let body = serde_json::json!({"accessToken": token}).to_string();
        let reply = app
            .send(
                Self::request(Method::POST, "/init")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(reply.status, 204, "/init: {reply:?}");
        app
    }

    /// A directory of this app's own for paths a request names.
    pub fn scratch(&self) -> &std::path::Path {
        self.scratch.path()
    }

    /// A request builder for `path` (with any query).
    pub fn request(method: Method, path: &str) -> http::request::Builder {
        Request::builder().method(method).uri(path)
    }

    /// Sends `request` through the router and reads the whole answer,
    /// trailers included; fails the test after [`STEP`].
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let answer = async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let (parts, body) = response.into_parts();
            let collected = body.collect().await.expect("the response body");
            let trailers = collected.trailers().cloned().unwrap_or_default();
            Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: collected.to_bytes(),
                trailers,
            }
        };
        tokio::time::timeout(STEP, answer)
            .await
            .unwrap_or_else(|_| panic!("no answer within {STEP:?}"))
    }

    /// POSTs `body` as `content_type` with extra `headers`.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut request = Self::request(Method::POST, path).header("content-type", content_type);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(body.into()).unwrap()).await
    }
}

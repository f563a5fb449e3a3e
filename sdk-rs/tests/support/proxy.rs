//! Proxies between the SDK and envd: one that can freeze a connection (to
//! make streams stall) and one that records the RPCs passing through.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy that, once frozen, forwards nothing in either direction but
/// keeps every connection open.
pub struct StallProxy {
    pub url: String,
    frozen: Arc<AtomicBool>,
}

impl StallProxy {
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&frozen);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, Arc::clone(&flag)));
                tokio::spawn(pipe(sr, cw, Arc::clone(&flag)));
            }
        });
        Self { url, frozen }
    }

    /// From now on nothing passes, and connections stay open.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            // Hold both halves open forever, forwarding nothing.
            let _keep = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// One unary RPC seen by [`RecordingProxy`]: its path and its request body
/// (gRPC-framed).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub body: Bytes,
}

/// An h2c reverse proxy to envd that records the request bodies of the
/// RPCs whose path starts with one of `prefixes`, in arrival order.
pub struct RecordingProxy {
    pub url: String,
    pub log: Arc<Mutex<Vec<Recorded>>>,
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

impl RecordingProxy {
    pub async fn start(upstream: &str, prefixes: &'static [&'static str]) -> Self {
        let upstream = upstream.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let client: HyperClient<HttpConnector, ProxyBody> =
            HyperClient::builder(TokioExecutor::new())
                .http2_only(true)
                .build_http();
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let client = client.clone();
                let sink = Arc::clone(&sink);
                let upstream = upstream.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let client = client.clone();
                    let sink = Arc::clone(&sink);
                    let upstream = upstream.clone();
                    async move {
                        let (mut parts, body) = req.into_parts();
                        let path = parts.uri.path().to_owned();
                        let target = parts
                            .uri
                            .path_and_query()
                            .map_or(path.clone(), |p| p.as_str().to_owned());
                        parts.uri = format!("{upstream}{target}").parse().expect("uri");
                        let body: ProxyBody = if prefixes.iter().any(|p| path.starts_with(p)) {
                            let bytes = body.collect().await.expect("request body").to_bytes();
                            sink.lock().unwrap().push(Recorded {
                                path,
                                body: bytes.clone(),
                            });
                            Full::new(bytes).map_err(|never| match never {}).boxed()
                        } else {
                            body.boxed()
                        };
                        let response = match client
                            .request(hyper::Request::from_parts(parts, body))
                            .await
                        {
                            Ok(response) => response.map(BodyExt::boxed),
                            Err(_) => hyper::Response::builder()
                                .status(502)
                                .body(
                                    Full::new(Bytes::new())
                                        .map_err(|never: Infallible| match never {})
                                        .boxed(),
                                )
                                .expect("response"),
                        };
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, log }
    }

    /// Everything recorded so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

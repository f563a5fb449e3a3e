//! The listener: HTTP/1.1 and h2c on one socket, TCP_NODELAY on every
//! connection, no read or write timeouts (streams live for hours), and an
//! idle keep-alive timeout longer than any upstream proxy's.

mod connection;
pub mod early_answer;
mod sendfile;
mod until_gone;

pub use sendfile::SendFile;

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long graceful shutdown waits for open connections.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Serves `service` on `listener` until `shutdown`, then drains
/// connections. While `accepting` is false (a live upgrade), new
/// connections wait in the kernel's backlog.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    idle_timeout: Duration,
    mut accepting: tokio::sync::watch::Receiver<bool>,
    shutdown: CancellationToken,
) where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's header-read timer also runs while a kept-alive connection waits
    // for its next request, which makes it the idle timeout.
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        // Pipelined requests sent before a half-close are all answered;
        // `connection::watch` notices a client that went away instead.
        .half_close(true)
        .header_read_timeout(idle_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    loop {
        if !*accepting.borrow_and_update() {
            tokio::select! {
                _ = accepting.wait_for(|a| *a) => continue,
                () = shutdown.cancelled() => break,
            }
        }
        let (stream, peer) = tokio::select! {
            biased;
            _ = accepting.changed() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, %peer, "TCP_NODELAY failed");
        }
        let stream = connection::Shared::new(stream);
        let gone = connection::Gone::default();
        let service = service
            .clone()
            .map_request(|req: Request<Incoming>| req.map(Body::new))
            .map_response({
                let gone = gone.clone();
                let pending = stream.pending().clone();
                move |response| until_gone::wrap(sendfile::take(response, &pending), &gone)
            });
        let connection = builder.serve_connection_with_upgrades(
            TokioIo::new(stream.clone()),
            TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            let result = {
                let mut connection = std::pin::pin!(connection);
                let mut watch = std::pin::pin!(connection::watch(&stream, &gone));
                let mut watching = true;
                loop {
                    tokio::select! {
                        result = &mut connection => break result,
                        () = &mut watch, if watching => watching = false,
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            connection::linger(stream).await;
        });
    }
    // The live-upgrade handover holds a duplicate of the listening socket,
    // so closing ours would leave it listening: connections would queue in
    // the backlog and be reset at exit. Shutting it down refuses them now.
    if let Err(e) = socket2::SockRef::from(&listener).shutdown(std::net::Shutdown::Read) {
        tracing::debug!(error = %e, "cannot stop listening");
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("connections still open after {DRAIN_LIMIT:?}; closing them");
    }
}

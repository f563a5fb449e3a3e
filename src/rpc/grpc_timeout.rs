//! Honours `grpc-timeout` for gRPC and gRPC-Web calls (the Connect layer
//! only reads `Connect-Timeout-Ms`). At the deadline a pending call answers
//! `DEADLINE_EXCEEDED`, and a running stream ends with that status in its
//! trailers; tonic-web turns those into a gRPC-Web trailer frame. The
//! status comes from the error table ([`Error::DeadlineExceeded`]).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower::{Layer, Service};

use super::context::parse_grpc_timeout;
use crate::error::Error;

/// Adds the deadline behaviour to a gRPC service.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTimeoutLayer;

impl<S> Layer<S> for GrpcTimeoutLayer {
    type Service = GrpcTimeout<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcTimeout { inner }
    }
}

/// See [`GrpcTimeoutLayer`].
#[derive(Debug, Clone)]
pub struct GrpcTimeout<S> {
    inner: S,
}

fn deadline_trailers() -> HeaderMap {
    Error::DeadlineExceeded.grpc_status_headers()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcTimeout<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<DeadlineBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let timeout: Option<Duration> = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let Some(timeout) = timeout else {
                return Ok(inner
                    .call(req)
                    .await?
                    .map(|body| DeadlineBody::new(body, None)));
            };
            let deadline = Instant::now() + timeout;
            match tokio::time::timeout_at(deadline, inner.call(req)).await {
                Ok(response) => Ok(response?.map(|body| DeadlineBody::new(body, Some(deadline)))),
                Err(_elapsed) => {
                    let mut response = Response::new(DeadlineBody::expired());
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/grpc"),
                    );
                    response.headers_mut().extend(deadline_trailers());
                    Ok(response)
                }
            }
        })
    }
}

pin_project! {
    /// A response body that ends with `DEADLINE_EXCEEDED` trailers at the deadline.
    pub struct DeadlineBody<B> {
        #[pin]
        inner: Option<B>,
        #[pin]
        sleep: Option<Sleep>,
        done: bool,
    }
}

impl<B> DeadlineBody<B> {
    fn new(inner: B, deadline: Option<Instant>) -> Self {
        Self {
            inner: Some(inner),
            sleep: deadline.map(sleep_until),
            done: false,
        }
    }

    fn expired() -> Self {
        Self {
            inner: None,
            sleep: None,
            done: true,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        if let Some(sleep) = this.sleep.as_mut().as_pin_mut()
            && sleep.poll(cx).is_ready()
        {
            *this.done = true;
            return Poll::Ready(Some(Ok(Frame::trailers(deadline_trailers()))));
        }
        match this.inner.as_mut().as_pin_mut() {
            Some(inner) => {
                let frame = ready!(inner.poll_frame(cx));
                if frame.is_none() {
                    *this.done = true;
                }
                Poll::Ready(frame)
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.as_ref().is_some_and(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

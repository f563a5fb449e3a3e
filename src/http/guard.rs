//! The access-token guard (spec §6.1): a tower layer `app` applies to the
//! whole router, inside CORS (so preflights pass) and outside routing (so
//! RPC and unknown paths are covered too). While a token is set, every
//! request must carry it in `X-Access-Token` unless its method and exact
//! path are exempt. An adapter like the routes beside it: the token itself
//! lives in `auth`, the answer in `error`.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::future::{BoxFuture, Either};
use http::{Method, Request};

use crate::auth::{AccessToken, Unauthorized};

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-access-token";

/// Routes that never need the token: health checks, `/files` (which checks
/// the token or a signature itself), `/init` (which validates the token in
/// its body) and `/snapshot/prepare`. Exact method and path; never a prefix.
pub fn is_exempt(method: &Method, path: &str) -> bool {
    matches!(
        (method.as_str(), path),
        ("GET", "/health")
            | ("GET" | "POST", "/files")
            | ("POST", "/init")
            | ("POST", "/snapshot/prepare")
    )
}

/// Whether `request` may pass while `token` is as it is.
fn allowed<B>(token: &AccessToken, request: &Request<B>) -> bool {
    !token.is_set()
        || is_exempt(request.method(), request.uri().path())
        || request
            .headers()
            .get(TOKEN_HEADER)
            .is_some_and(|v| token.matches(v.as_bytes()))
}

/// Applies the guard to a service.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    token: Arc<AccessToken>,
}

impl AuthLayer {
    /// Guards with `token`.
    pub fn new(token: Arc<AccessToken>) -> Self {
        Self { token }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            token: self.token.clone(),
        }
    }
}

/// The guarded service.
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    token: Arc<AccessToken>,
}

impl<S> tower::Service<Request<Body>> for Auth<S>
where
    S: tower::Service<Request<Body>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if allowed(&self.token, &request) {
            Either::Left(self.inner.call(request))
        } else {
            let grpc = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .filter(|v| v.as_bytes().starts_with(b"application/grpc"))
                .cloned();
            let body = request.into_body().into_data_stream();
            Either::Right(Box::pin(async move {
                super::drain::discard(body).await;
                let error = crate::error::Error::from(Unauthorized);
                Ok(match grpc {
                    Some(content_type) => error.into_grpc_response(&content_type),
                    None => error.into_response(),
                })
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer, ServiceExt};

    use super::*;

    #[test]
    fn exclusion_list_is_exact() {
        for (method, path) in [
            (Method::GET, "/health"),
            (Method::GET, "/files"),
            (Method::POST, "/files"),
            (Method::POST, "/init"),
            (Method::POST, "/snapshot/prepare"),
        ] {
            assert!(is_exempt(&method, path), "{method} {path}");
        }
        for (method, path) in [
            (Method::POST, "/health"),
            (Method::HEAD, "/health"),
            (Method::GET, "/health/"),
            (Method::GET, "/healthz"),
            (Method::PUT, "/files"),
            (Method::DELETE, "/files"),
            (Method::GET, "/files/x"),
            (Method::POST, "/files/compose"),
            (Method::GET, "/init"),
            (Method::POST, "/init/"),
            (Method::GET, "/snapshot/prepare"),
            (Method::GET, "/metrics"),
            (Method::GET, "/envs"),
            (Method::POST, "/process.Process/Start"),
            (Method::POST, "/filesystem.Filesystem/Stat"),
            (Method::GET, "/nope"),
            (Method::GET, "/"),
        ] {
            assert!(!is_exempt(&method, path), "{method} {path}");
        }
    }

    async fn status(
        token: &Arc<AccessToken>,
        method: Method,
        path: &str,
        header: Option<&str>,
    ) -> u16 {
        let inner = tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
        let mut request = Request::builder().method(method).uri(path);
        if let Some(h) = header {
            request = request.header(TOKEN_HEADER, h);
        }
        AuthLayer::new(token.clone())
            .layer(inner)
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn guard_only_while_a_token_is_set() {
        let token = Arc::new(AccessToken::default());
        assert_eq!(status(&token, Method::GET, "/envs", None).await, 200);
        assert_eq!(status(&token, Method::GET, "/envs", Some("x")).await, 200);
        token.set("tok".into());
        assert_eq!(status(&token, Method::GET, "/envs", None).await, 401);
        assert_eq!(status(&token, Method::GET, "/envs", Some("x")).await, 401);
        assert_eq!(status(&token, Method::GET, "/envs", Some("")).await, 401);
        assert_eq!(status(&token, Method::GET, "/envs", Some("tok")).await, 200);
        assert_eq!(status(&token, Method::GET, "/health", None).await, 200);
        assert_eq!(
            status(&token, Method::POST, "/process.Process/List", None).await,
            401
        );
        token.clear();
        assert_eq!(status(&token, Method::GET, "/envs", None).await, 200);
    }
}

//! Request metadata the RPC handlers need, as axum extractors that work for
//! Connect, gRPC and gRPC-Web alike: the acting user, the keepalive
//! interval and the deadline.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine;
use connectrpc_axum::ConnectError;

use crate::error::{Error, RequestError};
use crate::identity::{self, User};
use crate::state::AppState;

/// The user a request acts as: the `Authorization: Basic` user if given,
/// else the current default user.
#[derive(Debug, Clone)]
pub struct RequestUser(pub User);

/// How often to send keepalive events on a server stream.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive(pub Duration);

/// The call's deadline, from `Connect-Timeout-Ms` or `grpc-timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Option<Duration>);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses `Authorization: Basic base64(user:password)`; the password is ignored.
pub(super) fn basic_user(headers: &HeaderMap) -> Result<Option<String>, RequestError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| RequestError::BadAuthorization("not ASCII"))?;
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Err(RequestError::BadAuthorization("expected Basic credentials"));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| RequestError::BadAuthorization("credentials are not base64"))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| RequestError::BadAuthorization("credentials are not UTF-8"))?;
    let name = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
    Ok(Some(name.to_owned()))
}

impl FromRequestParts<AppState> for RequestUser {
    type Rejection = ConnectError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let name = match basic_user(&parts.headers).map_err(Error::from)? {
            Some(name) => name,
            None => state.defaults.snapshot().user,
        };
        Ok(Self(identity::lookup(&name).map_err(Error::from)?))
    }
}

impl FromRequestParts<AppState> for Keepalive {
    type Rejection = ConnectError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let seconds = header(&parts.headers, "keepalive-ping-interval")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s > 0);
        Ok(Self(seconds.map_or(
            state.config.default_keepalive,
            Duration::from_secs,
        )))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Deadline {
    type Rejection = ConnectError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(value) = header(&parts.headers, "connect-timeout-ms") {
            let ms = value.trim().parse::<u64>().map_err(|_| {
                Error::from(RequestError::BadHeader {
                    header: "Connect-Timeout-Ms",
                    value: value.to_owned(),
                })
            })?;
            return Ok(Self((ms > 0).then(|| Duration::from_millis(ms))));
        }
        if let Some(value) = header(&parts.headers, "grpc-timeout") {
            let timeout = parse_grpc_timeout(value).ok_or_else(|| {
                Error::from(RequestError::BadHeader {
                    header: "grpc-timeout",
                    value: value.to_owned(),
                })
            })?;
            return Ok(Self(Some(timeout)));
        }
        Ok(Self(None))
    }
}

/// Parses a gRPC `TimeoutValue TimeoutUnit` (at most 8 digits, unit H M S m u n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    // The unit is one ASCII letter; a multi-byte last character is not
    // one (splitting inside it panicked: found by the `headers` fuzz target).
    let (digits, unit) = value.split_at_checked(value.len() - 1)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("+5S"), None, "digits only");
        assert_eq!(
            parse_grpc_timeout("1\u{f7}"),
            None,
            "a multi-byte last character"
        );
    }

    #[test]
    fn basic_auth_user() {
        let mut h = HeaderMap::new();
        assert_eq!(basic_user(&h).unwrap(), None);
        h.insert("authorization", "Basic dXNlcjo=".parse().unwrap());
        assert_eq!(basic_user(&h).unwrap().as_deref(), Some("user"));
        h.insert("authorization", "Bearer x".parse().unwrap());
        assert!(basic_user(&h).is_err());
    }
}

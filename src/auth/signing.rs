//! Signed `/files` URLs (`validateSigning`, spec §6.3).
//!
//! `/files` is excluded from the general token guard: a browser that was
//! handed a URL cannot add headers, so the URL carries a signature over the
//! raw `path` and `username` query values, the operation and the token.

pub use envd_proto::signing::{Operation, signature};
use subtle::ConstantTimeEq;

use super::AccessToken;

/// The signing inputs of one request, exactly as the client sent them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// The raw `path` query value (unresolved), if present.
    pub path: Option<&'a str>,
    /// The raw `username` query value, if present.
    pub username: Option<&'a str>,
    /// The `signature` query value, if present.
    pub signature: Option<&'a str>,
    /// The `signature_expiration` query value (Unix seconds), if present.
    pub expiration: Option<i64>,
    /// The `X-Access-Token` header, if present.
    pub header_token: Option<&'a [u8]>,
}

/// Why a `/files` request is not authorised. The messages are the wire
/// messages clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A non-empty `X-Access-Token` header that is not the token.
    #[error("access token present in header but does not match")]
    HeaderMismatch,
    /// Neither a correct header nor a `signature`.
    #[error("missing signature query parameter")]
    MissingSignature,
    /// The signature is not the one the token gives.
    #[error("invalid signature")]
    InvalidSignature,
    /// The signature was valid but its expiry has passed.
    #[error("signature is already expired")]
    Expired,
}

/// Checks `request` for `operation` against the current token at Unix time
/// `now`. With no token set everything is allowed and a header is ignored.
pub fn validate(
    token: &AccessToken,
    operation: Operation,
    request: &Request<'_>,
    now: i64,
) -> Result<(), Error> {
    if !token.is_set() {
        return Ok(());
    }
    if let Some(header) = request.header_token.filter(|h| !h.is_empty()) {
        return if token.matches(header) {
            Ok(())
        } else {
            Err(Error::HeaderMismatch)
        };
    }
    let Some(given) = request.signature else {
        return Err(Error::MissingSignature);
    };
    let valid = token.with(|current| {
        current.is_some_and(|current| {
            let expected = signature(
                request.path.unwrap_or(""),
                operation,
                request.username.unwrap_or(""),
                current,
                request.expiration,
            );
            bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
        })
    });
    if !valid {
        return Err(Error::InvalidSignature);
    }
    match request.expiration {
        Some(expiration) if expiration < now => Err(Error::Expired),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "secret-access-token";

    fn token() -> AccessToken {
        let token = AccessToken::default();
        token.set(TOKEN.to_owned());
        token
    }

    #[test]
    fn no_token_allows_everything_and_ignores_the_header() {
        let request = Request {
            header_token: Some(b"whatever"),
            ..Request::default()
        };
        assert_eq!(
            validate(&AccessToken::default(), Operation::Read, &request, 0),
            Ok(())
        );
    }

    #[test]
    fn header_bypasses_or_rejects() {
        let good = Request {
            header_token: Some(TOKEN.as_bytes()),
            ..Request::default()
        };
        assert_eq!(validate(&token(), Operation::Write, &good, 0), Ok(()));
        let bad = Request {
            header_token: Some(b"nope"),
            signature: Some("v1_x"),
            ..Request::default()
        };
        assert_eq!(
            validate(&token(), Operation::Write, &bad, 0),
            Err(Error::HeaderMismatch)
        );
        // An empty header counts as absent.
        let empty = Request {
            header_token: Some(b""),
            ..Request::default()
        };
        assert_eq!(
            validate(&token(), Operation::Write, &empty, 0),
            Err(Error::MissingSignature)
        );
    }

    #[test]
    fn signatures_are_checked_then_expiry() {
        let sig = signature("/a", Operation::Read, "", TOKEN, Some(100));
        let request = Request {
            path: Some("/a"),
            signature: Some(&sig),
            expiration: Some(100),
            ..Request::default()
        };
        assert_eq!(validate(&token(), Operation::Read, &request, 100), Ok(()));
        assert_eq!(
            validate(&token(), Operation::Read, &request, 101),
            Err(Error::Expired)
        );
        // The operation is part of the signature.
        assert_eq!(
            validate(&token(), Operation::Write, &request, 0),
            Err(Error::InvalidSignature)
        );
        // The raw username is signed: absent and "root" differ.
        let as_root = Request {
            username: Some("root"),
            ..request
        };
        assert_eq!(
            validate(&token(), Operation::Read, &as_root, 0),
            Err(Error::InvalidSignature)
        );
        // A forged signature is rejected before its expiry is looked at.
        let forged = Request {
            signature: Some("v1_forged"),
            ..request
        };
        assert_eq!(
            validate(&token(), Operation::Read, &forged, 1_000),
            Err(Error::InvalidSignature)
        );
        assert_eq!(
            validate(&token(), Operation::Read, &Request::default(), 0),
            Err(Error::MissingSignature)
        );
    }
}

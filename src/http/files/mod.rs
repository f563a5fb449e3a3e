//! `GET /files` (download) and `POST /files` (upload), spec §5.6–5.7, and
//! `POST /files/compose` (§5.8).
//!
//! `/files` is excluded from the general token guard: it accepts either the
//! `X-Access-Token` header or a signed URL (§6.3), checked here.
//! `/files/compose` is guarded like every other route.

mod compose;
mod conditional;
mod content_type;
mod disposition;
mod download;
mod encoding;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
mod metadata;
mod range;
mod upload;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query};
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};

use crate::auth::signing::{self, Operation};
use crate::config::Defaults;
use crate::identity::{self, User};
use crate::state::AppState;

pub use crate::error::FilesError as Error;

/// The `/files` routes. Upload bodies have no size limit: they are
/// streamed to disk. A compose body is read up to its own bound.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/files", get(download::get).post(upload::post))
        .layer(DefaultBodyLimit::disable())
        .route("/files/compose", post(compose::post))
}

/// The query parameters of both routes. A parameter that is present but
/// empty is present.
#[derive(Debug, Default)]
struct Params {
    path: Option<String>,
    username: Option<String>,
    signature: Option<String>,
    signature_expiration: Option<i64>,
}

impl Params {
    /// Parses the query; the first occurrence of a parameter wins.
    fn parse(uri: &Uri) -> Result<Self, Error> {
        let pairs: Vec<(String, String)> = Query::try_from_uri(uri)
            .map(|Query(pairs)| pairs)
            .unwrap_or_default();
        let mut params = Self::default();
        let mut expiration = None;
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "path" => &mut params.path,
                "username" => &mut params.username,
                "signature" => &mut params.signature,
                "signature_expiration" => &mut expiration,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        if let Some(value) = expiration {
            params.signature_expiration =
                Some(value.trim().parse().map_err(|_| Error::BadParameter {
                    name: "signature_expiration",
                    value,
                })?);
        }
        Ok(params)
    }

    /// Checks the token header or the signature for `operation`.
    fn authorize(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        operation: Operation,
    ) -> Result<(), Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let request = signing::Request {
            path: self.path.as_deref(),
            username: self.username.as_deref(),
            signature: self.signature.as_deref(),
            expiration: self.signature_expiration,
            header_token: headers.get("x-access-token").map(|v| v.as_bytes()),
        };
        Ok(signing::validate(&state.token, operation, &request, now)?)
    }

    /// The user name: the `username` parameter verbatim when present (even
    /// empty), else the default user.
    fn user_name(&self, defaults: &Defaults) -> String {
        self.username
            .clone()
            .unwrap_or_else(|| defaults.user.clone())
    }
}

/// Looks `name` up in passwd; failures are 401.
fn lookup(name: String) -> Result<User, Error> {
    identity::lookup(&name).map_err(|e| {
        let reason = match e {
            identity::Error::UnknownUser(_) => format!("user: unknown user {name}"),
            identity::Error::Lookup { source, .. } => source.to_string(),
        };
        Error::User { name, reason }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Params, Error> {
        Params::parse(&format!("/files?{query}").parse().unwrap())
    }

    #[test]
    fn params_keep_presence_and_raw_values() {
        let p =
            parse("path=%2Fa%20b%2B&username=&signature=v1_a%2Bb&signature_expiration=17").unwrap();
        assert_eq!(p.path.as_deref(), Some("/a b+"));
        assert_eq!(p.username.as_deref(), Some(""));
        assert_eq!(p.signature.as_deref(), Some("v1_a+b"));
        assert_eq!(p.signature_expiration, Some(17));
        let p = parse("path=first&path=second").unwrap();
        assert_eq!(p.path.as_deref(), Some("first"));
        assert_eq!(p.username, None);
        assert!(matches!(
            parse("signature_expiration=soon"),
            Err(Error::BadParameter { .. })
        ));
    }

    #[test]
    fn unknown_user_message() {
        let err = lookup("no-such-user-envd".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error looking up user 'no-such-user-envd': user: unknown user no-such-user-envd"
        );
    }
}

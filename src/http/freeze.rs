//! `POST /freeze?mode=legacy|hierarchy&maxCgroups=N&maxWaitMs=N` and
//! `POST /unfreeze` (spec §5.8, [E2B]; semantics in [`crate::host::freeze`]).
//!
//! * `mode` defaults to `legacy`; `maxCgroups` (hierarchy only) to
//!   [`DEFAULT_MAX_CGROUPS`], at most [`MAX_CGROUPS`]; `maxWaitMs` is at
//!   most [`MAX_WAIT_MS`]. Anything else → 400.
//! * Without `maxWaitMs`: 204. With it: 200 and the `FreezeResult` JSON.
//! * Another freeze or unfreeze running → 503 at once.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::{Error, RequestError};
use crate::host::freeze::{FreezeRequest, Mode};
use crate::state::AppState;

/// `maxCgroups` when absent.
pub(super) const DEFAULT_MAX_CGROUPS: usize = 4096;
/// The largest `maxCgroups` accepted.
pub(super) const MAX_CGROUPS: usize = 1_000_000;
/// The largest `maxWaitMs` accepted (one minute).
pub(super) const MAX_WAIT_MS: u64 = 60_000;

fn no_content() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "no-store")],
    )
        .into_response()
}

pub(super) async fn freeze(State(state): State<AppState>, uri: Uri) -> Result<Response, Error> {
    let request = parse(&uri)?;
    let result = state.host.freezer.freeze(request).await?;
    Ok(match request.max_wait {
        None => no_content(),
        Some(_) => ([(header::CACHE_CONTROL, "no-store")], Json(result)).into_response(),
    })
}

pub(super) async fn unfreeze(State(state): State<AppState>) -> Result<Response, Error> {
    state.host.freezer.unfreeze().await?;
    Ok(no_content())
}

/// The query; the first occurrence of a parameter wins, unknown ones are
/// ignored.
fn parse(uri: &Uri) -> Result<FreezeRequest, RequestError> {
    let pairs: Vec<(String, String)> = Query::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default();
    let first = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mode = match first("mode") {
        None | Some("legacy") => Mode::Legacy,
        Some("hierarchy") => Mode::Hierarchy,
        Some(other) => {
            return Err(RequestError::InvalidField {
                field: "mode",
                reason: format!("{other:?} is not legacy or hierarchy"),
            });
        }
    };
    let number = |field: &'static str, max: u64| -> Result<Option<u64>, RequestError> {
        first(field)
            .map(|v| match v.parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(RequestError::InvalidField {
                    field,
                    reason: format!("{v:?} is not a whole number from 0 to {max}"),
                }),
            })
            .transpose()
    };
    let max_cgroups = match number("maxCgroups", MAX_CGROUPS as u64)? {
        Some(0) => {
            return Err(RequestError::InvalidField {
                field: "maxCgroups",
                reason: "must be at least 1".to_owned(),
            });
        }
        Some(n) => usize::try_from(n).unwrap_or(MAX_CGROUPS),
        None => DEFAULT_MAX_CGROUPS,
    };
    let max_wait = number("maxWaitMs", MAX_WAIT_MS)?.map(Duration::from_millis);
    Ok(FreezeRequest {
        mode,
        max_cgroups,
        max_wait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> Result<FreezeRequest, RequestError> {
        parse(&format!("/freeze?{query}").parse().unwrap())
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(
            parsed("").unwrap(),
            FreezeRequest {
                mode: Mode::Legacy,
                max_cgroups: DEFAULT_MAX_CGROUPS,
                max_wait: None
            }
        );
        assert_eq!(
            parsed("mode=hierarchy&maxCgroups=7&maxWaitMs=250&other=x").unwrap(),
            FreezeRequest {
                mode: Mode::Hierarchy,
                max_cgroups: 7,
                max_wait: Some(Duration::from_millis(250))
            }
        );
        assert_eq!(
            parsed("maxWaitMs=0").unwrap().max_wait,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        for query in [
            "mode=",
            "mode=all",
            "maxCgroups=0",
            "maxCgroups=-1",
            "maxCgroups=x",
            "maxCgroups=1000001",
            "maxWaitMs=",
            "maxWaitMs=1.5",
            "maxWaitMs=60001",
        ] {
            assert!(parsed(query).is_err(), "{query}");
        }
    }
}

//! Conditional requests (RFC 7232) and `If-Range` (RFC 7233), evaluated in
//! Go `ServeContent`'s order. Downloads carry no `ETag` (as in Go envd), so
//! entity-tag conditions can only match `*`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::http::header::{
    IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE,
};

/// What the conditional headers decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Serve the content; `use_range` is false when `If-Range` failed.
    Serve {
        /// Whether a `Range` header may be honoured.
        use_range: bool,
    },
    /// `304 Not Modified`.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// A condition's value: absent, holds or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    None,
    True,
    False,
}

fn header<'a>(headers: &'a HeaderMap, name: &axum::http::HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

fn has_star(list: &str) -> bool {
    list.split(',').any(|tag| tag.trim() == "*")
}

/// `mtime` to whole seconds; `None` for the zero/epoch time, which Go
/// treats as unknown.
pub(crate) fn last_modified(mtime: SystemTime) -> Option<SystemTime> {
    let secs = mtime.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs != 0).then(|| UNIX_EPOCH + Duration::from_secs(secs))
}

fn date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value).ok()
}

/// Evaluates the conditions of a GET/HEAD for content last modified at
/// `modified` (already truncated by [`last_modified`]).
pub(crate) fn evaluate(headers: &HeaderMap, modified: Option<SystemTime>) -> Outcome {
    let mut precondition = match header(headers, &IF_MATCH) {
        Some(list) if has_star(list) => Cond::True,
        Some(_) => Cond::False,
        None => Cond::None,
    };
    if precondition == Cond::None {
        precondition = match (
            header(headers, &IF_UNMODIFIED_SINCE).and_then(date),
            modified,
        ) {
            (Some(since), Some(m)) if m <= since => Cond::True,
            (Some(_), Some(_)) => Cond::False,
            _ => Cond::None,
        };
    }
    if precondition == Cond::False {
        return Outcome::Failed;
    }
    match header(headers, &IF_NONE_MATCH) {
        Some(list) if has_star(list) => return Outcome::NotModified,
        Some(_) => {}
        None => {
            if let (Some(since), Some(m)) =
                (header(headers, &IF_MODIFIED_SINCE).and_then(date), modified)
                && m <= since
            {
                return Outcome::NotModified;
            }
        }
    }
    let use_range = match header(headers, &IF_RANGE) {
        None => true,
        // An entity tag never matches: there is no ETag.
        Some(v) if v.starts_with('"') || v.starts_with("W/") => false,
        Some(v) => matches!((date(v), modified), (Some(d), Some(m)) if d == m),
    };
    Outcome::Serve { use_range }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    const MTIME: &str = "Wed, 15 Nov 2023 10:00:00 GMT";
    const BEFORE: &str = "Wed, 15 Nov 2023 09:59:59 GMT";

    fn modified() -> Option<SystemTime> {
        date(MTIME)
    }

    #[test]
    fn modified_since() {
        let eval = |h: &[(&'static str, &str)]| evaluate(&headers(h), modified());
        assert_eq!(eval(&[]), Outcome::Serve { use_range: true });
        assert_eq!(eval(&[("if-modified-since", MTIME)]), Outcome::NotModified);
        assert_eq!(
            eval(&[("if-modified-since", BEFORE)]),
            Outcome::Serve { use_range: true }
        );
        assert_eq!(
            eval(&[("if-modified-since", "garbage")]),
            Outcome::Serve { use_range: true }
        );
        // If-None-Match takes precedence over If-Modified-Since.
        assert_eq!(
            eval(&[("if-none-match", "\"x\""), ("if-modified-since", MTIME)]),
            Outcome::Serve { use_range: true }
        );
        assert_eq!(eval(&[("if-none-match", "*")]), Outcome::NotModified);
        // Unknown modification time: no conditional answer.
        assert_eq!(
            evaluate(&headers(&[("if-modified-since", MTIME)]), None),
            Outcome::Serve { use_range: true }
        );
    }

    #[test]
    fn preconditions() {
        let eval = |h: &[(&'static str, &str)]| evaluate(&headers(h), modified());
        assert_eq!(eval(&[("if-match", "\"abc\"")]), Outcome::Failed);
        assert_eq!(
            eval(&[("if-match", "*")]),
            Outcome::Serve { use_range: true }
        );
        assert_eq!(eval(&[("if-unmodified-since", BEFORE)]), Outcome::Failed);
        assert_eq!(
            eval(&[("if-unmodified-since", MTIME)]),
            Outcome::Serve { use_range: true }
        );
    }

    #[test]
    fn if_range() {
        let eval = |h: &[(&'static str, &str)]| evaluate(&headers(h), modified());
        assert_eq!(
            eval(&[("if-range", MTIME)]),
            Outcome::Serve { use_range: true }
        );
        assert_eq!(
            eval(&[("if-range", BEFORE)]),
            Outcome::Serve { use_range: false }
        );
        assert_eq!(
            eval(&[("if-range", "\"etag\"")]),
            Outcome::Serve { use_range: false }
        );
    }

    #[test]
    fn truncation() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        assert_eq!(
            last_modified(t),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(last_modified(UNIX_EPOCH), None);
    }
}

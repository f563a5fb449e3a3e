//! `/init`'s own token check (spec §6.2). Without a metadata service the
//! rules reduce to: with a token set, the request must carry the same one;
//! with none set, anything goes (first-time setup).

use zeroize::Zeroizing;

use super::AccessToken;

/// Why `/init` rejected its `accessToken`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InitTokenError {
    /// A token is set and the request carries a different one.
    #[error("access token validation failed")]
    Mismatch,
    /// A token is set and the request carries none.
    #[error("access token reset not authorized")]
    ResetNotAuthorized,
    /// The field is not a plain, non-empty JSON string.
    #[error("invalid accessToken: {0}")]
    Malformed(&'static str),
}

/// Rules 1, 3 and 4: `requested` is the body's `accessToken`, if present.
pub fn validate(current: &AccessToken, requested: Option<&str>) -> Result<(), InitTokenError> {
    if !current.is_set() {
        return Ok(());
    }
    match requested {
        Some(r) if current.matches(r.as_bytes()) => Ok(()),
        Some(_) => Err(InitTokenError::Mismatch),
        None => Err(InitTokenError::ResetNotAuthorized),
    }
}

/// Parses the raw JSON of the `accessToken` field: `null` means absent;
/// otherwise a non-empty string without escape sequences (tokens never need
/// them, and rejecting them keeps the value byte-exact).
pub fn parse_field(raw: &str) -> Result<Option<Zeroizing<String>>, InitTokenError> {
    let raw = raw.trim();
    if raw == "null" {
        return Ok(None);
    }
    let content = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or(InitTokenError::Malformed("expected a JSON string"))?;
    if content.contains('\\') {
        return Err(InitTokenError::Malformed("unexpected escape sequence"));
    }
    if content.is_empty() {
        return Err(InitTokenError::Malformed("empty token not allowed"));
    }
    Ok(Some(Zeroizing::new(content.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_without_metadata_service() {
        let t = AccessToken::default();
        assert_eq!(validate(&t, None), Ok(()));
        assert_eq!(validate(&t, Some("new")), Ok(()));
        t.set("secret".into());
        assert_eq!(validate(&t, Some("secret")), Ok(()));
        assert_eq!(validate(&t, Some("other")), Err(InitTokenError::Mismatch));
        assert_eq!(validate(&t, None), Err(InitTokenError::ResetNotAuthorized));
    }

    #[test]
    fn field_format() {
        assert_eq!(parse_field("null").unwrap(), None);
        assert_eq!(
            parse_field("\"abc\"")
                .unwrap()
                .as_deref()
                .map(String::as_str),
            Some("abc")
        );
        for bad in [
            "\"\"",
            "\"a\\u0062\"",
            "\"a\\\"b\"",
            "5",
            "true",
            "{}",
            "[\"a\"]",
        ] {
            assert!(parse_field(bad).is_err(), "{bad}");
        }
    }
}

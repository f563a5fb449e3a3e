//! The access token: unset at boot, set, replaced or cleared only by
//! `/init`, kept in memory only and wiped when replaced.

use std::sync::RwLock;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The current access token, if any.
#[derive(Default)]
pub struct AccessToken {
    current: RwLock<Option<Zeroizing<String>>>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("set", &self.is_set())
            .finish()
    }
}

impl AccessToken {
    /// Whether a token is set (and so requests must present it).
    pub fn is_set(&self) -> bool {
        self.read(|t| t.is_some())
    }

    /// Replaces the token; the old one is wiped.
    pub fn set(&self, token: String) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Zeroizing::new(token));
    }

    /// Removes the token; it is wiped.
    pub fn clear(&self) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Constant-time comparison with the current token; false when unset.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.read(|t| t.is_some_and(|t| bool::from(t.as_bytes().ct_eq(candidate))))
    }

    /// Runs `f` with the current token (for signing), without copying it out.
    pub fn with<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        self.read(|t| f(t.map(|t| t.as_str())))
    }

    fn read<R>(&self, f: impl FnOnce(Option<&Zeroizing<String>>) -> R) -> R {
        f(self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref())
    }
}

/// A request without the right token while one is set.
#[derive(Debug, thiserror::Error)]
#[error("unauthorized access, please provide a valid access token or method signing if supported")]
pub struct Unauthorized;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_match_replace_clear() {
        let token = AccessToken::default();
        assert!(!token.is_set());
        assert!(!token.matches(b""));
        token.set("secret".into());
        assert!(token.matches(b"secret"));
        assert!(!token.matches(b"secreT"));
        assert!(!token.matches(b"secret2"));
        token.set("other".into());
        assert!(!token.matches(b"secret"));
        token.clear();
        assert!(!token.is_set());
    }
}

//! Signed `/files` URLs (spec §6.3): a browser or `curl` can download or
//! upload with the URL alone, without the access token.

use std::time::{Duration, SystemTime};

use envd_proto::signing::{Operation, signature};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{Error, Result};
use crate::files::Files;

/// Characters left as they are in query values (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Options for [`Files::download_url`] and [`Files::upload_url`].
#[derive(Debug, Clone, Default)]
pub struct UrlOptions {
    user: Option<String>,
    expires_in: Option<Duration>,
}

impl UrlOptions {
    /// Default options: the client's user, no expiry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The user the URL acts as (default: the client's user, else envd's
    /// default user).
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The URL stops working this long from now.
    #[must_use]
    pub fn expires_in(mut self, duration: Duration) -> Self {
        self.expires_in = Some(duration);
        self
    }
}

impl Files {
    /// A URL that downloads `path` with a plain `GET`, signed with the
    /// client's access token (unsigned when the client has none).
    pub fn download_url(&self, path: &str, options: &UrlOptions) -> Result<String> {
        self.signed_url(path, Operation::Read, options)
    }

    /// A URL that uploads to `path` with a plain `POST` (multipart or
    /// `application/octet-stream`), signed like [`download_url`](Self::download_url).
    pub fn upload_url(&self, path: &str, options: &UrlOptions) -> Result<String> {
        self.signed_url(path, Operation::Write, options)
    }

    fn signed_url(&self, path: &str, operation: Operation, options: &UrlOptions) -> Result<String> {
        let user = options.user.as_deref().or(self.client.user());
        let mut url = format!(
            "{}/files?path={}",
            self.client.url(),
            utf8_percent_encode(path, QUERY_VALUE)
        );
        if let Some(user) = user {
            url.push_str(&format!(
                "&username={}",
                utf8_percent_encode(user, QUERY_VALUE)
            ));
        }
        let Some(token) = self.client.token() else {
            return Ok(url);
        };
        let expiration = match options.expires_in {
            None => None,
            Some(ttl) => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_err(|e| {
                        Error::invalid_argument("system clock is before 1970").with_source(e)
                    })?;
                let at = i64::try_from((now + ttl).as_secs())
                    .map_err(|_| Error::invalid_argument("URL expiry is too far in the future"))?;
                Some(at)
            }
        };
        let signature = signature(path, operation, user.unwrap_or(""), &token, expiration);
        url.push_str(&format!(
            "&signature={}",
            utf8_percent_encode(&signature, QUERY_VALUE)
        ));
        if let Some(expiration) = expiration {
            url.push_str(&format!("&signature_expiration={expiration}"));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "secret-access-token";

    #[test]
    fn urls_encode_the_signature_and_omit_absent_username() {
        let client = crate::Client::builder("http://127.0.0.1:1")
            .access_token(TOKEN)
            .build()
            .unwrap();
        let url = client.files().upload_url("", &UrlOptions::new()).unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:1/files?path=&signature=v1_82R10Rkzh6YhxTNrfQLnRmIESjDApuO5NxM4bcZr%2BHo"
        );
        let url = client
            .files()
            .download_url("/path/to/resource.txt", &UrlOptions::new().user("user"))
            .unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:1/files?path=%2Fpath%2Fto%2Fresource.txt&username=user\
             &signature=v1_%2F0lpZh0CqgZvu5XIwq2wcliltum4wAS2H36jVjFApV0"
        );
    }
}

//! The `X-Metadata-<key>` headers of `POST /files` (spec §5.7): the
//! metadata every uploaded file gets, checked against what extended
//! attributes can hold.

use axum::http::HeaderMap;

use crate::fs::metadata::{Invalid, MAX_KEY, MAX_TOTAL, Metadata, XATTR_PREFIX};

/// The header name prefix (header names arrive lowercased).
const HEADER_PREFIX: &str = "x-metadata-";
fn printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..=0x7E).contains(b))
}

/// The metadata the request's headers carry: for every `X-Metadata-<key>`
/// header, the key lowercased and the header's first value. An empty key
/// is ignored.
pub(super) fn from_headers(headers: &HeaderMap) -> Result<Metadata, Invalid> {
    let mut metadata = Metadata::new();
    let mut total = 0;
    for name in headers.keys() {
        let Some(key) = name.as_str().strip_prefix(HEADER_PREFIX) else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        let key = key.to_ascii_lowercase();
        if !printable(key.as_bytes()) {
            return Err(Invalid::KeyNotPrintable(key));
        }
        if key.len() > MAX_KEY {
            return Err(Invalid::KeyTooLong {
                len: key.len(),
                key,
            });
        }
        let value = headers.get(name).map(|v| v.as_bytes()).unwrap_or_default();
        if !printable(value) {
            return Err(Invalid::ValueNotPrintable(key));
        }
        total += XATTR_PREFIX.len() + key.len() + value.len();
        // Printable ASCII is UTF-8.
        metadata.insert(key, String::from_utf8_lossy(value).into_owned());
    }
    if total > MAX_TOTAL {
        return Err(Invalid::TooLarge(total));
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn keys_are_lowercased_first_value_wins_empty_key_dropped() {
        let map = headers(&[
            ("X-Metadata-Owner", b"alice"),
            ("x-metadata-owner", b"bob"),
            ("X-Metadata-", b"ignored"),
            ("X-Metadatax", b"not metadata"),
            ("Content-Type", b"text/plain"),
            ("X-Metadata-Empty", b""),
        ]);
        let got = from_headers(&map).unwrap();
        assert_eq!(
            got,
            Metadata::from([
                ("owner".into(), "alice".into()),
                ("empty".into(), String::new())
            ])
        );
    }

    #[test]
    fn limits() {
        let key = "k".repeat(MAX_KEY);
        let ok = headers(&[(&format!("x-metadata-{key}"), b"v")]);
        assert!(from_headers(&ok).is_ok());
        let long = headers(&[(&format!("x-metadata-{key}k"), b"v")]);
        assert!(matches!(
            from_headers(&long),
            Err(Invalid::KeyTooLong { len: 247, .. })
        ));
        let tab = headers(&[("x-metadata-a", b"a\tb")]);
        assert!(matches!(
            from_headers(&tab),
            Err(Invalid::ValueNotPrintable(k)) if k == "a"
        ));
        let high = headers(&[("x-metadata-a", b"caf\xc3\xa9")]);
        assert!(from_headers(&high).is_err());
        // 9 + 1 + 4086 = 4096 exactly fits; one more byte does not.
        let value = vec![b'v'; 4086];
        assert!(from_headers(&headers(&[("x-metadata-a", &value)])).is_ok());
        let value = vec![b'v'; 4087];
        assert!(matches!(
            from_headers(&headers(&[("x-metadata-a", &value)])),
            Err(Invalid::TooLarge(4097))
        ));
    }
}

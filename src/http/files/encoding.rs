//! `Accept-Encoding` negotiation and `Content-Encoding` parsing for
//! `/files` (spec §5.6, §5.7). Only gzip is supported besides identity.

/// A content coding envd can produce or consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// No coding.
    Identity,
    /// gzip.
    Gzip,
}

/// One `Accept-Encoding` item: lowercased name and q-value.
#[derive(Debug, Clone, PartialEq)]
struct Weighted {
    name: String,
    q: f64,
}

/// Splits `name;params` and lowercases the name; `q=`/`Q=` sets the weight
/// (an unparsable value keeps the default 1.0).
fn parse_weighted(item: &str) -> Weighted {
    let mut parts = item.trim().split(';');
    let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let mut q = 1.0;
    for param in parts {
        let param = param.trim();
        if let Some(v) = param
            .strip_prefix("q=")
            .or_else(|| param.strip_prefix("Q="))
            && let Ok(v) = v.parse::<f64>()
        {
            q = v;
        }
    }
    Weighted { name, q }
}

fn items(header: &str) -> Vec<Weighted> {
    header.split(',').map(parse_weighted).collect()
}

/// Whether the items forbid identity: `identity;q=0`, or `*;q=0` with no
/// `identity` item of positive weight.
fn rejects_identity(items: &[Weighted]) -> bool {
    let explicit_zero = items.iter().any(|i| i.name == "identity" && i.q == 0.0);
    let star_zero = items.iter().any(|i| i.name == "*" && i.q == 0.0);
    let identity_allowed = items.iter().any(|i| i.name == "identity" && i.q > 0.0);
    explicit_zero || (star_zero && !identity_allowed)
}

/// Whether identity is acceptable under `header` (absent: always).
pub(crate) fn identity_acceptable(header: Option<&str>) -> bool {
    header.is_none_or(|h| !rejects_identity(&items(h)))
}

/// Picks the response coding for `header`; `None` when nothing acceptable
/// is supported (406).
pub(crate) fn negotiate(header: Option<&str>) -> Option<Encoding> {
    let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
        return Some(Encoding::Identity);
    };
    let mut items = items(header);
    let identity_rejected = rejects_identity(&items);
    // Stable: equal weights keep header order.
    items.sort_by(|a, b| b.q.total_cmp(&a.q));
    for item in items.iter().filter(|i| i.q != 0.0) {
        match item.name.as_str() {
            "identity" => return Some(Encoding::Identity),
            "*" if identity_rejected => return Some(Encoding::Gzip),
            "*" => return Some(Encoding::Identity),
            "gzip" => return Some(Encoding::Gzip),
            _ => {}
        }
    }
    (!identity_rejected).then_some(Encoding::Identity)
}

/// Parses a request `Content-Encoding`; `Err` carries the unsupported value.
pub(crate) fn content_encoding(header: Option<&str>) -> Result<Encoding, String> {
    let Some(raw) = header.filter(|h| !h.is_empty()) else {
        return Ok(Encoding::Identity);
    };
    match parse_weighted(raw).name.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" => Ok(Encoding::Gzip),
        _ => Err(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::Encoding::{Gzip, Identity};
    use super::*;

    #[test]
    fn weighted_items() {
        let w = |s: &str| parse_weighted(s);
        assert_eq!(
            w("gzip"),
            Weighted {
                name: "gzip".into(),
                q: 1.0
            }
        );
        assert_eq!(w("gzip;q=0.5").q, 0.5);
        assert_eq!(w("  gzip ; q=0.5 ").q, 0.5);
        assert_eq!(w("gzip;Q=0.25").q, 0.25);
        assert_eq!(w("gzip;q=0").q, 0.0);
        assert_eq!(w("gzip;q=invalid").q, 1.0);
        assert_eq!(w("  GZIP  ").name, "gzip");
        assert_eq!(
            w("br;level=3;q=0.1"),
            Weighted {
                name: "br".into(),
                q: 0.1
            }
        );
    }

    #[test]
    fn accept_encoding_table() {
        let cases: &[(Option<&str>, Option<Encoding>)] = &[
            (None, Some(Identity)),
            (Some(""), Some(Identity)),
            (Some("gzip"), Some(Gzip)),
            (Some("GZIP"), Some(Gzip)),
            (Some("br, gzip, deflate"), Some(Gzip)),
            (Some("gzip;q=0.8"), Some(Gzip)),
            (Some("identity"), Some(Identity)),
            (Some("*"), Some(Identity)),
            (Some("br"), Some(Identity)),
            (Some("br;q=1.0, gzip;q=0.5"), Some(Gzip)),
            (Some("gzip;q=0.5, identity"), Some(Identity)),
            (Some("gzip;q=0.5, identity;q=0.9"), Some(Identity)),
            (Some("gzip;q=1, identity;q=0.5"), Some(Gzip)),
            (Some("gzip;q=0, identity"), Some(Identity)),
            (Some("gzip;q=0"), Some(Identity)),
            (Some("identity;q=0"), None),
            (Some("identity;q=0, br"), None),
            (Some("identity;q=0, gzip"), Some(Gzip)),
            (Some("*;q=0"), None),
            (Some("*;q=0, identity"), Some(Identity)),
            (Some("*;q=0, gzip"), Some(Gzip)),
            (Some("*, identity;q=0"), Some(Gzip)),
            (Some("gzip, identity"), Some(Gzip)),
            (Some("identity, gzip"), Some(Identity)),
        ];
        for (header, want) in cases {
            assert_eq!(negotiate(*header), *want, "Accept-Encoding: {header:?}");
        }
    }

    #[test]
    fn identity_for_ranges() {
        assert!(identity_acceptable(None));
        assert!(identity_acceptable(Some("gzip")));
        assert!(!identity_acceptable(Some("gzip; q=1,*; q=0")));
        assert!(!identity_acceptable(Some("identity;q=0")));
        assert!(identity_acceptable(Some("*;q=0, identity;q=0.1")));
    }

    #[test]
    fn content_encoding_table() {
        assert_eq!(content_encoding(None), Ok(Identity));
        assert_eq!(content_encoding(Some("")), Ok(Identity));
        assert_eq!(content_encoding(Some("identity")), Ok(Identity));
        for g in ["gzip", "GZIP", "Gzip", "gzip;q=0.5", " gzip "] {
            assert_eq!(content_encoding(Some(g)), Ok(Gzip), "{g}");
        }
        assert_eq!(content_encoding(Some("br")), Err("br".into()));
        assert_eq!(content_encoding(Some("deflate")), Err("deflate".into()));
    }
}

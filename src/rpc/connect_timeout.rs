//! `Connect-Timeout-Ms: 0` means "no deadline" to envd's clients (spec
//! §3.3: 0 or absent, no limit), while the Connect layer would read it as
//! an already expired deadline. The header is dropped before that layer.

use axum::http::Request;

/// Removes a `Connect-Timeout-Ms` header whose value is zero.
pub(super) fn zero_means_none<B>(mut req: Request<B>) -> Request<B> {
    let zero = req
        .headers()
        .get("connect-timeout-ms")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b == b'0'));
    if zero {
        req.headers_mut().remove("connect-timeout-ms");
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(value: &str) -> Option<String> {
        let req = Request::builder()
            .header("connect-timeout-ms", value)
            .body(())
            .unwrap();
        zero_means_none(req)
            .headers()
            .get("connect-timeout-ms")
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn only_zero_is_removed() {
        assert_eq!(after("0"), None);
        assert_eq!(after("000"), None);
        assert_eq!(after("10"), Some("10".into()));
        assert_eq!(after("soon"), Some("soon".into()));
    }
}

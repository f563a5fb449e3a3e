//! `POST /collapse` (spec §5.8): `MADV_COLLAPSE` on envd's own anonymous
//! memory; the JSON shape and the consistency of its counts.

use crate::support::Envd;

const FIELDS: [&str; 6] = [
    "regions",
    "chunks",
    "collapsed",
    "alreadyHuge",
    "skipped",
    "elapsedMs",
];

async fn collapse(envd: &Envd) -> serde_json::Value {
    let resp = envd.http.post(envd.url("/collapse")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    resp.json().await.unwrap()
}

#[tokio::test]
async fn counts_are_consistent() {
    let envd = Envd::start();
    for _ in 0..2 {
        let body = collapse(&envd).await;
        let object = body.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "{body}");
        let n = |k: &str| body[k].as_u64().unwrap_or_else(|| panic!("{k}: {body}"));
        assert_eq!(
            n("chunks"),
            n("collapsed") + n("alreadyHuge") + n("skipped"),
            "{body}"
        );
        assert!(n("regions") <= n("chunks"), "{body}");
    }
    // envd is unharmed.
    let resp = envd.http.get(envd.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

//! `/files` with an access token (spec §6.3): header, signed URLs, expiry.

use crate::support::files::{download, upload};
use crate::support::{Envd, s};
use base64::Engine;
use sha2::{Digest, Sha256};

const TOKEN: &str = "files-test-token";

/// `v1_` + base64std_nopad(sha256(path:op:user:token[:exp])), like the SDKs.
fn sign(path: &str, op: &str, user: &str, exp: Option<i64>) -> String {
    let mut input = format!("{path}:{op}:{user}:{TOKEN}");
    if let Some(exp) = exp {
        input.push_str(&format!(":{exp}"));
    }
    let digest = Sha256::digest(input.as_bytes());
    format!(
        "v1_{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

async fn with_token() -> Envd {
    let envd = Envd::start();
    let r = envd
        .http
        .post(envd.url("/init"))
        .json(&serde_json::json!({"accessToken": TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    envd
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[tokio::test]
async fn header_and_signatures() {
    let envd = with_token().await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("signed.txt");
    std::fs::write(&file, b"signed").unwrap();
    let path = s(&file);

    // Missing everything.
    let r = download(&envd, &[("path", path)], &[]).await;
    assert_eq!(r.error(401), "missing signature query parameter");
    // Header: right bypasses signatures, wrong is rejected even with a good signature.
    let r = download(&envd, &[("path", path)], &[("x-access-token", TOKEN)]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"signed"[..]));
    let good = sign(path, "read", "", None);
    let r = download(
        &envd,
        &[("path", path), ("signature", &good)],
        &[("x-access-token", "wrong")],
    )
    .await;
    assert_eq!(
        r.error(401),
        "access token present in header but does not match"
    );

    // Signed without username (clients sign '' for the default user).
    let r = download(&envd, &[("path", path), ("signature", &good)], &[]).await;
    assert_eq!(r.status, 200);
    // Signed for `root`: the raw username is part of the signature.
    let r = download(
        &envd,
        &[("path", path), ("username", "root"), ("signature", &good)],
        &[],
    )
    .await;
    assert_eq!(r.error(401), "invalid signature");
    let as_root = sign(path, "read", "root", None);
    let r = download(
        &envd,
        &[
            ("path", path),
            ("username", "root"),
            ("signature", &as_root),
        ],
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    // A read signature does not allow writes.
    let r = upload(
        &envd,
        &[("path", path), ("signature", &good)],
        &[("content-type", "application/octet-stream")],
        b"x".to_vec(),
    )
    .await;
    assert_eq!(r.error(401), "invalid signature");
    assert_eq!(std::fs::read(&file).unwrap(), b"signed");

    // Expiry: valid until it passes.
    let later = now() + 600;
    let sig = sign(path, "write", "", Some(later));
    let later_text = later.to_string();
    let r = upload(
        &envd,
        &[
            ("path", path),
            ("signature", &sig),
            ("signature_expiration", &later_text),
        ],
        &[("content-type", "application/octet-stream")],
        b"written".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(&file).unwrap(), b"written");
    let past = now() - 10;
    let sig = sign(path, "read", "", Some(past));
    let past_text = past.to_string();
    let r = download(
        &envd,
        &[
            ("path", path),
            ("signature", &sig),
            ("signature_expiration", &past_text),
        ],
        &[],
    )
    .await;
    assert_eq!(r.error(401), "signature is already expired");
    let r = download(
        &envd,
        &[
            ("path", path),
            ("signature", &sig),
            ("signature_expiration", "soon"),
        ],
        &[],
    )
    .await;
    r.error(400);
}

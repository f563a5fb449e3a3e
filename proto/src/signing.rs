//! The `/files` URL signature (spec §6.3): envd checks it, clients make
//! it. One implementation, so the two can never disagree.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};

/// What a signed URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `GET /files`.
    Read,
    /// `POST /files`.
    Write,
}

impl Operation {
    /// The word signed: `read` or `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// `"v1_" + base64std_nopad(sha256("path:operation:username:token[:expiration]"))`,
/// over the raw `path` and `username` query values (empty when absent).
pub fn signature(
    path: &str,
    operation: Operation,
    username: &str,
    token: &str,
    expiration: Option<i64>,
) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in [path, operation.as_str(), username, token]
        .iter()
        .enumerate()
    {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part.as_bytes());
    }
    if let Some(expiration) = expiration {
        hasher.update(format!(":{expiration}").as_bytes());
    }
    format!("v1_{}", STANDARD_NO_PAD.encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "secret-access-token";

    /// The test vectors of spec §6.3.
    #[test]
    fn spec_vectors() {
        assert_eq!(
            signature(
                "/path/to/resource.txt",
                Operation::Read,
                "user",
                TOKEN,
                None
            ),
            "v1_/0lpZh0CqgZvu5XIwq2wcliltum4wAS2H36jVjFApV0"
        );
        assert_eq!(
            signature(
                "/path/to/demo.txt",
                Operation::Write,
                "root",
                TOKEN,
                Some(1_700_000_000)
            ),
            "v1_lBs3UB8YidWbWkExnyxa81tZNSbGcpXdicXNVcYFZAs"
        );
        assert_eq!(
            signature("/home/user/a.txt", Operation::Read, "", TOKEN, None),
            "v1_HoHyLz7kRQP7IAmvkMOSL969BGDI6RIb5xjayl4Djcc"
        );
        assert_eq!(
            signature("", Operation::Write, "", TOKEN, None),
            "v1_82R10Rkzh6YhxTNrfQLnRmIESjDApuO5NxM4bcZr+Ho"
        );
    }
}

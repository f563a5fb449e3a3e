//! Helpers for the `/files` end-to-end tests: requests with exact query
//! strings, hand-built multipart bodies, deterministic content generators,
//! a tiny tmpfs, and envd's memory from `/proc`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use serde_json::Value;

use super::Envd;

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts a spec error body (`{"code":status,"connectCode":…,"message":…}`,
    /// JSON content type, nosniff) and returns the message.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(
            self.status,
            status,
            "body: {:?}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            "application/json; charset=utf-8"
        );
        assert_eq!(self.header("x-content-type-options"), "nosniff");
        let json = self.json();
        assert_eq!(json["code"], status);
        assert!(json["connectCode"].is_string(), "{json}");
        json["message"].as_str().expect("message").to_owned()
    }
}

/// `GET /files` with `query` (raw pairs, URL-encoded here) and headers.
/// The client neither asks for nor decodes gzip on its own.
pub async fn download(envd: &Envd, query: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
    let mut req = envd.http.get(envd.url("/files")).query(query);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(req).await
}

/// `POST /files` with `query`, a body and headers.
pub async fn upload(
    envd: &Envd,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut req = envd.http.post(envd.url("/files")).query(query).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(req).await
}

async fn read(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

/// The multipart boundary the helpers use.
pub const BOUNDARY: &str = "envd-test-boundary-7d1f3c";

/// `multipart/form-data; boundary=…`
pub fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// Head of one part: form `name`, optional `filename`.
pub fn part_head(first: bool, name: &str, filename: Option<&str>) -> Vec<u8> {
    let lead = if first { "" } else { "\r\n" };
    let filename = filename
        .map(|f| format!("; filename=\"{f}\""))
        .unwrap_or_default();
    format!(
        "{lead}--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes()
}

/// Closing delimiter.
pub fn closing() -> Vec<u8> {
    format!("\r\n--{BOUNDARY}--\r\n").into_bytes()
}

/// A whole multipart body of `(name, filename, content)` parts.
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (name, filename, content)) in parts.iter().enumerate() {
        out.extend(part_head(i == 0, name, *filename));
        out.extend_from_slice(content);
    }
    out.extend(closing());
    out
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Inverse of [`gzip`].
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// A deterministic pseudo-random byte source (xorshift64*): the same seed
/// gives the same bytes, so large content is checked without storing it.
#[derive(Debug, Clone)]
pub struct Generator(u64);

impl Generator {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// Fills `buf` (length a multiple of 8 except possibly the tail).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// `len` bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.fill(&mut v);
        v
    }
}

/// `total` generated bytes as a stream of `chunk`-sized pieces, framed by
/// `head` and `tail` (for a multipart body); never held in memory at once.
pub fn generated_stream(
    seed: u64,
    total: u64,
    chunk: usize,
    head: Vec<u8>,
    tail: Vec<u8>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let mut generator = Generator::new(seed);
    let mut left = total;
    let body = futures::stream::iter(std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = usize::try_from(left.min(chunk as u64)).unwrap();
        left -= n as u64;
        let mut buf = vec![0; n];
        generator.fill(&mut buf);
        Some(Ok(Bytes::from(buf)))
    }));
    futures::stream::iter([Ok(Bytes::from(head))])
        .chain(body)
        .chain(futures::stream::iter([Ok(Bytes::from(tail))]))
}

/// `(VmRSS, VmHWM)` of `pid` in bytes.
pub fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .map(|v| v.trim().parse::<u64>().unwrap() * 1024)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A tmpfs mounted on a fresh directory (`mount -t tmpfs -o <options>`),
/// unmounted and removed on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(options: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(status.success(), "mount -t tmpfs -o {options} failed");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Names in the mount's root (to spot leftovers).
    pub fn entries(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// `path` as `&str`.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The `user.*` extended attributes of `path` itself, read by Python's
/// `os.listxattr`/`os.getxattr` (an implementation independent of envd's):
/// name → value. Values must be UTF-8 (tests only store text).
pub fn user_xattrs(path: &Path) -> std::collections::BTreeMap<String, String> {
    let script = "import json, os, sys\n\
                  p = sys.argv[1]\n\
                  print(json.dumps({n: os.getxattr(p, n, follow_symlinks=False).decode() \
                  for n in os.listxattr(p, follow_symlinks=False) if n.startswith('user.')}))";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "reading xattrs of {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Sets the extended attribute `name` of `path` to `value` (Python's
/// `os.setxattr`).
pub fn set_user_xattr(path: &Path, name: &str, value: &str) {
    let status = Command::new("python3")
        .args([
            "-c",
            "import os, sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())",
        ])
        .arg(path)
        .args([name, value])
        .status()
        .expect("python3");
    assert!(status.success(), "setxattr {name} on {}", path.display());
}

/// A ramfs (no extended attributes at all) mounted on a fresh directory,
/// unmounted and removed on drop.
pub struct Ramfs {
    dir: tempfile::TempDir,
}

impl Ramfs {
    pub fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "ramfs", "ramfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(status.success(), "mount -t ramfs failed");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

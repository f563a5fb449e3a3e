//! `/files` throughput: `--bytes` of the pattern uploaded raw and as
//! multipart, each read back (identity, then gzip) with every byte checked,
//! and envd's peak resident memory during each transfer, which must not
//! grow with the file.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use envd_proto::filesystem::{RemoveRequest, RemoveResponse};
use http::header;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use crate::Bench;
use crate::local::{self, RssSampler};
use crate::pattern::{self, Checker};
use crate::report::{Report, Row, mb_per_s};
use crate::wire::{Codec, Conn, Error, Proto, Result, Target};

const BOUNDARY: &str = "envd-bench-3f9c2a71";

pub(crate) async fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let path = format!("/tmp/envd-bench-{}.bin", std::process::id());
    let mut conn = bench.target.connect(Proto::Http1).await?;
    let result = transfers(bench, &mut conn, &path, report).await;
    // Always try to remove the file, even after a failure.
    let request = RemoveRequest { path: path.clone() };
    let removed: Result<RemoveResponse> = match bench.target.connect(Proto::Http1).await {
        Ok(mut conn) => {
            conn.unary(
                &bench.target,
                "filesystem.Filesystem/Remove",
                Codec::Json,
                &request,
            )
            .await
        }
        Err(e) => Err(e),
    };
    result?;
    removed.map(drop)
}

async fn transfers(bench: &Bench, conn: &mut Conn, path: &str, report: &mut Report) -> Result<()> {
    let n = bench.bytes;
    let size = format!("{} MiB", n >> 20);
    for (kind, download_gzip) in [("octet-stream", false), ("multipart", true)] {
        let sampler = RssSampler::start(bench.pid);
        let began = Instant::now();
        upload(&bench.target, conn, path, n, kind == "multipart").await?;
        let elapsed = began.elapsed();
        report.push(
            Row::new("files", format!("upload {size} {kind}, http1"))
                .with("mb_per_s", "", "MB/s", Some(mb_per_s(n, elapsed)))
                .rss_peak(local::peak(sampler).await),
        );
        // Each upload is read back, so both upload kinds are byte-checked.
        let sampler = RssSampler::start(bench.pid);
        let began = Instant::now();
        let wire = download(&bench.target, conn, path, n, download_gzip).await?;
        let elapsed = began.elapsed();
        let encoding = if download_gzip { "gzip" } else { "identity" };
        report.push(
            Row::new("files", format!("download {size} {encoding}, http1"))
                .with("mb_per_s", "", "MB/s", Some(mb_per_s(n, elapsed)))
                .with(
                    "wire_mib",
                    "on the wire",
                    "MiB",
                    Some(wire as f64 / f64::from(1 << 20)),
                )
                .rss_peak(local::peak(sampler).await),
        );
    }
    Ok(())
}

/// `?path=…&username=…`
fn query(target: &Target, path: &str) -> String {
    format!(
        "/files?path={}&username={}",
        escape(path),
        escape(&target.user)
    )
}

/// Percent-encodes everything but unreserved characters and `/`.
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /files` of `n` pattern bytes, streamed.
async fn upload(
    target: &Target,
    conn: &mut Conn,
    path: &str,
    n: u64,
    multipart: bool,
) -> Result<()> {
    let (content_type, head, tail) = if multipart {
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{BOUNDARY}--\r\n");
        (
            format!("multipart/form-data; boundary={BOUNDARY}"),
            Bytes::from(head),
            Bytes::from(tail),
        )
    } else {
        (
            "application/octet-stream".to_owned(),
            Bytes::new(),
            Bytes::new(),
        )
    };
    let length = head.len() as u64 + n + tail.len() as u64;
    let chunks = std::iter::once(head)
        .chain(pattern::chunks(n))
        .chain(std::iter::once(tail));
    let body = IterBody {
        chunks: Box::new(chunks.filter(|c| !c.is_empty())),
        remaining: length,
    };
    let request = target
        .request(http::Method::POST, &query(target, path))
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, length)
        .body(BodyExt::boxed(body))?;
    let response = conn.send(request).await?;
    let status = response.status();
    let answer = response.into_body().collect().await?.to_bytes();
    if status != http::StatusCode::OK {
        return Err(format!(
            "upload: HTTP {status}: {}",
            String::from_utf8_lossy(&answer)
        )
        .into());
    }
    let entries: serde_json::Value = serde_json::from_slice(&answer)?;
    if entries.as_array().map(Vec::len) != Some(1) {
        return Err(format!("upload: expected one entry, got {entries}").into());
    }
    Ok(())
}

/// `GET /files`, checking every byte; returns the bytes on the wire.
async fn download(target: &Target, conn: &mut Conn, path: &str, n: u64, gzip: bool) -> Result<u64> {
    let mut request = target.request(http::Method::GET, &query(target, path));
    if gzip {
        request = request.header(header::ACCEPT_ENCODING, "gzip");
    }
    let response = conn
        .send(request.body(crate::wire::full(Bytes::new()))?)
        .await?;
    let status = response.status();
    let gzipped = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if status != http::StatusCode::OK {
        return Err(format!("download: HTTP {status}").into());
    }
    if gzip != gzipped {
        return Err(
            format!("download: asked gzip={gzip}, got Content-Encoding gzip={gzipped}").into(),
        );
    }
    let mut plain = Checker::default();
    let mut inflate = flate2::write::GzDecoder::new(Checked::default());
    let mut body = response.into_body();
    let mut wire = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        wire += data.len() as u64;
        if gzipped {
            inflate.write_all(&data)?;
        } else {
            plain.check(&data)?;
        }
    }
    if gzipped {
        plain = inflate.finish()?.0;
    }
    plain.expect_count(n)?;
    Ok(wire)
}

/// A `Write` that checks what it is given against the pattern.
#[derive(Debug, Default)]
struct Checked(Checker);

impl Write for Checked {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.check(buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A request body sent chunk by chunk, with its exact length known.
struct IterBody {
    chunks: Box<dyn Iterator<Item = Bytes> + Send + Sync>,
    remaining: u64,
}

impl http_body::Body for IterBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>>>> {
        Poll::Ready(self.chunks.next().map(|chunk| {
            self.remaining -= chunk.len() as u64;
            Ok(Frame::data(chunk))
        }))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }
}

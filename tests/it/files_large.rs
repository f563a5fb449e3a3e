//! 1 GiB through `/files`: a streamed multipart upload, an identity and a
//! gzip download, and a gzip (`Content-Encoding`) upload, checked byte for
//! byte against the generator while they stream. envd's peak RSS growth must stay under 16 MiB. Throughput is
//! printed (`cargo test --test it files_large -- --nocapture`).

use std::io::Write;
use std::time::Instant;

use crate::support::files::{
    Generator, closing, download, generated_stream, multipart_type, part_head, upload,
};
use crate::support::procfs::memory;
use crate::support::{Envd, s};
use futures::StreamExt;

const SIZE: u64 = 1 << 30;
const BLOCK: usize = 1 << 20;
const SEED: u64 = 0x5eed_f11e;
const RSS_LIMIT: u64 = 16 << 20;

/// Checks bytes, in whatever pieces they arrive, against the generator.
struct Expect {
    generator: Generator,
    block: Vec<u8>,
    pos: usize,
    seen: u64,
}

impl Expect {
    fn new() -> Self {
        Self {
            generator: Generator::new(SEED),
            block: Vec::new(),
            pos: 0,
            seen: 0,
        }
    }

    fn check(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.pos == self.block.len() {
                // The upload generated 1 MiB blocks: regenerate the same ones.
                self.block = self.generator.bytes(BLOCK);
                self.pos = 0;
            }
            let n = data.len().min(self.block.len() - self.pos);
            assert!(
                data[..n] == self.block[self.pos..self.pos + n],
                "content differs near byte {}",
                self.seen
            );
            self.pos += n;
            self.seen += n as u64;
            data = &data[n..];
        }
    }
}

impl Write for Expect {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.check(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn mb_per_s(bytes: u64, since: Instant) -> f64 {
    bytes as f64 / 1e6 / since.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_streams_in_constant_memory() {
    let envd = Envd::start();
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("big.bin");

    // Warm up both paths so lazily built state is not counted as growth.
    let warm = tmp.path().join("warm.bin");
    let octet = ("content-type", "application/octet-stream");
    let r = upload(&envd, &[("path", s(&warm))], &[octet], vec![1u8; BLOCK]).await;
    assert_eq!(r.status, 200);
    let r = download(&envd, &[("path", s(&warm))], &[("accept-encoding", "gzip")]).await;
    assert_eq!(r.status, 200);
    let (rss_before, _) = memory(envd.pid());

    // Upload: multipart, chunked, generated as it is sent (Wrenn's host shape).
    let started = Instant::now();
    let body = generated_stream(
        SEED,
        SIZE,
        BLOCK,
        part_head(true, "file", Some("upload")),
        closing(),
    );
    let resp = envd
        .http
        .post(envd.url("/files"))
        .query(&[("path", s(&target)), ("username", "root")])
        .header("content-type", multipart_type())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let upload_rate = mb_per_s(SIZE, started);
    assert_eq!(std::fs::metadata(&target).unwrap().len(), SIZE);

    // Identity download.
    let started = Instant::now();
    let resp = envd
        .http
        .get(envd.url("/files"))
        .query(&[("path", s(&target))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some(SIZE));
    let mut expect = Expect::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        expect.check(&chunk.unwrap());
    }
    assert_eq!(expect.seen, SIZE);
    let download_rate = mb_per_s(SIZE, started);

    // gzip download, decompressed as it streams.
    let started = Instant::now();
    let resp = envd
        .http
        .get(envd.url("/files"))
        .query(&[("path", s(&target))])
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let mut decoder = flate2::write::GzDecoder::new(Expect::new());
    let mut compressed = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        compressed += chunk.len() as u64;
        decoder.write_all(&chunk).unwrap();
    }
    let expect = decoder.finish().unwrap();
    assert_eq!(expect.seen, SIZE);
    let gzip_rate = mb_per_s(SIZE, started);

    // gzip upload: octet-stream, compressed on the fly, decompressed by envd.
    let zipped = tmp.path().join("big-gzip.bin");
    let started = Instant::now();
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let plain = Box::pin(generated_stream(SEED, SIZE, BLOCK, Vec::new(), Vec::new()));
    let gz_body = futures::stream::unfold(
        (plain, Some(encoder)),
        |(mut plain, mut encoder)| async move {
            let enc = encoder.as_mut()?;
            let out = match plain.next().await {
                Some(chunk) => {
                    enc.write_all(&chunk.expect("generated")).expect("compress");
                    std::mem::take(enc.get_mut())
                }
                None => encoder.take()?.finish().expect("gzip trailer"),
            };
            Some((Ok::<_, std::io::Error>(out), (plain, encoder)))
        },
    );
    let resp = envd
        .http
        .post(envd.url("/files"))
        .query(&[("path", s(&zipped))])
        .header("content-type", "application/octet-stream")
        .header("content-encoding", "gzip")
        .body(reqwest::Body::wrap_stream(gz_body))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let gzip_upload_rate = mb_per_s(SIZE, started);
    let mut expect = Expect::new();
    let mut file = std::fs::File::open(&zipped).unwrap();
    std::io::copy(&mut file, &mut expect).unwrap();
    assert_eq!(expect.seen, SIZE);

    let (rss_after, hwm_after) = memory(envd.pid());
    let growth = hwm_after.saturating_sub(rss_before);
    println!(
        "1 GiB: upload {upload_rate:.0} MB/s, download {download_rate:.0} MB/s, \
         gzip download {gzip_rate:.0} MB/s of content ({compressed} bytes on the wire), \
         gzip upload {gzip_upload_rate:.0} MB/s of content; \
         envd VmRSS before {} KiB, after {} KiB, VmHWM after {} KiB, peak growth {} KiB",
        rss_before / 1024,
        rss_after / 1024,
        hwm_after / 1024,
        growth / 1024
    );
    assert!(
        growth < RSS_LIMIT,
        "envd grew by {} KiB (limit {} KiB)",
        growth / 1024,
        RSS_LIMIT / 1024
    );
}

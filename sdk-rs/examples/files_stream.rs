//! Streams a local file up to envd and back down without holding it in
//! memory.
//!
//! ```text
//! cargo run -p envd-sdk --example files_stream -- http://127.0.0.1:49983 ./local.bin /tmp/remote.bin
//! ```

use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(local), Some(remote)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: files_stream URL LOCAL_FILE REMOTE_ABSOLUTE_PATH".into());
    };
    let files = envd_sdk::Client::connect(url)?.files();
    let written = files
        .write_reader(&remote, tokio::fs::File::open(&local).await?)
        .await?;
    println!("uploaded to {}", written.path);
    let mut download = files.read_reader(&remote).await?;
    let mut sink = tokio::io::sink();
    let copied = tokio::io::copy(&mut download, &mut sink).await?;
    sink.flush().await?;
    println!("downloaded {copied} bytes back");
    Ok(())
}

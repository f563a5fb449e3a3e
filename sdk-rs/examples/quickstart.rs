//! The README's quick start as a program.
//!
//! ```text
//! cargo run -p envd-sdk --example quickstart -- http://127.0.0.1:49983
//! ```

/// The five lines of the README, verbatim (kept unformatted so they stay
/// identical; `tests/readme.rs` checks).
#[rustfmt::skip]
async fn quickstart(url: &str) -> envd_sdk::Result<()> {
    // quickstart:begin
    let client = envd_sdk::Client::connect(url)?;
    let out = client.commands().run(envd_sdk::Command::shell("echo hello")).await?;
    assert_eq!((out.exit_code(), out.stdout_text().as_str()), (0, "hello\n"));
    let entries = client.files().list("/", 1).await?;
    println!("envd {} sees {} entries in /", client.health().await?.version, entries.len());
    // quickstart:end
    Ok(())
}

#[tokio::main]
async fn main() -> envd_sdk::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:49983".to_owned());
    quickstart(&url).await
}

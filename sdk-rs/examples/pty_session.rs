//! An interactive terminal: type, resize, read, kill.
//!
//! ```text
//! cargo run -p envd-sdk --example pty_session -- http://127.0.0.1:49983
//! ```

use envd_sdk::{CommandEvent, PtyOptions};
use futures::StreamExt;

#[tokio::main]
async fn main() -> envd_sdk::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:49983".to_owned());
    let client = envd_sdk::Client::connect(url)?;
    let mut session = client
        .pty()
        .create(PtyOptions::new(80, 24).command("/bin/sh", Vec::<String>::new()))
        .await?;
    // Queued in order; keystrokes sent while one input RPC is in flight
    // are merged, the resize stays between them.
    let typed = session.write("stty size\n");
    let resized = session.resize(120, 40);
    let typed_again = session.write("stty size; exit\n");
    typed.await?;
    resized.await?;
    typed_again.await?;
    while let Some(event) = session.events().next().await {
        match event? {
            CommandEvent::Pty(bytes) => print!("{}", String::from_utf8_lossy(&bytes)),
            CommandEvent::Exit(exit) => println!("\n[{}]", exit.status),
            _ => {}
        }
    }
    Ok(())
}

//! Compares the SDK's RPC transport (tonic, gRPC over one multiplexed h2c
//! connection) with Connect JSON over an HTTP/1.1 connection pool, for the
//! same unary RPC (`process.Process/List`).
//!
//! ```text
//! cargo run -p envd-sdk --example transport_bench -- http://127.0.0.1:49983
//! ```

use std::time::{Duration, Instant};

use futures::future::join_all;

const CALLS: usize = 500;

fn per_call(total: Duration) -> String {
    format!("{:>7.1} µs/call", total.as_secs_f64() * 1e6 / CALLS as f64)
}

#[tokio::main]
async fn main() -> envd_sdk::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:49983".to_owned());
    let client = envd_sdk::Client::connect(url.clone())?;
    let http = reqwest::Client::new();
    let connect_list = || {
        http.post(format!("{url}/process.Process/List"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
    };
    // Warm up both connections.
    client.commands().list().await?;
    connect_list().await.expect("Connect JSON call");

    let start = Instant::now();
    for _ in 0..CALLS {
        client.commands().list().await?;
    }
    println!(
        "sequential  gRPC/h2c (SDK)       {}",
        per_call(start.elapsed())
    );

    let start = Instant::now();
    for _ in 0..CALLS {
        connect_list()
            .await
            .expect("call")
            .bytes()
            .await
            .expect("body");
    }
    println!(
        "sequential  Connect JSON/HTTP1.1 {}",
        per_call(start.elapsed())
    );

    let start = Instant::now();
    let results = join_all((0..CALLS).map(|_| {
        let commands = client.commands();
        async move { commands.list().await }
    }))
    .await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    println!(
        "concurrent  gRPC/h2c (SDK)       {} (1 connection)",
        per_call(start.elapsed())
    );

    let start = Instant::now();
    for response in join_all((0..CALLS).map(|_| connect_list())).await {
        response.expect("call").bytes().await.expect("body");
    }
    println!(
        "concurrent  Connect JSON/HTTP1.1 {} (a connection per in-flight call)",
        per_call(start.elapsed())
    );
    Ok(())
}

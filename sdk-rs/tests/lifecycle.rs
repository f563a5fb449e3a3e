//! `/health`, `/metrics`, `/envs`, `/init` and `/snapshot/prepare`.

mod support;

use std::collections::HashMap;

use envd_sdk::{Code, Command, InitOptions};
use support::Envd;

#[tokio::test]
async fn health_metrics_envs() {
    let envd = Envd::start().await;
    let client = envd.client();
    assert_eq!(client.health().await.unwrap().version, "0.7.0");
    let metrics = client.metrics().await.unwrap();
    assert!(metrics.cpu_count >= 1);
    assert!(metrics.mem_total >= metrics.mem_used);
    assert!(metrics.ts > 1_600_000_000);
}

#[tokio::test]
async fn init_sets_env_and_user_defaults() {
    let envd = Envd::start().await;
    let client = envd.client();
    let vars = HashMap::from([("SDK_INIT_VAR".to_owned(), "42".to_owned())]);
    client
        .init(&InitOptions::new().env_vars(vars).default_workdir("/tmp"))
        .await
        .unwrap();
    assert_eq!(client.envs().await.unwrap()["SDK_INIT_VAR"], "42");
    let out = client
        .commands()
        .run(Command::shell("echo $SDK_INIT_VAR; pwd"))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "42\n/tmp\n");
    client.prepare_snapshot().await.unwrap();
    // The first /health after prepare recovers; envd keeps working.
    client.health().await.unwrap();
}

#[tokio::test]
async fn init_token_is_used_from_then_on_by_every_clone() {
    let envd = Envd::start().await;
    let client = envd.client();
    let clone = client.clone();
    client
        .init(&InitOptions::new().access_token("lifecycle-token"))
        .await
        .unwrap();
    assert!(clone.envs().await.is_ok());
    assert!(clone.commands().list().await.is_ok());
    let stranger = envd_sdk::Client::connect(envd.url.clone()).unwrap();
    let error = stranger.envs().await.unwrap_err();
    assert_eq!(
        (error.code(), error.http_status()),
        (Code::Unauthenticated, Some(401))
    );
    let error = stranger.commands().list().await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    assert!(error.message().contains("access token"), "{error}");
    let with_token = envd_sdk::Client::builder(envd.url.clone())
        .access_token("lifecycle-token")
        .build()
        .unwrap();
    assert!(with_token.commands().list().await.is_ok());
}

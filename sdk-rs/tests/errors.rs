//! Typed errors: code, envd's reason detail and HTTP status, never text.

mod support;

use envd_sdk::{Client, Code, Command, ErrorReason, InitOptions};
use support::{Envd, Scratch};

#[tokio::test]
async fn rpc_errors_carry_code_and_reason() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let client = envd.client();

    let missing = client
        .files()
        .stat(&scratch.path("missing"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        missing.reason(),
        Some(ErrorReason::PathNotFound),
        "{missing:?}"
    );
    assert_eq!(missing.http_status(), None);

    let no_process = client.commands().connect(4_000_000_u32).await.unwrap_err();
    assert_eq!(no_process.code(), Code::NotFound);
    assert_eq!(
        no_process.reason(),
        Some(ErrorReason::ProcessNotFound),
        "{no_process:?}"
    );

    let bad_cwd = client
        .commands()
        .run(Command::new("/bin/true").cwd(scratch.path("nope")))
        .await
        .unwrap_err();
    assert_eq!(bad_cwd.code(), Code::InvalidArgument);
    assert_eq!(
        bad_cwd.reason(),
        Some(ErrorReason::CwdNotFound),
        "{bad_cwd:?}"
    );
}

#[tokio::test]
async fn http_errors_carry_status_code_and_reason() {
    let envd = Envd::start().await;
    let scratch = Scratch::new();
    let error = envd
        .client()
        .files()
        .read(&scratch.path("missing"))
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), Some(404));
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(error.reason(), Some(ErrorReason::PathNotFound), "{error:?}");
}

#[tokio::test]
async fn a_plain_http_401_on_an_rpc_becomes_unauthenticated_with_its_reason() {
    let envd = Envd::start().await;
    envd.client()
        .init(&InitOptions::new().access_token("errors-token"))
        .await
        .unwrap();
    let stranger = Client::connect(envd.url.clone()).unwrap();
    let error = stranger.commands().list().await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated, "{error:?}");
    assert_eq!(
        error.reason(),
        Some(ErrorReason::AccessTokenInvalid),
        "{error:?}"
    );
}

//! Server under test for the official Connect conformance suite
//! (`connectconformance --mode server`): reads one size-delimited
//! `ServerCompatRequest` from stdin, listens on an ephemeral loopback port,
//! writes the `ServerCompatResponse` to stdout and serves the
//! `ConformanceService` until stdin closes or SIGTERM.
//!
//! Everything between the socket and the handlers is envd's: its listener
//! (`envd::server::serve`: HTTP/1.1 and h2c) and its protocol stack
//! (`envd::rpc::stack::protocols`: connectrpc-axum, tonic, gRPC-Web, the
//! timeout layers, the content-type check, gzip and the message limit).

mod any;
mod meta;
mod service;
mod wire;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;

/// envd's own default, used when the suite sets no receive limit.
const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

fn read_request() -> std::io::Result<wire::ServerCompatRequest> {
    let mut stdin = std::io::stdin().lock();
    let mut size = [0; 4];
    stdin.read_exact(&mut size)?;
    let mut message = vec![0; u32::from_be_bytes(size) as usize];
    stdin.read_exact(&mut message)?;
    wire::ServerCompatRequest::decode(message.as_slice()).map_err(std::io::Error::other)
}

fn write_response(response: &wire::ServerCompatResponse) -> std::io::Result<()> {
    let message = response.encode_to_vec();
    let size = u32::try_from(message.len()).map_err(std::io::Error::other)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&size.to_be_bytes())?;
    stdout.write_all(&message)?;
    stdout.flush()
}

fn router(max_message: usize) -> axum::Router {
    let (connect, grpc) = service::builder().build();
    // connectrpc-axum-build 0.2 registers a NO_SIDE_EFFECTS method for GET
    // only in its Connect-only builder, not in the tonic-compatible one.
    let connect = connect.route(
        "/connectrpc.conformance.v1.ConformanceService/IdempotentUnary",
        connectrpc_axum::handler::get_connect::<
            _,
            _,
            (),
            wire::IdempotentUnaryRequest,
            wire::IdempotentUnaryResponse,
        >(service::idempotent_unary),
    );
    let grpc = grpc
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message);
    envd::rpc::stack::protocols(
        [connect],
        Routes::new(grpc),
        wire::FILE_DESCRIPTOR_SET,
        service::json_methods(),
        max_message,
    )
    .layer(axum::middleware::from_fn(meta::layer))
}

#[tokio::main]
async fn main() -> ExitCode {
    let request = match read_request() {
        Ok(request) => request,
        Err(e) => {
            eprintln!("envd-conformance-connect: reading ServerCompatRequest: {e}");
            return ExitCode::FAILURE;
        }
    };
    if request.use_tls {
        eprintln!("envd-conformance-connect: TLS is not supported (envd serves plaintext)");
        return ExitCode::FAILURE;
    }
    let max_message = match request.message_receive_limit {
        0 => DEFAULT_MAX_MESSAGE,
        limit => limit as usize,
    };
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("envd-conformance-connect: bind: {e}");
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let response = wire::ServerCompatResponse {
        host: "127.0.0.1".into(),
        port: u32::from(port),
        pem_cert: Default::default(),
    };
    if let Err(e) = write_response(&response) {
        eprintln!("envd-conformance-connect: writing ServerCompatResponse: {e}");
        return ExitCode::FAILURE;
    }

    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            term.recv().await;
            shutdown.cancel();
        }
    });
    let (_accepting, accepting_rx) = tokio::sync::watch::channel(true);
    envd::server::serve(
        listener,
        router(max_message),
        Duration::from_secs(60),
        accepting_rx,
        shutdown,
    )
    .await;
    ExitCode::SUCCESS
}

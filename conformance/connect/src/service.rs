//! The `ConformanceService` handlers, written as envd's handlers are
//! (connectrpc-axum extractors, one set serving Connect, gRPC and gRPC-Web):
//! each echoes what it received and answers as the request's response
//! definition says.

use std::time::Duration;

use axum::http::{HeaderMap, Uri};
use connectrpc_axum::message::StreamBody;
use connectrpc_axum::{Code, ConnectError, ConnectRequest, ConnectResponse, Streaming};
use futures::{Stream, StreamExt};

use envd::rpc::grpc_json::{JsonMethod, JsonMethods};

use crate::any::Any;
use crate::meta::Slot;
use crate::wire::{
    self, BidiStreamRequest, BidiStreamResponse, ClientStreamRequest, ClientStreamResponse,
    ConformancePayload, Header, IdempotentUnaryRequest, IdempotentUnaryResponse,
    ServerStreamRequest, ServerStreamResponse, StreamResponseDefinition, UnaryRequest,
    UnaryResponse, UnaryResponseDefinition, conformance_payload, unary_response_definition,
};

type Rpc<T> = Result<ConnectResponse<T>, ConnectError>;
type Events<T> = StreamBody<std::pin::Pin<Box<dyn Stream<Item = Result<T, ConnectError>> + Send>>>;

/// The request's deadline as the client sent it, in milliseconds.
fn timeout_ms(headers: &HeaderMap) -> Option<i64> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = header("connect-timeout-ms") {
        return ms.trim().parse().ok();
    }
    let timeout = envd::rpc::context::parse_grpc_timeout(header("grpc-timeout")?)?;
    i64::try_from(timeout.as_millis()).ok()
}

fn request_info(headers: &HeaderMap, requests: Vec<Any>) -> conformance_payload::RequestInfo {
    let mut request_headers: Vec<Header> = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match request_headers.iter_mut().find(|h| h.name == name.as_str()) {
            Some(header) => header.value.push(value),
            None => request_headers.push(Header {
                name: name.as_str().to_owned(),
                value: vec![value],
            }),
        }
    }
    conformance_payload::RequestInfo {
        request_headers,
        timeout_ms: timeout_ms(headers),
        requests,
        connect_get_info: None,
    }
}

fn code(code: i32) -> Code {
    use wire::Code as W;
    match W::try_from(code).unwrap_or(W::Unknown) {
        W::Canceled => Code::Canceled,
        W::InvalidArgument => Code::InvalidArgument,
        W::DeadlineExceeded => Code::DeadlineExceeded,
        W::NotFound => Code::NotFound,
        W::AlreadyExists => Code::AlreadyExists,
        W::PermissionDenied => Code::PermissionDenied,
        W::ResourceExhausted => Code::ResourceExhausted,
        W::FailedPrecondition => Code::FailedPrecondition,
        W::Aborted => Code::Aborted,
        W::OutOfRange => Code::OutOfRange,
        W::Unimplemented => Code::Unimplemented,
        W::Internal => Code::Internal,
        W::Unavailable => Code::Unavailable,
        W::DataLoss => Code::DataLoss,
        W::Unauthenticated => Code::Unauthenticated,
        W::Unspecified | W::Unknown => Code::Unknown,
    }
}

/// The error a definition asks for, with the request info (when given) as
/// its last detail.
fn error(
    definition: &wire::Error,
    info: Option<&conformance_payload::RequestInfo>,
) -> ConnectError {
    let mut err = ConnectError::new(
        code(definition.code),
        definition.message.clone().unwrap_or_default(),
    );
    for detail in definition
        .details
        .iter()
        .cloned()
        .chain(info.map(Any::pack))
    {
        err = err.add_detail(detail.name(), detail.value.to_vec());
    }
    err
}

fn delay(ms: u32) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(u64::from(ms)))
}

/// The payload (or error) of a unary-shaped answer.
async fn answer_unary(
    slot: &Slot,
    definition: Option<&UnaryResponseDefinition>,
    info: conformance_payload::RequestInfo,
) -> Result<ConformancePayload, ConnectError> {
    let Some(definition) = definition else {
        return Ok(ConformancePayload {
            data: Default::default(),
            request_info: Some(info),
        });
    };
    slot.set(&definition.response_headers, &definition.response_trailers);
    delay(definition.response_delay_ms).await;
    match &definition.response {
        Some(unary_response_definition::Response::Error(e)) => Err(error(e, Some(&info))),
        Some(unary_response_definition::Response::ResponseData(data)) => Ok(ConformancePayload {
            data: data.clone(),
            request_info: Some(info),
        }),
        None => Ok(ConformancePayload {
            data: Default::default(),
            request_info: Some(info),
        }),
    }
}

pub(crate) async fn unary(
    slot: Slot,
    headers: HeaderMap,
    ConnectRequest(req): ConnectRequest<UnaryRequest>,
) -> Rpc<UnaryResponse> {
    let info = request_info(&headers, vec![Any::pack(&req)]);
    let payload = answer_unary(&slot, req.response_definition.as_ref(), info).await?;
    Ok(ConnectResponse(UnaryResponse {
        payload: Some(payload),
    }))
}

pub(crate) async fn idempotent_unary(
    slot: Slot,
    headers: HeaderMap,
    uri: Uri,
    ConnectRequest(req): ConnectRequest<IdempotentUnaryRequest>,
) -> Rpc<IdempotentUnaryResponse> {
    let mut info = request_info(&headers, vec![Any::pack(&req)]);
    if let Some(query) = uri.query() {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let mut query_params: Vec<Header> = Vec::new();
        for (name, value) in pairs {
            match query_params.iter_mut().find(|h| h.name == name) {
                Some(param) => param.value.push(value),
                None => query_params.push(Header {
                    name,
                    value: vec![value],
                }),
            }
        }
        info.connect_get_info = Some(conformance_payload::ConnectGetInfo { query_params });
    }
    let payload = answer_unary(&slot, req.response_definition.as_ref(), info).await?;
    Ok(ConnectResponse(IdempotentUnaryResponse {
        payload: Some(payload),
    }))
}

pub(crate) async fn client_stream(
    slot: Slot,
    headers: HeaderMap,
    ConnectRequest(requests): ConnectRequest<Streaming<ClientStreamRequest>>,
) -> Rpc<ClientStreamResponse> {
    let mut requests = requests.into_stream();
    let mut definition = None;
    let mut received = Vec::new();
    while let Some(req) = requests.next().await {
        let req = req?;
        if received.is_empty() {
            definition = req.response_definition.clone();
        }
        received.push(Any::pack(&req));
    }
    let info = request_info(&headers, received);
    let payload = answer_unary(&slot, definition.as_ref(), info).await?;
    Ok(ConnectResponse(ClientStreamResponse {
        payload: Some(payload),
    }))
}

/// Sends a stream definition's messages (request info on the first) and
/// then its error, if any.
fn answer_stream<T: Send + 'static>(
    definition: StreamResponseDefinition,
    info: conformance_payload::RequestInfo,
    wrap: fn(ConformancePayload) -> T,
) -> impl Stream<Item = Result<T, ConnectError>> + Send + 'static {
    async_stream::stream! {
        let mut info = Some(info);
        for data in &definition.response_data {
            delay(definition.response_delay_ms).await;
            yield Ok(wrap(ConformancePayload { data: data.clone(), request_info: info.take() }));
        }
        if let Some(e) = &definition.error {
            // Request info goes in the details only if no message carried it.
            yield Err(error(e, info.as_ref()));
        }
    }
}

pub(crate) async fn server_stream(
    slot: Slot,
    headers: HeaderMap,
    ConnectRequest(req): ConnectRequest<ServerStreamRequest>,
) -> Rpc<Events<ServerStreamResponse>> {
    let info = request_info(&headers, vec![Any::pack(&req)]);
    let definition = req.response_definition.unwrap_or_default();
    slot.set(&definition.response_headers, &definition.response_trailers);
    let events = answer_stream(definition, info, |payload| ServerStreamResponse {
        payload: Some(payload),
    });
    Ok(ConnectResponse(StreamBody::new(Box::pin(events))))
}

pub(crate) async fn bidi_stream(
    slot: Slot,
    headers: HeaderMap,
    ConnectRequest(requests): ConnectRequest<Streaming<BidiStreamRequest>>,
) -> Rpc<Events<BidiStreamResponse>> {
    let wrap = |payload| BidiStreamResponse {
        payload: Some(payload),
    };
    let mut requests = requests.into_stream();
    // The first message carries the definition and the duplex mode.
    let Some(first) = requests.next().await.transpose()? else {
        return Ok(ConnectResponse(StreamBody::new(Box::pin(
            futures::stream::empty(),
        ))));
    };
    let definition = first.response_definition.clone().unwrap_or_default();
    slot.set(&definition.response_headers, &definition.response_trailers);
    if !first.full_duplex {
        let mut received = vec![Any::pack(&first)];
        while let Some(req) = requests.next().await {
            received.push(Any::pack(&req?));
        }
        let info = request_info(&headers, received);
        return Ok(ConnectResponse(StreamBody::new(Box::pin(answer_stream(
            definition, info, wrap,
        )))));
    }
    let events = async_stream::stream! {
        let mut pending = vec![Any::pack(&first)];
        let mut sent = 0;
        let mut headers = Some(headers);
        // One response per request received; once every response is out,
        // the next request ends the call (as the reference server does).
        while sent < definition.response_data.len() {
            let info = match headers.take() {
                Some(headers) => request_info(&headers, std::mem::take(&mut pending)),
                None => conformance_payload::RequestInfo {
                    requests: std::mem::take(&mut pending),
                    ..Default::default()
                },
            };
            delay(definition.response_delay_ms).await;
            yield Ok(wrap(ConformancePayload {
                data: definition.response_data[sent].clone(),
                request_info: Some(info),
            }));
            sent += 1;
            match requests.next().await {
                Some(Ok(req)) => pending.push(Any::pack(&req)),
                Some(Err(e)) => {
                    yield Err(e);
                    return;
                }
                None => break,
            }
        }
        while sent < definition.response_data.len() {
            delay(definition.response_delay_ms).await;
            yield Ok(wrap(ConformancePayload {
                data: definition.response_data[sent].clone(),
                request_info: None,
            }));
            sent += 1;
        }
        if let Some(e) = &definition.error {
            let info = headers.map(|headers| request_info(&headers, pending));
            yield Err(error(e, info.as_ref()));
        }
    };
    Ok(ConnectResponse(StreamBody::new(Box::pin(events))))
}

/// Registers every handler; `Unimplemented` is left out on purpose (the
/// framework must answer it).
pub(crate) fn builder()
-> wire::conformance_service_connect::ConformanceServiceTonicCompatibleBuilder {
    wire::conformance_service_connect::ConformanceServiceTonicCompatibleBuilder::new()
        .unary(unary)
        .idempotent_unary(idempotent_unary)
        .server_stream(server_stream)
        .client_stream(client_stream)
        .bidi_stream(bidi_stream)
}

/// Every method's messages for gRPC and gRPC-Web with the JSON codec.
pub(crate) fn json_methods() -> JsonMethods {
    use wire::{
        BidiStreamRequest as BidiReq, BidiStreamResponse as BidiResp, UnimplementedRequest,
        UnimplementedResponse,
    };
    const SERVICE: &str = "/connectrpc.conformance.v1.ConformanceService/";
    let path = |method: &str| -> &'static str { format!("{SERVICE}{method}").leak() };
    JsonMethods::default()
        .with(
            path("Unary"),
            JsonMethod::of::<UnaryRequest, UnaryResponse>(),
        )
        .with(
            path("IdempotentUnary"),
            JsonMethod::of::<IdempotentUnaryRequest, IdempotentUnaryResponse>(),
        )
        .with(
            path("ServerStream"),
            JsonMethod::of::<ServerStreamRequest, ServerStreamResponse>(),
        )
        .with(
            path("ClientStream"),
            JsonMethod::of::<ClientStreamRequest, ClientStreamResponse>(),
        )
        .with(path("BidiStream"), JsonMethod::of::<BidiReq, BidiResp>())
        .with(
            path("Unimplemented"),
            JsonMethod::of::<UnimplementedRequest, UnimplementedResponse>(),
        )
}

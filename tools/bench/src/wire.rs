//! The wire, spoken by hand so the bench measures envd and not an SDK: one
//! hyper 1 connection per [`Conn`] (HTTP/1.1 or h2c prior knowledge, chosen
//! by the caller), Connect envelopes and the two Connect codecs.

use std::fmt;
use std::net::SocketAddr;

use base64::Engine;
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Request, Response, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpStream;

/// Any error; the bench reports it and moves on to the next figure.
pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Request bodies: whole messages, or streamed uploads.
pub(crate) type Body = BoxBody<Bytes, Error>;

/// Connect end-of-stream flag.
const END_STREAM: u8 = 0x02;
/// Connect compressed-message flag (the bench never asks for compression).
const COMPRESSED: u8 = 0x01;

/// HTTP version of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Http1,
    H2c,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http1 => "http1",
            Self::H2c => "h2c",
        })
    }
}

/// Connect codec: JSON is what the e2b SDKs send, binary what connect-go does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Json,
    Binary,
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Binary => "binary",
        })
    }
}

impl Codec {
    fn unary_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Binary => "application/proto",
        }
    }

    fn stream_type(self) -> &'static str {
        match self {
            Self::Json => "application/connect+json",
            Self::Binary => "application/connect+proto",
        }
    }

    /// Serializes `message` (proto3 JSON via pbjson, or protobuf via prost).
    pub(crate) fn encode<M: prost::Message + serde::Serialize>(self, message: &M) -> Result<Bytes> {
        Ok(match self {
            Self::Json => serde_json::to_vec(message)?.into(),
            Self::Binary => message.encode_to_vec().into(),
        })
    }

    /// Parses one message.
    pub(crate) fn decode<M>(self, bytes: &[u8]) -> Result<M>
    where
        M: prost::Message + Default + serde::de::DeserializeOwned,
    {
        Ok(match self {
            Self::Json => serde_json::from_slice(bytes)?,
            Self::Binary => M::decode(bytes)?,
        })
    }
}

/// Where envd is and who the bench is to it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    authority: HeaderValue,
    token: Option<HeaderValue>,
    /// `Authorization: Basic base64(user:)`, which selects the RPC user.
    basic: HeaderValue,
    /// The same user for `/files`, which takes it as `username=`.
    pub(crate) user: String,
}

impl Target {
    /// Resolves `url` (`http://host:port`, no path).
    pub(crate) async fn new(url: &str, token: Option<&str>, user: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--url must start with http://, got {url}"))?;
        let host = rest.trim_end_matches('/');
        let addr = tokio::net::lookup_host(host)
            .await?
            .next()
            .ok_or_else(|| format!("{host} does not resolve"))?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:"));
        Ok(Self {
            addr,
            authority: HeaderValue::from_str(host)?,
            token: token.map(HeaderValue::from_str).transpose()?,
            basic: HeaderValue::from_str(&format!("Basic {basic}"))?,
            user: user.to_owned(),
        })
    }

    /// A request with the host, token and user headers set.
    pub(crate) fn request(&self, method: http::Method, path: &str) -> http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header(header::HOST, self.authority.clone())
            .header(header::AUTHORIZATION, self.basic.clone());
        if let Some(token) = &self.token {
            builder = builder.header("x-access-token", token.clone());
        }
        builder
    }

    /// A Connect request for `method` (`process.Process/Start`).
    pub(crate) fn rpc(
        &self,
        method: &str,
        codec: Codec,
        streaming: bool,
        message: Bytes,
    ) -> Result<Request<Body>> {
        let (content_type, body) = if streaming {
            (codec.stream_type(), envelope(0, &message))
        } else {
            (codec.unary_type(), message)
        };
        Ok(self
            .request(http::Method::POST, &format!("/{method}"))
            .header(header::CONTENT_TYPE, content_type)
            .header("connect-protocol-version", "1")
            .body(full(body))?)
    }

    /// Opens one connection speaking `proto`.
    pub(crate) async fn connect(&self, proto: Proto) -> Result<Conn> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let io = TokioIo::new(tcp);
        Ok(match proto {
            Proto::Http1 => {
                let (send, conn) = hyper::client::conn::http1::handshake(io).await?;
                tokio::spawn(conn);
                Conn::Http1(send)
            }
            Proto::H2c => {
                let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                    // Large windows: the stdout and /files figures measure
                    // envd, not flow-control round trips.
                    .initial_stream_window_size(8 << 20)
                    .initial_connection_window_size(16 << 20)
                    .handshake(io)
                    .await?;
                tokio::spawn(conn);
                Conn::H2(send)
            }
        })
    }
}

/// One client connection. HTTP/1.1 carries one exchange at a time (the
/// response body must be read to its end before the next request); h2c
/// multiplexes, so clones share it.
#[derive(Debug)]
pub(crate) enum Conn {
    Http1(hyper::client::conn::http1::SendRequest<Body>),
    H2(hyper::client::conn::http2::SendRequest<Body>),
}

impl Conn {
    /// Sends `request` and returns the response head; the body streams.
    pub(crate) async fn send(&mut self, request: Request<Body>) -> Result<Response<Incoming>> {
        Ok(match self {
            Self::Http1(send) => {
                send.ready().await?;
                send.send_request(request).await?
            }
            Self::H2(send) => {
                send.ready().await?;
                send.send_request(request).await?
            }
        })
    }

    /// Another handle on the same h2c connection; `None` for HTTP/1.1.
    pub(crate) fn share(&self) -> Option<Self> {
        match self {
            Self::Http1(_) => None,
            Self::H2(send) => Some(Self::H2(send.clone())),
        }
    }

    /// A unary Connect call; fails on any status but 200.
    pub(crate) async fn unary<Req, Resp>(
        &mut self,
        target: &Target,
        method: &str,
        codec: Codec,
        message: &Req,
    ) -> Result<Resp>
    where
        Req: prost::Message + serde::Serialize,
        Resp: prost::Message + Default + serde::de::DeserializeOwned,
    {
        let request = target.rpc(method, codec, false, codec.encode(message)?)?;
        let response = self.send(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status != http::StatusCode::OK {
            return Err(format!(
                "{method}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )
            .into());
        }
        codec.decode(&body)
    }
}

/// A whole body.
pub(crate) fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// Wraps `payload` in a Connect envelope.
pub(crate) fn envelope(flags: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 5);
    out.extend_from_slice(&[flags]);
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
    out.freeze()
}

/// One envelope read from a stream.
#[derive(Debug)]
pub(crate) enum Frame {
    Message(Bytes),
    /// The end-of-stream JSON (`{}` when the RPC succeeded).
    End(Value),
}

/// Reads Connect envelopes off a streaming response body.
#[derive(Debug)]
pub(crate) struct Envelopes {
    body: Incoming,
    buf: BytesMut,
}

impl Envelopes {
    pub(crate) fn new(body: Incoming) -> Self {
        Self {
            body,
            buf: BytesMut::new(),
        }
    }

    /// The next envelope; an error if the body ends without end-of-stream.
    pub(crate) async fn next(&mut self) -> Result<Frame> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
                let len = usize::try_from(len)?;
                if self.buf.len() >= 5 + len {
                    let flags = self.buf[0];
                    self.buf.advance(5);
                    let payload = self.buf.split_to(len).freeze();
                    if flags & COMPRESSED != 0 {
                        return Err("envd compressed a message the bench did not ask to be".into());
                    }
                    if flags & END_STREAM != 0 {
                        // Read the body to its end (HTTP/1.1's last chunk may
                        // still be in flight): a connection is reused only
                        // after its response finished.
                        while let Some(frame) = self.body.frame().await {
                            frame?;
                        }
                        return Ok(Frame::End(serde_json::from_slice(&payload)?));
                    }
                    return Ok(Frame::Message(payload));
                }
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                None => return Err("stream ended without an end-of-stream envelope".into()),
            }
        }
    }
}

//! A small Connect client on reqwest (JSON and binary, unary, server and
//! client streams) for calls against a running [`Envd`].

use bytes::Bytes;
use serde_json::{Value, json};

use super::frames::{Collected, Frames};
use super::{Envd, STEP};

/// Wraps `payload` in a Connect envelope.
pub fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(flags);
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// `(code, message)` of a unary error body `{"code","message"}` or of an
/// end-of-stream frame `{"error":{"code","message"}}`.
pub fn connect_error(body: &Value) -> (String, String) {
    let err = body.get("error").unwrap_or(body);
    let text = |k: &str| {
        err[k]
            .as_str()
            .unwrap_or_else(|| panic!("no error {k} in {body}"))
            .to_owned()
    };
    (text("code"), text("message"))
}

impl Envd {
    /// Unary Connect call with JSON; returns (HTTP status, body JSON).
    pub async fn unary(&self, method: &str, body: Value) -> (u16, Value) {
        self.unary_with(method, body, &[]).await
    }

    /// Unary Connect call with JSON and extra headers.
    pub async fn unary_with(
        &self,
        method: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// A unary call that must succeed with `{}`.
    pub async fn ok(&self, method: &str, body: Value) {
        let (status, reply) = self.unary(method, body.clone()).await;
        assert_eq!((status, &reply), (200, &json!({})), "{method} {body}");
    }

    /// A unary call that must fail; returns `(http status, code, message)`.
    pub async fn fails(
        &self,
        method: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let (status, reply) = self.unary_with(method, body, headers).await;
        let (code, message) = connect_error(&reply);
        (status, code, message)
    }

    /// A unary call with the binary codec: `(HTTP status, body)`.
    pub async fn unary_proto(&self, method: &str, message: Vec<u8>) -> (u16, Bytes) {
        let resp = self
            .http
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/proto")
            .body(message)
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.expect("body"))
    }

    /// Opens a server-streaming Connect JSON call.
    pub async fn stream(&self, method: &str, body: Value, headers: &[(&str, &str)]) -> Frames {
        self.stream_on(&self.http, method, body, headers).await
    }

    /// Like [`Envd::stream`], on another client (an h2c one, say).
    pub async fn stream_on(
        &self,
        client: &reqwest::Client,
        method: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Frames {
        let mut req = client
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/connect+json")
            .body(envelope(0, body.to_string().as_bytes()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), 200, "streams answer 200");
        Frames::of(resp)
    }

    /// Opens a server-streaming call with the binary codec.
    pub async fn stream_proto(
        &self,
        method: &str,
        message: &[u8],
        headers: &[(&str, &str)],
    ) -> Frames {
        let mut req = self
            .http
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/connect+proto")
            .body(envelope(0, message));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), 200, "streams answer 200");
        assert_eq!(
            resp.headers()["content-type"],
            "application/connect+proto",
            "binary request, binary response"
        );
        Frames::of(resp)
    }

    /// Opens a client-streaming JSON call whose request body stays open
    /// until [`ClientStream::close`].
    pub fn client_stream(&self, method: &str, headers: &[(&str, &str)]) -> ClientStream {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((Ok::<_, std::convert::Infallible>(chunk), rx))
        }));
        // A connection of its own: when envd answers before reading the
        // whole request (an error mid-stream) it closes the connection, which
        // must not be handed back to the shared pool.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let mut req = client
            .post(self.url(&format!("/{method}")))
            .header("content-type", "application/connect+json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = tokio::spawn(async move {
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            (status, Frames::of(resp).collect(STEP).await)
        });
        ClientStream {
            tx: Some(tx),
            response,
        }
    }
}

/// A client-streaming call in progress.
pub struct ClientStream {
    tx: Option<tokio::sync::mpsc::UnboundedSender<Bytes>>,
    response: tokio::task::JoinHandle<(u16, Collected)>,
}

impl ClientStream {
    /// Sends one JSON message.
    pub fn send(&self, message: &Value) {
        self.tx
            .as_ref()
            .expect("stream still open")
            .send(Bytes::from(envelope(0, message.to_string().as_bytes())))
            .expect("request body still being read");
    }

    /// Half-closes the request and returns `(HTTP status, response)`.
    pub async fn close(mut self) -> (u16, Collected) {
        self.tx.take();
        self.response().await
    }

    /// Waits for the response without closing the request body.
    pub async fn response(self) -> (u16, Collected) {
        tokio::time::timeout(STEP, self.response)
            .await
            .expect("client stream answered in time")
            .expect("response task")
    }
}

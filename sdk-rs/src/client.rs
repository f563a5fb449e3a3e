//! Connection settings, the transports (one multiplexed HTTP/2 channel for
//! RPCs, an HTTP/1.1 pool for `/files` and the JSON endpoints) and the
//! headers every request carries.

use std::future::Future;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use base64::Engine;
use envd_proto::envd::pty::v1::pty_client::PtyClient;
use envd_proto::filesystem::filesystem_client::FilesystemClient;
use envd_proto::process::process_client::ProcessClient;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::commands::Commands;
use crate::error::{Code, Error, Result};
use crate::files::Files;
use crate::pty::Pty;
use crate::terminal::Terminals;
use crate::transport::RpcChannel;

/// How long a server stream may stay silent by default before the SDK sends
/// `Keepalive-Ping-Interval` for: envd then sends a keepalive at least this
/// often, and the SDK fails the stream after 3x this without any message.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// How long a unary call may take by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    access_token: Option<String>,
    user: Option<String>,
    keepalive_interval: Duration,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl ClientBuilder {
    /// The access token sent as `X-Access-Token` (and used to sign URLs).
    #[must_use]
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.access_token = Some(token.into());
        self
    }

    /// The user that RPCs run as and that file paths resolve for, instead
    /// of envd's default user.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The keepalive interval requested for server streams (Start, Connect,
    /// WatchDir). Sent in whole seconds (rounded up, at least 1); a stream
    /// with no message for 3x that fails with [`Code::Unavailable`](crate::Code).
    #[must_use]
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }

    /// How long a unary call (stat, list, send input, resize, signal, the
    /// JSON endpoints, …) may take before it fails with
    /// [`Code::DeadlineExceeded`](crate::Code). Default 60 s. Streams and
    /// file transfers are not bounded by it (streams have the keepalive
    /// watchdog instead).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long to wait for the TCP connection to envd.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Builds the client. Connections are opened lazily, on first use.
    pub fn build(self) -> Result<Client> {
        let base = self.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::invalid_argument(format!(
                "envd URL must start with http:// or https://, got {base:?}"
            )));
        }
        let endpoint = Endpoint::from_shared(base.clone())
            .map_err(|e| Error::invalid_argument(format!("invalid envd URL {base:?}: {e}")))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true);
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(Error::transport)?;
        let keepalive_secs = self.keepalive_interval.as_secs()
            + u64::from(self.keepalive_interval.subsec_nanos() > 0);
        Ok(Client {
            shared: Arc::new(Shared {
                base,
                endpoint,
                channel: OnceLock::new(),
                http,
                token: RwLock::new(self.access_token),
                keepalive: Duration::from_secs(keepalive_secs.max(1)),
                request_timeout: self.request_timeout,
            }),
            user: self.user,
        })
    }
}

/// A connection to one envd.
///
/// Cheap to clone; clones share the connections and the access token.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
    user: Option<String>,
}

#[derive(Debug)]
struct Shared {
    base: String,
    endpoint: Endpoint,
    /// Created on first RPC: tonic needs a running Tokio runtime for it,
    /// and building a client should not.
    channel: OnceLock<Channel>,
    http: reqwest::Client,
    /// Replaced by [`Client::init`] when it sets a token.
    token: RwLock<Option<String>>,
    keepalive: Duration,
    request_timeout: Duration,
}

impl Client {
    /// A client for `url` (e.g. `http://127.0.0.1:49983`) with no token and
    /// envd's default user.
    pub fn connect(url: impl Into<String>) -> Result<Self> {
        Self::builder(url).build()
    }

    /// A builder for `url`, for setting a token, user or keepalive.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            access_token: None,
            user: None,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            connect_timeout: Duration::from_secs(10),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The same connection acting as `user` (RPC Basic auth and the
    /// `username` of `/files`).
    #[must_use]
    pub fn with_user(&self, user: impl Into<String>) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            user: Some(user.into()),
        }
    }

    /// This client acting as `user` when one is given (a per-call user
    /// from start options), else as itself.
    pub(crate) fn acting_as(&self, user: Option<String>) -> Self {
        match user {
            Some(user) => self.with_user(user),
            None => self.clone(),
        }
    }

    /// Running commands: run, spawn, connect, list, signal.
    pub fn commands(&self) -> Commands {
        Commands::new(self.clone())
    }

    /// Interactive terminals.
    pub fn pty(&self) -> Pty {
        Pty::new(self.clone())
    }

    /// Terminal sessions (`envd.pty.v1`): ordered input batches, output
    /// by offset, transparent re-attach.
    pub fn terminals(&self) -> Terminals {
        Terminals::new(self.clone())
    }

    /// Files and directories.
    pub fn files(&self) -> Files {
        Files::new(self.clone())
    }

    /// envd's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.shared.base
    }

    /// The user requests act as, if one was set.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The keepalive interval sent on server streams (whole seconds).
    pub fn keepalive_interval(&self) -> Duration {
        self.shared.keepalive
    }

    /// The current access token.
    pub(crate) fn token(&self) -> Option<String> {
        self.shared
            .token
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_token(&self, token: Option<String>) {
        *self
            .shared
            .token
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = token;
    }

    /// The one multiplexed HTTP/2 connection all RPCs share.
    fn channel(&self) -> RpcChannel {
        let channel = self
            .shared
            .channel
            .get_or_init(|| self.shared.endpoint.connect_lazy());
        RpcChannel::new(channel.clone())
    }

    pub(crate) fn process_rpc(&self) -> ProcessClient<RpcChannel> {
        ProcessClient::new(self.channel())
    }

    pub(crate) fn pty_rpc(&self) -> PtyClient<RpcChannel> {
        PtyClient::new(self.channel())
    }

    pub(crate) fn filesystem_rpc(&self) -> FilesystemClient<RpcChannel> {
        FilesystemClient::new(self.channel())
    }

    /// How long unary calls may take.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.shared.request_timeout
    }

    /// Awaits a unary RPC under the request timeout.
    pub(crate) async fn unary<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.shared.request_timeout, call).await {
            Ok(response) => Ok(response?.into_inner()),
            Err(_) => Err(Error::new(
                Code::DeadlineExceeded,
                format!(
                    "no response from envd within the {:?} request timeout",
                    self.shared.request_timeout
                ),
            )),
        }
    }

    /// A unary RPC request with the token and user headers.
    pub(crate) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        if let Some(token) = self.token()
            && let Ok(value) = MetadataValue::try_from(token.as_str())
        {
            metadata.insert("x-access-token", value);
        }
        if let Some(user) = &self.user {
            let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{user}:"));
            if let Ok(value) = MetadataValue::try_from(format!("Basic {credentials}")) {
                metadata.insert("authorization", value);
            }
        }
        request
    }

    /// A server-streaming RPC request: [`request`](Self::request) plus the
    /// keepalive interval.
    pub(crate) fn stream_request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = self.request(message);
        request.metadata_mut().insert(
            "keepalive-ping-interval",
            MetadataValue::from(self.shared.keepalive.as_secs()),
        );
        request
    }

    /// A plain-HTTP request to `path` with the token header.
    pub(crate) fn http_request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let mut builder = self
            .shared
            .http
            .request(method, format!("{}{path}", self.shared.base));
        if let Some(token) = self.token() {
            builder = builder.header("x-access-token", token);
        }
        builder
    }
}

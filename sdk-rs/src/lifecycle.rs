//! The plain JSON endpoints: `/health`, `/metrics`, `/envs`, `/init` and
//! `/snapshot/prepare`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::files::SendChecked;

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Health {
    /// envd's version.
    pub version: String,
}

/// `GET /metrics`, field names as on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metrics {
    /// Unix seconds when sampled.
    pub ts: i64,
    /// Logical CPUs.
    pub cpu_count: u32,
    /// CPU busy percent over the last sampling window.
    pub cpu_used_pct: f32,
    /// Total memory, bytes.
    pub mem_total: u64,
    /// Used memory (`MemTotal - MemAvailable`), bytes.
    pub mem_used: u64,
    /// Total memory, MiB (deprecated).
    pub mem_total_mib: u64,
    /// Used memory, MiB (deprecated).
    pub mem_used_mib: u64,
    /// Root filesystem size, bytes.
    pub disk_total: u64,
    /// Root filesystem used, bytes.
    pub disk_used: u64,
    /// Fields this SDK version does not know, as sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// What `POST /init` sets. Unset fields are not sent.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env_vars: Option<HashMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_workdir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
}

impl InitOptions {
    /// Nothing to set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The new access token; the client uses it from then on.
    #[must_use]
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.access_token = Some(token.into());
        self
    }

    /// Default environment variables (merged into envd's).
    #[must_use]
    pub fn env_vars(mut self, vars: HashMap<String, String>) -> Self {
        self.env_vars = Some(vars);
        self
    }

    /// The default user for processes and paths.
    #[must_use]
    pub fn default_user(mut self, user: impl Into<String>) -> Self {
        self.default_user = Some(user.into());
        self
    }

    /// The default working directory.
    #[must_use]
    pub fn default_workdir(mut self, dir: impl Into<String>) -> Self {
        self.default_workdir = Some(dir.into());
        self
    }

    /// An RFC 3339 timestamp; envd ignores an init older than the newest
    /// one it applied.
    #[must_use]
    pub fn timestamp(mut self, timestamp: impl Into<String>) -> Self {
        self.timestamp = Some(timestamp.into());
        self
    }
}

impl Client {
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.http_request(reqwest::Method::GET, path)
            .timeout(self.request_timeout())
            .send_checked()
            .await?
            .json()
            .await
            .map_err(Error::transport)
    }

    /// envd's version (`GET /health`).
    pub async fn health(&self) -> Result<Health> {
        self.get_json("/health").await
    }

    /// Resource usage (`GET /metrics`).
    pub async fn metrics(&self) -> Result<Metrics> {
        self.get_json("/metrics").await
    }

    /// envd's default environment variables (`GET /envs`).
    pub async fn envs(&self) -> Result<HashMap<String, String>> {
        self.get_json("/envs").await
    }

    /// Initialises envd (`POST /init`). When `options` sets an access
    /// token, this client (and its clones) use it from then on.
    pub async fn init(&self, options: &InitOptions) -> Result<()> {
        self.http_request(reqwest::Method::POST, "/init")
            .timeout(self.request_timeout())
            .json(options)
            .send_checked()
            .await?;
        if let Some(token) = &options.access_token {
            self.set_token(Some(token.clone()));
        }
        Ok(())
    }

    /// Tells envd a snapshot is about to be taken (`POST /snapshot/prepare`).
    pub async fn prepare_snapshot(&self) -> Result<()> {
        self.http_request(reqwest::Method::POST, "/snapshot/prepare")
            .timeout(self.request_timeout())
            .send_checked()
            .await?;
        Ok(())
    }
}

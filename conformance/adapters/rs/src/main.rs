//! Conformance adapter for `envd-sdk`: reads one JSON request per line on
//! stdin, performs it through the SDK's public API only, and writes one JSON
//! response per line on stdout (see `conformance/PROTOCOL.md`).

mod handles;
mod ops;

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use envd_sdk::{Client, Code, Error};

/// A failed step: the SDK's typed error, or a bad request to the adapter.
#[derive(Debug)]
pub(crate) struct Failure {
    code: String,
    message: String,
    http_status: Option<u16>,
    /// envd's reason, as its proto name (`ERROR_REASON_PATH_NOT_FOUND`).
    reason: Option<&'static str>,
}

impl Failure {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
            http_status: None,
            reason: None,
        }
    }

    pub(crate) fn bad_args(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    fn to_json(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(status) = self.http_status {
            error["httpStatus"] = json!(status);
        }
        if let Some(reason) = self.reason {
            error["reason"] = json!(reason);
        }
        error
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::from(&error)
    }
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Self {
        Self {
            code: error.code().as_str().to_owned(),
            message: error.message().to_owned(),
            http_status: error.http_status(),
            reason: error.reason().map(|r| r.as_str_name()),
        }
    }
}

pub(crate) type StepResult = Result<Value, Failure>;

/// Everything the adapter keeps between requests.
pub(crate) struct State {
    pub(crate) base_url: String,
    pub(crate) client: Client,
    pub(crate) handles: handles::Handles,
}

impl State {
    fn new(base_url: String) -> Result<Self, Error> {
        Ok(Self {
            client: Client::connect(base_url.clone())?,
            base_url,
            handles: handles::Handles::default(),
        })
    }
}

/// The default wait for ops that take `timeoutMs`.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base_url = std::env::var("ENVD_URL").map_err(|_| "ENVD_URL is not set")?;
    let mut state = State::new(base_url)?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<Value>(&line) {
            Err(e) => {
                json!({ "id": null, "error": Failure::bad_args(format!("bad request line: {e}")).to_json() })
            }
            Ok(request) => {
                let id = request.get("id").cloned().unwrap_or(Value::Null);
                let op = request.get("op").and_then(Value::as_str).unwrap_or("");
                let args = request.get("args").cloned().unwrap_or_else(|| json!({}));
                match ops::dispatch(&mut state, op, &args).await {
                    Ok(value) => json!({ "id": id, "ok": value }),
                    Err(failure) => json!({ "id": id, "error": failure.to_json() }),
                }
            }
        };
        let mut text = response.to_string();
        text.push('\n');
        stdout.write_all(text.as_bytes()).await?;
        stdout.flush().await?;
    }
    state.handles.stop_all();
    Ok(())
}

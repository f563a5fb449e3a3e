//! `POST /init` (spec §5.4): the host configures envd after boot and after
//! every resume. Parsed before anything changes; calls are serialised; the
//! body's `accessToken` is checked (§6.2) before any data is applied; a
//! replayed or older `timestamp` skips the data but still succeeds.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::auth;
use crate::config::VERSION;
use crate::error::{Error, RequestError};
use crate::host::hosts::EVENTS_ADDRESS_ENV;
use crate::host::{VolumeMount, clock};
use crate::state::AppState;

/// A parsed `/init` body. Absent and `null` fields are `None`.
#[derive(Debug, Default)]
struct InitRequest {
    access_token: Option<Zeroizing<String>>,
    default_user: Option<String>,
    default_workdir: Option<String>,
    env_vars: Option<BTreeMap<String, String>>,
    hyperloop_ip: Option<IpAddr>,
    timestamp: Option<DateTime<Utc>>,
    /// `None` when absent: mounts stay as they are.
    volume_mounts: Option<Vec<VolumeMount>>,
    lifecycle_id: Option<String>,
    ca_bundle: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct MountField {
    #[serde(default)]
    nfs_target: String,
    #[serde(default)]
    path: String,
}

pub(super) async fn post(State(state): State<AppState>, body: Bytes) -> Response {
    let mut response = match init(&state, body).await {
        Ok(()) => {
            state.upgrade.mark_initialized();
            (
                StatusCode::NO_CONTENT,
                [(header::CACHE_CONTROL, "no-store")],
            )
                .into_response()
        }
        Err(e) => e.into_plain_text_response(),
    };
    if let Some(handover) = state
        .upgrade
        .handover_header()
        .and_then(|h| HeaderValue::from_str(&h).ok())
    {
        response.headers_mut().insert("x-envd-handover", handover);
    }
    response
        .headers_mut()
        .insert("x-envd-version", HeaderValue::from_static(VERSION));
    // The last freeze and unfreeze (see `host::freeze::Audit`), compact JSON.
    if let Ok(audit) = serde_json::to_string(&state.host.freezer.audit())
        && let Ok(value) = HeaderValue::from_str(&audit)
    {
        response.headers_mut().insert("x-envd-freeze-audit", value);
    }
    response
}

async fn init(state: &AppState, body: Bytes) -> Result<(), Error> {
    // The body may hold the token: wipe it once parsed.
    let raw = Zeroizing::new(Vec::from(body));
    let request = parse(&raw)?;
    drop(raw);
    {
        let mut newest = state.host.init.lock().await;
        auth::init::validate(
            &state.token,
            request.access_token.as_ref().map(|t| t.as_str()),
        )?;
        thaw(state).await;
        let fresh = request
            .timestamp
            .is_none_or(|ts| newest.is_none_or(|newest| ts > newest));
        if fresh {
            if let Some(ts) = request.timestamp {
                *newest = Some(ts);
            }
            apply(state, request).await?;
        } else {
            tracing::info!(timestamp = ?request.timestamp, newest = ?*newest, "stale /init: data not applied");
        }
    }
    state.host.snapshot.recover();
    Ok(())
}

/// After a restore [E2B]'s orchestrator thaws by calling `/init`: undo a
/// `/fsfreeze` (first, so the rest of `/init` can write) and a `/freeze`
/// that are still in effect. Failures are logged, not fatal: `/init` must
/// still configure the guest.
async fn thaw(state: &AppState) {
    if let Err(e) = state.host.fs_freezer.thaw_if_frozen("init").await {
        tracing::error!(error = %e, "/init could not thaw the filesystem");
    }
    if let Err(e) = state.host.freezer.thaw_if_frozen().await {
        tracing::error!(error = %e, "/init could not thaw the cgroups");
    }
}

/// Applies a fresh request, in the spec's order: clock, env vars, token,
/// hyperloop, default user, default workdir, CA bundle, volume mounts.
/// The first failing step ends it (400, or 503 for CA lock contention).
async fn apply(state: &AppState, mut request: InitRequest) -> Result<(), Error> {
    if let (Some(ts), true) = (request.timestamp, state.host.clock_control) {
        match clock::sync_to(ts.into()) {
            Ok(true) => tracing::info!(%ts, "system clock set from /init"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot set the system clock"),
        }
    }
    if let Some(vars) = request.env_vars.take() {
        state.defaults.update(|d| d.env_vars.extend(vars));
    }
    match request.access_token.as_mut() {
        Some(token) => state.token.set(std::mem::take(&mut **token)),
        None => state.token.clear(),
    }
    if let Some(ip) = request.hyperloop_ip {
        let address = match ip {
            IpAddr::V4(v4) => format!("http://{v4}"),
            IpAddr::V6(v6) => format!("http://[{v6}]"),
        };
        state.defaults.update(|d| {
            d.env_vars.insert(EVENTS_ADDRESS_ENV.to_owned(), address);
        });
        state.host.hosts.point_events_at(ip);
    }
    state.defaults.update(|d| {
        if let Some(user) = request.default_user.take().filter(|u| !u.is_empty()) {
            d.user = user;
        }
        if let Some(dir) = request.default_workdir.take().filter(|w| !w.is_empty()) {
            d.workdir = Some(PathBuf::from(dir));
        }
    });
    if let Some(pem) = request.ca_bundle.take() {
        state.host.ca.install(&pem).await?;
    }
    if let Some(mounts) = request.volume_mounts.take() {
        state
            .host
            .mounts
            .apply(request.lifecycle_id.take(), mounts)
            .await?;
    }
    Ok(())
}

/// The fuzz targets' way in (`http::fuzz::init`).
#[cfg(any(fuzzing, test))]
pub(super) fn fuzz(body: &[u8]) {
    let _ = parse(body);
}

/// Parses the body. Empty (or `null`) is `{}`; unknown fields are ignored;
/// names match exactly or, like Go's decoder, case-insensitively.
fn parse(body: &[u8]) -> Result<InitRequest, Error> {
    let text = std::str::from_utf8(body)
        .map_err(|e| RequestError::InvalidBody(e.to_string()))?
        .trim();
    if text.is_empty() || text == "null" {
        return Ok(InitRequest::default());
    }
    let fields: HashMap<String, &RawValue> =
        serde_json::from_str(text).map_err(|e| RequestError::InvalidBody(e.to_string()))?;
    let get = |name: &str| {
        fields
            .get(name)
            .or_else(|| {
                fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(|v| v.get())
            .filter(|v| *v != "null")
    };
    let mut request = InitRequest {
        access_token: match get("accessToken") {
            Some(raw) => auth::init::parse_field(raw)?,
            None => None,
        },
        default_user: decode(get("defaultUser"), "defaultUser")?,
        default_workdir: decode(get("defaultWorkdir"), "defaultWorkdir")?,
        env_vars: decode(get("envVars"), "envVars")?,
        lifecycle_id: decode(get("lifecycleID"), "lifecycleID")?,
        ca_bundle: decode(get("caBundle"), "caBundle")?,
        ..InitRequest::default()
    };
    if let Some(ip) = decode::<String>(get("hyperloopIP"), "hyperloopIP")? {
        request.hyperloop_ip = Some(ip.parse().map_err(|_| RequestError::InvalidField {
            field: "hyperloopIP",
            reason: format!("{ip:?} is not an IP address"),
        })?);
    }
    if let Some(ts) = decode::<String>(get("timestamp"), "timestamp")? {
        let parsed = DateTime::parse_from_rfc3339(&ts).map_err(|e| RequestError::InvalidField {
            field: "timestamp",
            reason: format!("{ts:?} is not an RFC 3339 time: {e}"),
        })?;
        request.timestamp = Some(parsed.with_timezone(&Utc));
    }
    let mounts: Option<Vec<MountField>> = decode(get("volumeMounts"), "volumeMounts")?;
    request.volume_mounts = mounts.map(|mounts| {
        mounts
            .into_iter()
            .filter(|mount| {
                let usable = !mount.nfs_target.is_empty() && !mount.path.is_empty();
                if !usable {
                    tracing::warn!(?mount, "volume mount without target or path ignored");
                }
                usable
            })
            .map(|mount| VolumeMount {
                nfs_target: mount.nfs_target,
                path: PathBuf::from(mount.path),
            })
            .collect()
    });
    Ok(request)
}

fn decode<T: DeserializeOwned>(raw: Option<&str>, field: &'static str) -> Result<Option<T>, Error> {
    raw.map(|raw| {
        serde_json::from_str(raw).map_err(|e| {
            Error::from(RequestError::InvalidField {
                field,
                reason: e.to_string(),
            })
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> InitRequest {
        parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    fn status(body: &str) -> u16 {
        parse(body.as_bytes())
            .unwrap_err()
            .classify()
            .status
            .as_u16()
    }

    #[test]
    fn empty_bodies_are_empty_requests() {
        for body in ["", "  \n", "{}", "null"] {
            let r = ok(body);
            assert!(r.access_token.is_none() && r.env_vars.is_none() && r.timestamp.is_none());
        }
    }

    #[test]
    fn all_fields() {
        let r = ok(r#"{
            "accessToken": "tok",
            "defaultUser": "user",
            "defaultWorkdir": "/srv",
            "envVars": {"A": "1", "B": ""},
            "hyperloopIP": "10.0.0.1",
            "timestamp": "2026-05-02T22:56:00.123456789+02:00",
            "volumeMounts": [{"nfs_target": "10.0.0.2:/x", "path": "/mnt/x"}],
            "lifecycleID": "life-1",
            "caBundle": "PEM",
            "somethingNew": {"nested": true}
        }"#);
        assert_eq!(r.access_token.as_deref().map(String::as_str), Some("tok"));
        assert_eq!(r.default_user.as_deref(), Some("user"));
        assert_eq!(r.default_workdir.as_deref(), Some("/srv"));
        assert_eq!(r.env_vars.unwrap().get("A").map(String::as_str), Some("1"));
        assert_eq!(r.hyperloop_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            r.timestamp.unwrap().to_rfc3339(),
            "2026-05-02T20:56:00.123456789+00:00"
        );
        assert_eq!(
            r.volume_mounts,
            Some(vec![VolumeMount {
                nfs_target: "10.0.0.2:/x".into(),
                path: "/mnt/x".into()
            }])
        );
        assert_eq!(r.lifecycle_id.as_deref(), Some("life-1"));
        assert_eq!(r.ca_bundle.as_deref(), Some("PEM"));
    }

    #[test]
    fn names_match_case_insensitively_exact_first() {
        let r = ok(r#"{"hyperloopIp": "10.0.0.1", "DEFAULTUSER": "u"}"#);
        assert_eq!(r.hyperloop_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(r.default_user.as_deref(), Some("u"));
        let r = ok(r#"{"defaultuser": "a", "defaultUser": "b"}"#);
        assert_eq!(r.default_user.as_deref(), Some("b"));
    }

    #[test]
    fn nulls_are_absent() {
        let r = ok(r#"{"accessToken": null, "envVars": null, "timestamp": null}"#);
        assert!(r.access_token.is_none() && r.env_vars.is_none() && r.timestamp.is_none());
    }

    #[test]
    fn bad_bodies_are_400() {
        for body in [
            "{",
            "[]",
            "\"x\"",
            r#"{"accessToken": ""}"#,
            r#"{"accessToken": "a\u0062"}"#,
            r#"{"accessToken": 1}"#,
            r#"{"envVars": {"A": 1}}"#,
            r#"{"envVars": []}"#,
            r#"{"defaultUser": 5}"#,
            r#"{"timestamp": "yesterday"}"#,
            r#"{"timestamp": 1700000000}"#,
            r#"{"hyperloopIP": "not-an-ip"}"#,
            r#"{"volumeMounts": {}}"#,
            r#"{"lifecycleID": 5}"#,
            r#"{"caBundle": ["x"]}"#,
        ] {
            assert_eq!(status(body), 400, "{body}");
        }
    }
}

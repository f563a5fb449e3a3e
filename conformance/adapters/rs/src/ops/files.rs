//! The `files.*` and `watch.*` ops.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde_json::{Value, json};

use envd_sdk::{EntryInfo, FileType, Files, WriteInfo};

use super::Args;
use crate::{Failure, State, StepResult};

pub(super) fn files(state: &State, a: Args<'_>) -> Result<Files, Failure> {
    let files = state.client.files();
    let files = match a.opt_str("user")? {
        Some(user) => files.as_user(user),
        None => files,
    };
    Ok(match a.get("metadata") {
        Some(_) => files.with_metadata(a.string_map("metadata")?),
        None => files,
    })
}

/// `metadata` in a result, only when non-empty (envd omits it then).
fn add_metadata(out: &mut Value, metadata: &std::collections::HashMap<String, String>) {
    if !metadata.is_empty() {
        out["metadata"] = json!(metadata);
    }
}

fn type_name(file_type: FileType) -> &'static str {
    file_type.as_str()
}

pub(super) fn entry_json(entry: &EntryInfo) -> Value {
    let mut out = json!({
        "name": entry.name,
        "type": type_name(entry.file_type),
        "path": entry.path,
        "size": entry.size,
        "mode": entry.mode,
        "permissions": entry.permissions,
        "owner": entry.owner,
        "group": entry.group,
        "modifiedTime": entry.modified_time_rfc3339,
    });
    if let Some(target) = &entry.symlink_target {
        out["symlinkTarget"] = json!(target);
    }
    add_metadata(&mut out, &entry.metadata);
    out
}

pub(super) fn write_info_json(w: &WriteInfo) -> Value {
    let mut out = json!({ "name": w.name, "path": w.path, "type": w.kind });
    add_metadata(&mut out, &w.metadata);
    out
}

fn written_json(written: &[WriteInfo]) -> Value {
    let entries: Vec<Value> = written.iter().map(write_info_json).collect();
    json!({ "entries": entries })
}

pub(super) async fn files_read(state: &State, a: Args<'_>) -> StepResult {
    use futures::StreamExt;
    let files = files(state, a)?;
    let path = a.str("path")?;
    match a.opt_str("format")?.unwrap_or("text") {
        "text" => Ok(json!({ "text": files.read_text(path).await? })),
        "bytes" => Ok(json!({ "base64": BASE64.encode(files.read(path).await?) })),
        "stream" => {
            let mut stream = files.read_stream(path).await?;
            let mut data = Vec::new();
            while let Some(chunk) = stream.next().await {
                data.extend_from_slice(&chunk?);
            }
            Ok(json!({ "base64": BASE64.encode(data) }))
        }
        other => Err(Failure::bad_args(format!("unknown format {other:?}"))),
    }
}

pub(super) async fn files_write(state: &State, a: Args<'_>) -> StepResult {
    let files = files(state, a)?;
    let path = a.str("path")?;
    let data = match (a.opt_str("text")?, a.opt_str("base64")?) {
        (Some(text), _) => Bytes::from(text.to_owned()),
        (None, Some(encoded)) => Bytes::from(
            BASE64
                .decode(encoded)
                .map_err(|e| Failure::bad_args(format!("bad base64: {e}")))?,
        ),
        (None, None) => return Err(Failure::bad_args("files.write needs text or base64")),
    };
    let written = match a.opt_str("format")?.unwrap_or("bytes") {
        "bytes" => files.write(path, data).await?,
        "stream" => {
            // Hand the SDK a real chunked stream, not one buffer.
            let chunks: Vec<Result<Bytes, std::io::Error>> = data
                .chunks(16 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            files
                .write_stream(path, futures::stream::iter(chunks))
                .await?
        }
        other => return Err(Failure::bad_args(format!("unknown format {other:?}"))),
    };
    Ok(written_json(&[written]))
}

pub(super) async fn files_write_many(state: &State, a: Args<'_>) -> StepResult {
    let files = files(state, a)?;
    let items = a
        .get("files")
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::bad_args("files.write_many needs a files array"))?;
    let mut uploads = Vec::new();
    for item in items {
        let item = Args(item);
        uploads.push((
            item.str("path")?.to_owned(),
            Bytes::from(item.str("text")?.to_owned()),
        ));
    }
    Ok(written_json(&files.write_many(uploads).await?))
}

pub(super) async fn watch_events(state: &State, a: Args<'_>) -> StepResult {
    let sink = state.handles.get(a.str("handle")?)?.sink.clone();
    let count = usize::try_from(a.opt_u64("count")?.unwrap_or(1))
        .map_err(|_| Failure::bad_args("count too large"))?;
    sink.wait_for(a.timeout()?, &format!("{count} watch events"), |c| {
        (c.events.len() >= count).then(|| {
            let events: Vec<Value> = c
                .events
                .iter()
                .map(|e| json!({ "name": e.name, "type": e.kind.as_str() }))
                .collect();
            json!({ "events": events })
        })
    })
    .await
}

//! Entry points for the fuzz targets in `fuzz/` (see `http::files::fuzz`):
//! the request headers the RPC adapters parse themselves, and every
//! request message in both Connect codecs (JSON via pbjson, binary via
//! prost). Envelopes and gRPC-Web frames are fuzzed through the router
//! (`app::fuzz`).

use axum::http::{HeaderMap, HeaderValue, header};
use envd_proto::filesystem as fs;
use envd_proto::process as pr;
use prost::Message;

/// `grpc-timeout` and `Authorization: Basic`.
pub fn headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = super::context::parse_grpc_timeout(&text);
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        let _ = super::context::basic_user(&headers);
    }
}

fn both<M: Message + Default + serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = M::decode(data);
    let _ = serde_json::from_slice::<M>(data);
}

/// One request message; the first byte picks its type.
pub fn messages(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 16 {
        0 => both::<pr::StartRequest>(body),
        1 => both::<pr::ConnectRequest>(body),
        2 => both::<pr::ListRequest>(body),
        3 => both::<pr::UpdateRequest>(body),
        4 => both::<pr::SendInputRequest>(body),
        5 => both::<pr::StreamInputRequest>(body),
        6 => both::<pr::SendSignalRequest>(body),
        7 => both::<pr::CloseStdinRequest>(body),
        8 => both::<fs::StatRequest>(body),
        9 => both::<fs::MakeDirRequest>(body),
        10 => both::<fs::MoveRequest>(body),
        11 => both::<fs::ListDirRequest>(body),
        12 => both::<fs::RemoveRequest>(body),
        13 => both::<fs::WatchDirRequest>(body),
        14 => both::<fs::CreateWatcherRequest>(body),
        _ => both::<fs::GetWatcherEventsRequest>(body),
    }
}

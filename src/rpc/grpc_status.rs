//! Corrects the one gRPC status tonic chooses differently from grpc-go and
//! connect-go: a message over the receive limit is `RESOURCE_EXHAUSTED`
//! there (and on our Connect path), but tonic says `OUT_OF_RANGE` when the
//! length prefix alone is too large. The status travels in the response
//! headers (trailers-only answers) or in the trailers, so both are mapped;
//! sitting inside the gRPC-Web translation, this serves gRPC-Web too.

use http::{HeaderMap, HeaderValue, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use http_body_util::combinators::MapFrame;
use tower::util::MapResponseLayer;

const OUT_OF_RANGE: &[u8] = b"11";
const RESOURCE_EXHAUSTED: HeaderValue = HeaderValue::from_static("8");
/// tonic's message for an over-limit length prefix, as percent-encoded in
/// `grpc-message` (tonic/src/codec/decode.rs).
const TOO_LARGE: &[u8] = b"Error,%20decoded%20message%20length%20too%20large";

/// The response body, with its trailers mapped.
pub(super) type Body<B> = MapFrame<B, fn(Frame<bytes::Bytes>) -> Frame<bytes::Bytes>>;

/// The response mapping the layer applies.
type MapResponse<B> = fn(Response<B>) -> Response<Body<B>>;

/// The layer for a gRPC service whose bodies carry `Bytes`.
pub(super) fn layer<B>() -> MapResponseLayer<MapResponse<B>>
where
    B: http_body::Body<Data = bytes::Bytes>,
{
    MapResponseLayer::new(map_response::<B>)
}

fn map_response<B>(mut response: Response<B>) -> Response<Body<B>>
where
    B: http_body::Body<Data = bytes::Bytes>,
{
    map_status(response.headers_mut());
    response.map(|body| body.map_frame(map_frame as fn(_) -> _))
}

fn map_frame(frame: Frame<bytes::Bytes>) -> Frame<bytes::Bytes> {
    match frame.into_trailers() {
        Ok(mut trailers) => {
            map_status(&mut trailers);
            Frame::trailers(trailers)
        }
        Err(frame) => frame,
    }
}

fn map_status(headers: &mut HeaderMap) {
    let too_large = headers.get("grpc-status").map(HeaderValue::as_bytes) == Some(OUT_OF_RANGE)
        && headers
            .get("grpc-message")
            .is_some_and(|m| m.as_bytes().starts_with(TOO_LARGE));
    if too_large {
        headers.insert("grpc-status", RESOURCE_EXHAUSTED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: &'static str, message: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static(code));
        headers.insert("grpc-message", HeaderValue::from_static(message));
        headers
    }

    #[test]
    fn an_oversized_length_prefix_is_resource_exhausted() {
        let mut headers = status(
            "11",
            "Error,%20decoded%20message%20length%20too%20large:%20found%2010%20bytes",
        );
        map_status(&mut headers);
        assert_eq!(headers["grpc-status"], "8");
    }

    #[test]
    fn other_out_of_range_answers_are_kept() {
        let mut headers = status("11", "range%20not%20satisfiable");
        map_status(&mut headers);
        assert_eq!(headers["grpc-status"], "11");
        let mut headers = status("3", "Error,%20decoded%20message%20length%20too%20large");
        map_status(&mut headers);
        assert_eq!(headers["grpc-status"], "3");
    }
}

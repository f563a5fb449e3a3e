//! `google.protobuf.Any` with its proto3 JSON mapping, `{"@type": url,
//! ...fields}`, for the conformance messages the suite packs into one
//! (echoed requests, request info in error details). pbjson-types writes
//! `{typeUrl, value}`, which the reference client cannot read.

use bytes::Bytes;
use prost::Message;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::wire;

/// A packed message: its type URL and its binary encoding.
#[derive(Clone, PartialEq, Eq, Hash, Message)]
pub(crate) struct Any {
    /// `type.googleapis.com/<full message name>`.
    #[prost(string, tag = "1")]
    pub(crate) type_url: String,
    /// The message's binary encoding.
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) value: Bytes,
}

const PREFIX: &str = "type.googleapis.com/";
const PACKAGE: &str = "connectrpc.conformance.v1.";

/// Messages that know their full protobuf name.
pub(crate) trait Named: Message + Sized {
    const NAME: &'static str;
}

macro_rules! named {
    ($($ty:ty => $name:literal,)*) => {
        $(impl Named for $ty { const NAME: &'static str = concat!("connectrpc.conformance.v1.", $name); })*

        /// Converts the JSON of `name`'s message to its binary encoding.
        fn json_to_binary(name: &str, json: serde_json::Value) -> Result<Vec<u8>, serde_json::Error> {
            match name.strip_prefix(PACKAGE) {
                $(Some($name) => Ok(serde_json::from_value::<$ty>(json)?.encode_to_vec()),)*
                _ => Err(<serde_json::Error as serde::de::Error>::custom(format!("unknown message type {name}"))),
            }
        }

        /// Converts the binary encoding of `name`'s message to its JSON.
        fn binary_to_json(name: &str, bytes: &[u8]) -> Result<serde_json::Value, String> {
            match name.strip_prefix(PACKAGE) {
                $(Some($name) => {
                    let message = <$ty>::decode(bytes).map_err(|e| e.to_string())?;
                    serde_json::to_value(message).map_err(|e| e.to_string())
                })*
                _ => Err(format!("unknown message type {name}")),
            }
        }
    };
}

named! {
    wire::UnaryRequest => "UnaryRequest",
    wire::UnaryResponse => "UnaryResponse",
    wire::IdempotentUnaryRequest => "IdempotentUnaryRequest",
    wire::IdempotentUnaryResponse => "IdempotentUnaryResponse",
    wire::ServerStreamRequest => "ServerStreamRequest",
    wire::ServerStreamResponse => "ServerStreamResponse",
    wire::ClientStreamRequest => "ClientStreamRequest",
    wire::ClientStreamResponse => "ClientStreamResponse",
    wire::BidiStreamRequest => "BidiStreamRequest",
    wire::BidiStreamResponse => "BidiStreamResponse",
    wire::UnimplementedRequest => "UnimplementedRequest",
    wire::UnimplementedResponse => "UnimplementedResponse",
    wire::conformance_payload::RequestInfo => "ConformancePayload.RequestInfo",
    wire::Error => "Error",
    wire::Header => "Header",
}

impl Any {
    /// Packs `message`.
    pub(crate) fn pack<M: Named>(message: &M) -> Self {
        Self {
            type_url: format!("{PREFIX}{}", M::NAME),
            value: message.encode_to_vec().into(),
        }
    }

    /// The full message name (the type URL after its last `/`).
    pub(crate) fn name(&self) -> &str {
        self.type_url.rsplit('/').next().unwrap_or_default()
    }
}

impl Serialize for Any {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let json = binary_to_json(self.name(), &self.value).map_err(S::Error::custom)?;
        let serde_json::Value::Object(fields) = json else {
            return Err(S::Error::custom("a message's JSON is an object"));
        };
        let mut object = serde_json::Map::with_capacity(fields.len() + 1);
        object.insert("@type".into(), self.type_url.clone().into());
        object.extend(fields);
        object.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Any {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut object = serde_json::Map::deserialize(deserializer)?;
        let Some(serde_json::Value::String(type_url)) = object.remove("@type") else {
            return Err(D::Error::custom("Any without a string \"@type\""));
        };
        let name = type_url.rsplit('/').next().unwrap_or_default();
        let value =
            json_to_binary(name, serde_json::Value::Object(object)).map_err(D::Error::custom)?;
        Ok(Self {
            type_url,
            value: value.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_uses_at_type() {
        let info = wire::conformance_payload::RequestInfo {
            timeout_ms: Some(250),
            ..Default::default()
        };
        let any = Any::pack(&info);
        let json = serde_json::to_value(&any).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "@type": "type.googleapis.com/connectrpc.conformance.v1.ConformancePayload.RequestInfo",
                "timeoutMs": "250",
            })
        );
        let back: Any = serde_json::from_value(json).unwrap();
        assert_eq!(back, any);
    }

    #[test]
    fn unknown_types_are_an_error_not_a_guess() {
        let json = serde_json::json!({"@type": "type.googleapis.com/foo.bar.Baz"});
        assert!(serde_json::from_value::<Any>(json).is_err());
    }
}

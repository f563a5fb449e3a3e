//! `google.protobuf.Timestamp` with the canonical proto3 JSON form.
//!
//! `pbjson-types` writes timestamps as `…+00:00`; the published SDKs parse
//! `modifiedTime` strictly and accept only the `Z` suffix the proto3 JSON
//! mapping (and Go's `protojson`) produce, so envd owns this one type.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: seconds and nanoseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Message)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Non-negative fraction of a second, 0..=999_999_999.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl ::prost::Name for Timestamp {
    const NAME: &'static str = "Timestamp";
    const PACKAGE: &'static str = "google.protobuf";
}

/// The timestamp is outside what RFC 3339 can express (years 1–9999) or has
/// nanoseconds outside `0..1e9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOutOfRange;

impl fmt::Display for TimestampOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timestamp out of range")
    }
}

impl std::error::Error for TimestampOutOfRange {}

impl Timestamp {
    /// The RFC 3339 text with a `Z` suffix and 0, 3, 6 or 9 fraction digits.
    pub fn to_rfc3339(&self) -> Result<String, TimestampOutOfRange> {
        Ok(self
            .to_datetime()?
            .to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    fn to_datetime(self) -> Result<DateTime<Utc>, TimestampOutOfRange> {
        let nanos = u32::try_from(self.nanos).map_err(|_| TimestampOutOfRange)?;
        DateTime::<Utc>::from_timestamp(self.seconds, nanos).ok_or(TimestampOutOfRange)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(time: DateTime<Utc>) -> Self {
        Self {
            seconds: time.timestamp(),
            nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.to_rfc3339().map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Rfc3339;
        impl Visitor<'_> for Rfc3339 {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
                DateTime::parse_from_rfc3339(text)
                    .map(|t| Timestamp::from(t.with_timezone(&Utc)))
                    .map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Rfc3339)
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    fn json(seconds: i64, nanos: i32) -> String {
        serde_json::to_string(&Timestamp { seconds, nanos }).unwrap()
    }

    #[test]
    fn writes_z_with_canonical_fraction_digits() {
        assert_eq!(json(1_700_000_000, 0), r#""2023-11-14T22:13:20Z""#);
        assert_eq!(
            json(1_700_000_000, 120_000_000),
            r#""2023-11-14T22:13:20.120Z""#
        );
        assert_eq!(
            json(1_700_000_000, 123_456_000),
            r#""2023-11-14T22:13:20.123456Z""#
        );
        assert_eq!(
            json(1_700_000_000, 123_456_789),
            r#""2023-11-14T22:13:20.123456789Z""#
        );
        assert_eq!(json(-1, 0), r#""1969-12-31T23:59:59Z""#);
    }

    #[test]
    fn reads_any_offset() {
        let t: Timestamp = serde_json::from_str(r#""2023-11-14T23:13:20.5+01:00""#).unwrap();
        assert_eq!(
            t,
            Timestamp {
                seconds: 1_700_000_000,
                nanos: 500_000_000
            }
        );
    }

    #[test]
    fn rejects_out_of_range_nanos() {
        assert!(
            serde_json::to_string(&Timestamp {
                seconds: 0,
                nanos: -1
            })
            .is_err()
        );
    }
}

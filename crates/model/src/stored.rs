//! An event as stored: the [`Event`] plus the fields evident assigns at
//! ingest (the dd.audit core fields).

use serde::{Deserialize, Serialize};

use crate::{Event, Timestamp};

/// What the write-ahead log, the segments and the ledger hold for one
/// event. Its serialized bytes ([`StoredEvent::to_bytes`]) are hashed into
/// the ledger and kept verbatim, so verification never depends on
/// serializing the same value the same way twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredEvent {
    /// Unique and time-ordered (a UUIDv7 in text form).
    pub id: String,
    /// When evident received the event.
    pub discovery_timestamp: Timestamp,
    /// Orders events with equal timestamps deterministically.
    pub tiebreaker: i64,
    /// Uniform in [0, 1), fixed at ingest: consistent sampling across
    /// queries.
    pub random_draw: f64,
    /// Size of the event as received, in bytes, before any truncation.
    pub ingest_size_in_bytes: u64,
    /// True when the event was cut to the per-event size limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    pub event: Event,
}

impl StoredEvent {
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain data into a Vec cannot fail: every map key is a
        // string and every float is finite (random_draw is in [0, 1)).
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<StoredEvent, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// When the event happened, in nanoseconds since the epoch: its own
    /// timestamp, or when evident received it. Events sort and filter by
    /// this time.
    pub fn time_nanos(&self) -> i64 {
        self.event
            .timestamp
            .unwrap_or(self.discovery_timestamp)
            .as_nanos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let stored = StoredEvent {
            id: "0190f5b2-0000-7000-8000-000000000001".into(),
            discovery_timestamp: Timestamp::from_nanos(1_714_564_800_123_000_000),
            tiebreaker: 42,
            random_draw: 0.123_456_789_012_345_67,
            ingest_size_in_bytes: 120,
            truncated: false,
            event: serde_json::from_str(r#"{"message":"m","attributes":{"a":1}}"#).expect("event"),
        };
        let bytes = stored.to_bytes();
        assert!(!String::from_utf8_lossy(&bytes).contains("truncated"));
        assert_eq!(StoredEvent::from_bytes(&bytes).expect("parse"), stored);
    }
}

//! Instants as nanoseconds since the Unix epoch.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant in UTC, with nanosecond precision.
///
/// Parsed from RFC 3339 (`2024-05-01T12:00:00Z`, any offset; no offset means
/// UTC), a bare date (`2024-05-01`, midnight UTC) or, in JSON, an integer
/// number of milliseconds since the epoch (what Datadog senders use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    nanos: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid timestamp {text:?}: expected RFC 3339 (2024-05-01T12:00:00Z), a date or epoch milliseconds"
)]
pub struct TimestampError {
    text: String,
}

impl Timestamp {
    pub const fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp { nanos }
    }

    /// `None` when the instant does not fit in i64 nanoseconds (years
    /// outside roughly 1677..2262).
    pub fn from_millis(millis: i64) -> Option<Timestamp> {
        millis.checked_mul(1_000_000).map(Timestamp::from_nanos)
    }

    /// The current time (the system clock).
    pub fn now() -> Timestamp {
        let nanos = jiff::Timestamp::now().as_nanosecond();
        Timestamp::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    fn parse_text(text: &str) -> Option<Timestamp> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse::<i64>().ok().and_then(Timestamp::from_millis);
        }
        let instant = text
            .parse::<jiff::Timestamp>()
            .or_else(|_| format!("{text}Z").parse::<jiff::Timestamp>())
            .or_else(|_| format!("{text}T00:00:00Z").parse::<jiff::Timestamp>())
            .ok()?;
        i64::try_from(instant.as_nanosecond())
            .ok()
            .map(Timestamp::from_nanos)
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Timestamp, TimestampError> {
        Timestamp::parse_text(text).ok_or_else(|| TimestampError {
            text: text.to_string(),
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_nanosecond(i128::from(self.nanos)) {
            Ok(instant) => write!(f, "{instant}"),
            // Every i64 nanosecond count is inside jiff's range; this arm
            // only keeps Display total.
            Err(_) => write!(f, "{}ns", self.nanos),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        struct TimestampVisitor;

        impl Visitor<'_> for TimestampVisitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp or epoch milliseconds")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, millis: i64) -> Result<Timestamp, E> {
                Timestamp::from_millis(millis)
                    .ok_or_else(|| E::custom(format!("epoch milliseconds {millis} out of range")))
            }

            fn visit_u64<E: de::Error>(self, millis: u64) -> Result<Timestamp, E> {
                i64::try_from(millis)
                    .ok()
                    .and_then(Timestamp::from_millis)
                    .ok_or_else(|| E::custom(format!("epoch milliseconds {millis} out of range")))
            }
        }

        deserializer.deserialize_any(TimestampVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_forms() {
        let noon: Timestamp = "2024-05-01T12:00:00Z".parse().expect("rfc 3339");
        assert_eq!(noon.as_nanos(), 1_714_564_800_000_000_000);
        assert_eq!("2024-05-01T14:00:00+02:00".parse::<Timestamp>(), Ok(noon));
        assert_eq!("2024-05-01T12:00:00".parse::<Timestamp>(), Ok(noon));
        assert_eq!("1714564800000".parse::<Timestamp>(), Ok(noon));
        let midnight: Timestamp = "2024-05-01".parse().expect("date");
        assert_eq!(midnight.as_nanos(), 1_714_521_600_000_000_000);
        assert!("yesterday".parse::<Timestamp>().is_err());
        assert!("".parse::<Timestamp>().is_err());
    }

    #[test]
    fn json_round_trip() {
        let from_millis: Timestamp = serde_json::from_str("1714564800123").expect("millis");
        let text = serde_json::to_string(&from_millis).expect("serialize");
        assert_eq!(text, "\"2024-05-01T12:00:00.123Z\"");
        assert_eq!(
            serde_json::from_str::<Timestamp>(&text).expect("text"),
            from_millis
        );
    }
}

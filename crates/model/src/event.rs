//! The event shape (search syntax spec §1) and its reserved field names.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;

/// One stored audit event.
///
/// Serialized, this is the shape of the search conformance corpus:
/// `{"timestamp", "message", "host", "service", "status", "source",
/// "trace_id", "tags": [...], "attributes": {...}}`, every key optional.
/// Unknown top-level keys are rejected rather than silently dropped: a
/// caller that means an attribute must put it under `attributes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
}

impl Event {
    /// The text of a reserved field, as stored (`timestamp` has no text form
    /// here; use [`Event::timestamp`]).
    pub fn reserved_text(&self, field: ReservedField) -> Option<&str> {
        match field {
            ReservedField::Message => self.message.as_deref(),
            ReservedField::Host => self.host.as_deref(),
            ReservedField::Service => self.service.as_deref(),
            ReservedField::Status => self.status.as_deref(),
            ReservedField::Source => self.source.as_deref(),
            ReservedField::TraceId => self.trace_id.as_deref(),
            ReservedField::Timestamp => None,
        }
    }
}

/// The fields Datadog reserves: addressed by bare name (`service:web`),
/// while everything else in `attributes` takes an `@`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReservedField {
    Message,
    Host,
    Service,
    Status,
    Source,
    TraceId,
    Timestamp,
}

impl ReservedField {
    pub const ALL: [ReservedField; 7] = [
        ReservedField::Message,
        ReservedField::Host,
        ReservedField::Service,
        ReservedField::Status,
        ReservedField::Source,
        ReservedField::TraceId,
        ReservedField::Timestamp,
    ];

    /// The name users type and the key in the serialized event.
    pub fn name(self) -> &'static str {
        match self {
            ReservedField::Message => "message",
            ReservedField::Host => "host",
            ReservedField::Service => "service",
            ReservedField::Status => "status",
            ReservedField::Source => "source",
            ReservedField::TraceId => "trace_id",
            ReservedField::Timestamp => "timestamp",
        }
    }

    /// Case-sensitive, like Datadog: `Service:x` is a tag key, not the field.
    pub fn from_name(name: &str) -> Option<ReservedField> {
        ReservedField::ALL
            .into_iter()
            .find(|field| field.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_corpus_shape() {
        let event: Event = serde_json::from_str(
            r#"{"message":"m","service":"web","tags":["env:prod"],"attributes":{"usr":{"email":"a@b.c"}}}"#,
        )
        .expect("valid event");
        assert_eq!(event.reserved_text(ReservedField::Service), Some("web"));
        assert_eq!(event.tags, vec!["env:prod".to_string()]);
        assert!(event.attributes.contains_key("usr"));
    }

    #[test]
    fn rejects_unknown_top_level_keys() {
        let error = serde_json::from_str::<Event>(r#"{"usr":{"email":"a@b.c"}}"#)
            .expect_err("usr is not a top-level key");
        assert!(error.to_string().contains("unknown field `usr`"), "{error}");
    }

    #[test]
    fn reserved_names_round_trip() {
        for field in ReservedField::ALL {
            assert_eq!(ReservedField::from_name(field.name()), Some(field));
        }
        assert_eq!(ReservedField::from_name("Service"), None);
    }
}

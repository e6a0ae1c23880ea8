//! One search hit in Datadog's shape, rendered straight from the event's
//! stored bytes.
//!
//! Building the parsed event (a map per object) and then a response value
//! from it cost more than finding the hits; here the stored JSON is read
//! into borrowed fields and the custom attributes are copied as they are:
//! stored bytes are compact, with keys in order, exactly what serializing
//! them again would give.

use std::borrow::Cow;

use evident_model::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::search::{Flavor, format_time};

/// The parts of a stored event a hit shows.
#[derive(Deserialize)]
struct StoredView<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    discovery_timestamp: Timestamp,
    #[serde(borrow)]
    event: EventView<'a>,
}

#[derive(Deserialize)]
struct EventView<'a> {
    #[serde(default)]
    timestamp: Option<Timestamp>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    host: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    service: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tags: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    attributes: Option<&'a RawValue>,
}

/// Keys in the order a JSON object map would sort them, so that the answer
/// reads the same as before it was rendered this way.
#[derive(Serialize)]
struct Hit<'a> {
    attributes: HitAttributes<'a>,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct HitAttributes<'a> {
    attributes: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    tags: &'a [Cow<'a, str>],
    timestamp: String,
}

/// The hit for the event stored as `raw`.
pub fn render(raw: &[u8], flavor: Flavor) -> Result<Box<RawValue>, serde_json::Error> {
    let stored: StoredView<'_> = serde_json::from_slice(raw)?;
    let event = &stored.event;
    let empty = RawValue::from_string("{}".into())?;
    let logs = flavor == Flavor::Logs;
    let hit = Hit {
        attributes: HitAttributes {
            attributes: event.attributes.unwrap_or(&empty),
            host: event.host.as_deref().filter(|_| logs),
            message: event.message.as_deref(),
            service: event.service.as_deref(),
            status: event.status.as_deref().filter(|_| logs),
            tags: &event.tags,
            timestamp: format_time(event.timestamp.unwrap_or(stored.discovery_timestamp)),
        },
        id: &stored.id,
        kind: match flavor {
            Flavor::Logs => "log",
            Flavor::Audit => "audit",
        },
    };
    serde_json::value::to_raw_value(&hit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_model::StoredEvent;
    use serde_json::json;

    fn stored(event: serde_json::Value) -> Vec<u8> {
        StoredEvent {
            id: "0190f5b2-0000-7000-8000-000000000001".into(),
            discovery_timestamp: Timestamp::from_nanos(1_714_564_800_123_000_000),
            tiebreaker: 7,
            random_draw: 0.5,
            ingest_size_in_bytes: 10,
            truncated: false,
            event: serde_json::from_value(event).expect("event"),
        }
        .to_bytes()
    }

    #[test]
    fn renders_the_datadog_shape_from_the_bytes() {
        let raw = stored(json!({
            "timestamp": 1_714_564_800_000i64,
            "message": "say \"hi\" \u{e9}",
            "host": "h", "service": "web", "status": "info",
            "tags": ["env:prod"],
            "attributes": {"usr": {"email": "a@b.co"}, "n": 1.5, "z": [1, {"b": null}]}
        }));
        let logs: serde_json::Value =
            serde_json::from_str(render(&raw, Flavor::Logs).expect("render").get()).expect("json");
        assert_eq!(
            logs,
            json!({
                "id": "0190f5b2-0000-7000-8000-000000000001",
                "type": "log",
                "attributes": {
                    "attributes": {"usr": {"email": "a@b.co"}, "n": 1.5, "z": [1, {"b": null}]},
                    "host": "h", "message": "say \"hi\" \u{e9}", "service": "web", "status": "info",
                    "tags": ["env:prod"], "timestamp": "2024-05-01T12:00:00.000Z"
                }
            })
        );
        let audit: serde_json::Value =
            serde_json::from_str(render(&raw, Flavor::Audit).expect("render").get()).expect("json");
        assert_eq!(audit["type"], "audit");
        assert!(audit["attributes"].get("host").is_none());
        assert!(audit["attributes"].get("status").is_none());
    }

    #[test]
    fn an_event_without_attributes_or_time_gets_empty_ones_and_its_arrival() {
        let raw = stored(json!({"message": "m"}));
        let hit: serde_json::Value =
            serde_json::from_str(render(&raw, Flavor::Logs).expect("render").get()).expect("json");
        assert_eq!(hit["attributes"]["attributes"], json!({}));
        assert_eq!(hit["attributes"]["tags"], json!([]));
        assert_eq!(hit["attributes"]["timestamp"], "2024-05-01T12:00:00.123Z");
    }

    #[test]
    fn damaged_bytes_are_an_error() {
        assert!(render(b"{\"id\":", Flavor::Logs).is_err());
    }
}

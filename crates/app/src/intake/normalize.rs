//! From a Datadog log item (`HTTPLogItem`: any JSON object) to an
//! [`Event`]: the reserved-attribute mapping of Datadog's JSON
//! preprocessing, tag normalisation and the per-event size limit.
//!
//! | field | taken from (first present wins) |
//! | --- | --- |
//! | `host` | `host`, `hostname`, `syslog.hostname`, query `host`/`hostname` |
//! | `source` | `ddsource`, `source`, query `ddsource` |
//! | `service` | `service`, `syslog.appname`, query `service` |
//! | `status` | `status`, `severity`, `level`, `syslog.severity` (normalised; default `info`) |
//! | `timestamp` | `@timestamp`, `timestamp`, `_timestamp`, `Timestamp`, `eventTime`, `date`, `published_date`, `syslog.timestamp` (ISO 8601 or epoch ms; default: receive time) |
//! | `message` | `message` (an object is merged into the attributes, keeping its inner `message`) |
//! | `trace_id` | `dd.trace_id`, `contextMap.dd.trace_id` |
//! | `tags` | `ddtags` (comma-separated or a list) and query `ddtags`, plus `source:<source>` |
//!
//! Transport keys (`host`, `hostname`, `ddsource`, `ddtags`, `service`,
//! `message`, `timestamp`) do not stay in the attributes; the other source
//! keys do (`@status`, `@level`, `@eventTime` keep working: audit events are
//! searched as `@status:error`).

use evident_model::{Event, Timestamp};
use serde_json::{Map, Value};

/// What the request says about all of its events (query parameters) and
/// when it arrived.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub received: Option<Timestamp>,
    pub tags: Vec<String>,
    pub source: Option<String>,
    pub service: Option<String>,
    pub host: Option<String>,
}

/// Largest stored event: Datadog accepts bigger logs and truncates them.
pub const MAX_EVENT_BYTES: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub event: Event,
    pub truncated: bool,
}

const HOST_KEYS: [&str; 3] = ["host", "hostname", "syslog.hostname"];
const SERVICE_KEYS: [&str; 2] = ["service", "syslog.appname"];
const STATUS_KEYS: [&str; 4] = ["status", "severity", "level", "syslog.severity"];
const TIMESTAMP_KEYS: [&str; 8] = [
    "@timestamp",
    "timestamp",
    "_timestamp",
    "Timestamp",
    "eventTime",
    "date",
    "published_date",
    "syslog.timestamp",
];
const TRACE_KEYS: [&str; 2] = ["dd.trace_id", "contextMap.dd.trace_id"];
/// Keys that only carry the reserved value and are dropped from the
/// attributes once mapped.
const TRANSPORT_KEYS: [&str; 7] = [
    "host",
    "hostname",
    "ddsource",
    "ddtags",
    "service",
    "message",
    "timestamp",
];

/// Reads a dotted key: a literal key first (`"syslog.hostname": ...`), then
/// the nested path.
fn lookup<'a>(item: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(value) = item.get(key) {
        return Some(value);
    }
    let mut segments = key.split('.');
    let mut current = item.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn first_text(item: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| lookup(item, key).and_then(scalar_text))
        .filter(|text| !text.is_empty())
}

/// Maps an item to an event. `raw_size` is the item's size as received:
/// far below the limit, the event cannot need truncating and is not
/// measured again.
pub fn normalize(
    mut item: Map<String, Value>,
    raw_size: usize,
    context: &RequestContext,
) -> Normalized {
    // Agent-JSON protocol: the message is an object holding the attributes.
    if let Some(Value::Object(inner)) = item.get("message").cloned() {
        item.remove("message");
        for (key, value) in inner {
            item.entry(key).or_insert(value);
        }
    }

    let host = first_text(&item, &HOST_KEYS).or_else(|| context.host.clone());
    let source = first_text(&item, &["ddsource", "source"]).or_else(|| context.source.clone());
    let service = first_text(&item, &SERVICE_KEYS).or_else(|| context.service.clone());
    let status = first_text(&item, &STATUS_KEYS)
        .map_or_else(|| "info".to_string(), |raw| normalize_status(&raw));
    let trace_id = first_text(&item, &TRACE_KEYS);
    let timestamp = TIMESTAMP_KEYS
        .iter()
        .filter_map(|key| lookup(&item, key))
        .find_map(parse_timestamp)
        .or(context.received);
    let message = match item.get("message") {
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => scalar_text(other),
        None => None,
    };

    let mut tags: Vec<String> = Vec::new();
    match item.get("ddtags") {
        Some(Value::String(list)) => tags.extend(list.split(',').map(str::to_string)),
        Some(Value::Array(list)) => tags.extend(list.iter().filter_map(scalar_text)),
        Some(other) => tags.extend(scalar_text(other)),
        None => {}
    }
    tags.extend(context.tags.iter().cloned());
    if let Some(source) = &source {
        tags.push(format!("source:{source}"));
    }
    let tags = normalize_tags(tags);

    // A transport key leaves the attributes only if its value was taken; a
    // value of the wrong type (`"host": {...}`, `"message": [...]`) stays
    // an attribute rather than being lost. `ddtags` lists were taken too.
    for key in TRANSPORT_KEYS {
        let taken = match item.get(key) {
            Some(Value::Array(_)) => key == "ddtags",
            Some(value) => scalar_text(value).is_some(),
            None => false,
        };
        if taken {
            item.remove(key);
        }
    }
    // `source` is the reserved field only when it was a plain string; an
    // object under `source` is an ordinary attribute.
    if item.get("source").is_some_and(Value::is_string) {
        item.remove("source");
    }

    let event = Event {
        timestamp,
        message,
        host,
        service,
        status: Some(status),
        source,
        trace_id,
        tags,
        attributes: item,
    };
    // Mapping adds little: a few reserved fields and the request's tags.
    let added = context.tags.iter().map(|tag| tag.len() + 3).sum::<usize>() + 4096;
    if raw_size.saturating_add(added) < MAX_EVENT_BYTES {
        return Normalized {
            event,
            truncated: false,
        };
    }
    truncate(event)
}

/// Datadog's severities, from syslog numbers and the usual spellings;
/// anything unknown is `info`.
pub fn normalize_status(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    let status = match lower.as_str() {
        "0" | "emerg" | "emergency" | "panic" => "emerg",
        "1" | "alert" => "alert",
        "2" | "crit" | "critical" | "fatal" => "critical",
        "3" | "err" | "error" | "failure" | "failed" => "error",
        "4" | "warn" | "warning" => "warn",
        "5" | "notice" => "notice",
        "6" | "info" | "information" | "informational" => "info",
        "7" | "debug" | "trace" | "verbose" => "debug",
        "ok" | "success" | "succeeded" => "ok",
        _ => "info",
    };
    status.to_string()
}

/// Tags as Datadog stores them: lowercased, characters other than letters,
/// digits and `_ - : . /` replaced by `_`, no trailing `:`, at most 200
/// characters, no duplicates, empty ones dropped.
pub fn normalize_tags(tags: Vec<String>) -> Vec<String> {
    let mut normalized: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let cleaned: String = tag
            .trim()
            .to_lowercase()
            .chars()
            .map(|ch| {
                if ch.is_alphanumeric() || matches!(ch, '_' | '-' | ':' | '.' | '/') {
                    ch
                } else {
                    '_'
                }
            })
            .take(200)
            .collect();
        let cleaned = cleaned.trim_end_matches(':').to_string();
        if !cleaned.is_empty() && !normalized.contains(&cleaned) {
            normalized.push(cleaned);
        }
    }
    normalized
}

fn parse_timestamp(value: &Value) -> Option<Timestamp> {
    match value {
        Value::Number(number) => {
            let millis = number
                .as_i64()
                .or_else(|| number.as_f64().map(|float| float as i64))?;
            Timestamp::from_millis(millis)
        }
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// Cuts an event above [`MAX_EVENT_BYTES`], largest part first: the
/// message is shortened (and marked `...TRUNCATED`), a large attribute is
/// replaced by a note of its size.
pub fn truncate(mut event: Event) -> Normalized {
    let size = |event: &Event| serde_json::to_vec(event).map_or(usize::MAX, |bytes| bytes.len());
    let mut current = size(&event);
    let truncated = current > MAX_EVENT_BYTES;
    while current > MAX_EVENT_BYTES {
        let message_length = event.message.as_ref().map_or(0, String::len);
        let largest = event
            .attributes
            .iter()
            .map(|(key, value)| {
                (
                    key.clone(),
                    serde_json::to_vec(value).map_or(0, |bytes| bytes.len()),
                )
            })
            .max_by_key(|(_, length)| *length);
        let attribute_length = largest.as_ref().map_or(0, |(_, length)| *length);
        if message_length >= attribute_length && message_length > 64 {
            if let Some(message) = &mut event.message {
                let mut cut = message.len().saturating_sub(current - MAX_EVENT_BYTES + 64);
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push_str("...TRUNCATED");
            }
        } else if let Some((key, length)) = largest.filter(|(_, length)| *length > 64) {
            event
                .attributes
                .insert(key, Value::String(format!("...TRUNCATED ({length} bytes)")));
        } else {
            // Only many small parts are left: keep what surely fits.
            event.attributes.clear();
            event.tags.truncate(100);
            break;
        }
        current = size(&event);
    }
    Normalized { event, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(item: Value) -> Normalized {
        let Value::Object(item) = item else {
            panic!("an object")
        };
        let context = RequestContext {
            received: Some(Timestamp::from_millis(1_700_000_000_000).expect("in range")),
            ..RequestContext::default()
        };
        let size = serde_json::to_vec(&item).map_or(0, |bytes| bytes.len());
        normalize(item, size, &context)
    }

    #[test]
    fn reserved_attributes_are_mapped() {
        let normalized = run(json!({
            "ddsource": "datadog", "service": "web", "hostname": "h1", "message": "user created dashboard",
            "ddtags": "env:Prod,Team:Sec Ops", "status": "ERROR", "timestamp": 1_714_564_800_000_i64,
            "usr": {"email": "a@b.co"}, "evt": {"name": "dashboard"}, "dd": {"trace_id": "abc"}
        }));
        let event = normalized.event;
        assert_eq!(event.source.as_deref(), Some("datadog"));
        assert_eq!(event.service.as_deref(), Some("web"));
        assert_eq!(event.host.as_deref(), Some("h1"));
        assert_eq!(event.status.as_deref(), Some("error"));
        assert_eq!(event.trace_id.as_deref(), Some("abc"));
        assert_eq!(event.message.as_deref(), Some("user created dashboard"));
        assert_eq!(event.timestamp, Timestamp::from_millis(1_714_564_800_000));
        assert_eq!(event.tags, ["env:prod", "team:sec_ops", "source:datadog"]);
        assert_eq!(
            event.attributes.get("status"),
            Some(&json!("ERROR")),
            "@status keeps working"
        );
        assert!(
            event.attributes.get("ddsource").is_none()
                && event.attributes.get("hostname").is_none()
        );
        assert_eq!(
            event.attributes.get("usr"),
            Some(&json!({"email": "a@b.co"}))
        );
        assert!(!normalized.truncated);
    }

    #[test]
    fn defaults_and_alternatives() {
        let event = run(json!({"level": "warning", "eventTime": "2024-05-01T12:00:00Z", "source": {"ip": "1.2.3.4"}})).event;
        assert_eq!(event.status.as_deref(), Some("warn"));
        assert_eq!(event.timestamp, "2024-05-01T12:00:00Z".parse().ok());
        assert_eq!(
            event.attributes.get("eventTime"),
            Some(&json!("2024-05-01T12:00:00Z"))
        );
        assert_eq!(
            event.attributes.get("source"),
            Some(&json!({"ip": "1.2.3.4"})),
            "an object is an attribute"
        );
        let event = run(json!({"message": "x", "timestamp": "not a time"})).event;
        assert_eq!(
            event.timestamp,
            Timestamp::from_millis(1_700_000_000_000),
            "receive time"
        );
        assert_eq!(event.status.as_deref(), Some("info"));
    }

    #[test]
    fn agent_json_messages_are_flattened() {
        let event =
            run(json!({"message": {"message": "inner", "usr": {"id": 1}}, "service": "s"})).event;
        assert_eq!(event.message.as_deref(), Some("inner"));
        assert_eq!(event.attributes.get("usr"), Some(&json!({"id": 1})));
    }

    #[test]
    fn oversized_events_are_truncated() {
        let event = run(json!({"message": "m".repeat(1_500_000), "a": 1})).event;
        let bytes = serde_json::to_vec(&event).expect("json").len();
        assert!(bytes <= MAX_EVENT_BYTES, "{bytes}");
        assert!(
            event
                .message
                .as_deref()
                .is_some_and(|m| m.ends_with("...TRUNCATED"))
        );
        let normalized = run(json!({"message": "small", "blob": "b".repeat(2_000_000)}));
        assert!(normalized.truncated);
        assert_eq!(
            normalized.event.message.as_deref(),
            Some("small"),
            "the largest part is cut first"
        );
        assert!(
            normalized.event.attributes["blob"]
                .as_str()
                .is_some_and(|s| s.starts_with("...TRUNCATED ("))
        );
    }

    #[test]
    fn reserved_fields_of_the_wrong_type() {
        let event = run(json!({
            "service": 123, "status": 5, "host": {"name": "h"}, "message": ["a", "b"],
            "ddtags": 7, "timestamp": {"not": "a time"}, "ddsource": true
        }))
        .event;
        assert_eq!(event.service.as_deref(), Some("123"));
        assert_eq!(event.status.as_deref(), Some("notice"));
        assert_eq!(event.host, None);
        assert_eq!(
            event.attributes.get("host"),
            Some(&json!({"name": "h"})),
            "kept, not lost"
        );
        assert_eq!(event.message, None);
        assert_eq!(event.attributes.get("message"), Some(&json!(["a", "b"])));
        assert_eq!(event.source.as_deref(), Some("true"));
        assert_eq!(
            event.timestamp,
            Timestamp::from_millis(1_700_000_000_000),
            "receive time"
        );
        assert_eq!(
            event.attributes.get("timestamp"),
            Some(&json!({"not": "a time"}))
        );
        assert_eq!(event.tags, ["7", "source:true"]);
    }

    #[test]
    fn statuses() {
        for (raw, expected) in [
            ("3", "error"),
            ("Critical", "critical"),
            ("OK", "ok"),
            ("whatever", "info"),
            ("7", "debug"),
        ] {
            assert_eq!(normalize_status(raw), expected, "{raw}");
        }
    }
}

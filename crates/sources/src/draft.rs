//! What every source's normalizer fills in, and how that becomes an
//! event: the dd.audit attributes, the original record under the
//! source's namespace, the reserved fields.

use evident_model::{Event, Timestamp};
use serde_json::{Map, Value};

use crate::fields::{Attributes, at};

/// A record's normalized fields, before it becomes an event.
#[derive(Debug, Default)]
pub struct Draft {
    pub attributes: Attributes,
    pub timestamp: Option<Timestamp>,
    /// The operation failed: `status:error`.
    pub failed: bool,
    /// The status when it did not fail (a source's own severity); `info`
    /// when absent.
    pub status: Option<&'static str>,
    pub message: String,
}

impl Draft {
    /// The event: `source` and `service` as given, the original `record`
    /// unchanged under the dotted `namespace` (`gcp.audit`).
    pub fn into_event(
        self,
        source: &str,
        service: &str,
        namespace: &str,
        record: Map<String, Value>,
    ) -> Event {
        let mut attributes = self.attributes;
        attributes.set(namespace, Value::Object(record));
        let status = if self.failed {
            "error"
        } else {
            self.status.unwrap_or("info")
        };
        Event {
            timestamp: self.timestamp,
            message: Some(self.message),
            service: Some(service.to_string()),
            status: Some(status.to_string()),
            source: Some(source.to_string()),
            attributes: attributes.into_map(),
            ..Event::default()
        }
    }
}

/// The first of `paths` that holds a time: text (RFC 3339, `YYYY-MM-DD
/// HH:MM:SS[.f]` as UTC) or epoch milliseconds.
pub fn first_time(record: &Map<String, Value>, paths: &[&str]) -> Option<Timestamp> {
    paths.iter().find_map(|path| match at(record, path)? {
        Value::String(text) => text.parse().ok(),
        Value::Number(number) => number
            .as_i64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|ms| ms.is_finite())
                    .map(|ms| ms as i64)
            })
            .and_then(Timestamp::from_millis),
        _ => None,
    })
}

/// Whether `text` looks like an email address.
pub fn is_email(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn times_from_text_or_epoch_milliseconds() {
        let Value::Object(record) =
            json!({"a": "x", "b": 1621305118553_i64, "c": "2024-01-01 00:00:00"})
        else {
            panic!("object")
        };
        assert_eq!(
            first_time(&record, &["a", "b"]),
            Timestamp::from_millis(1621305118553)
        );
        assert_eq!(
            first_time(&record, &["c"]),
            "2024-01-01T00:00:00Z".parse().ok()
        );
        assert_eq!(first_time(&record, &["a", "missing"]), None);
    }
}

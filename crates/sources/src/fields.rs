//! Reading a source record by dotted path and writing the normalized
//! attributes by dotted path.

use std::net::IpAddr;

use serde_json::{Map, Value};

/// The value at a dotted path (`userIdentity.sessionContext.sessionIssuer.userName`);
/// a number steps into an array (`targetResources.0.id`).
pub fn at<'a>(record: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let mut current = record.get(segments.next()?)?;
    for segment in segments {
        current = match current {
            Value::Object(object) => object.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The non-empty text at a dotted path.
pub fn text<'a>(record: &'a Map<String, Value>, path: &str) -> Option<&'a str> {
    at(record, path)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// `text` when it is an IP address (sources also put service names and
/// placeholders where an address goes).
pub fn ip_address(text: &str) -> Option<IpAddr> {
    text.trim().parse().ok()
}

/// The attributes of a normalized event, written by dotted path.
#[derive(Debug, Default)]
pub struct Attributes(Map<String, Value>);

impl Attributes {
    /// Sets `path` (creating the objects on the way) to `value`.
    pub fn set(&mut self, path: &str, value: impl Into<Value>) {
        let mut segments: Vec<&str> = path.split('.').collect();
        let Some(last) = segments.pop() else {
            return;
        };
        let mut current = &mut self.0;
        for segment in segments {
            let slot = current
                .entry(segment.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(inner) = slot else {
                return;
            };
            current = inner;
        }
        current.insert(last.to_string(), value.into());
    }

    /// Sets `path` when there is a value.
    pub fn set_some(&mut self, path: &str, value: Option<impl Into<Value>>) {
        if let Some(value) = value {
            self.set(path, value);
        }
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_and_writes_dotted_paths() {
        let Value::Object(record) = json!({"a": {"b": {"c": " x "}}, "e": "", "l": [{"id": "i"}]})
        else {
            panic!("object")
        };
        assert_eq!(text(&record, "a.b.c"), Some("x"));
        assert_eq!(text(&record, "e"), None);
        assert_eq!(text(&record, "a.z"), None);
        assert_eq!(text(&record, "l.0.id"), Some("i"));
        assert_eq!(text(&record, "l.1.id"), None);
        let mut attributes = Attributes::default();
        attributes.set("usr.email", "a@b.c");
        attributes.set("usr.id", "1");
        attributes.set_some("usr.name", None::<String>);
        assert_eq!(
            Value::Object(attributes.into_map()),
            json!({"usr": {"email": "a@b.c", "id": "1"}})
        );
    }

    #[test]
    fn only_addresses_are_ip_addresses() {
        assert!(ip_address("10.0.0.1").is_some());
        assert!(ip_address("2001:db8::1").is_some());
        assert!(ip_address("AWS Internal").is_none());
        assert!(ip_address("ec2.amazonaws.com").is_none());
    }
}

//! GitHub audit log events (organization and enterprise), as the audit
//! log API or streaming delivers them. The mapping is a table in
//! `docs/sources.md`.

use evident_model::Event;
use serde_json::{Map, Value};

use crate::NormalizeError;
use crate::action;
use crate::draft::{Draft, first_time};
use crate::fields::{Attributes, at, ip_address, text};

pub const SOURCE: &str = "github";

/// Whether `record` looks like a GitHub audit log event.
pub fn detect(record: &Map<String, Value>) -> bool {
    text(record, "action").is_some()
        && record.contains_key("actor")
        && !["eventType", "protoPayload", "eventSource", "operationName"]
            .iter()
            .any(|key| record.contains_key(*key))
}

pub fn normalize(record: Map<String, Value>) -> Result<Event, NormalizeError> {
    let Some(name) = text(&record, "action") else {
        return Err(NormalizeError::missing(SOURCE, "action"));
    };
    let mut attributes = Attributes::default();
    attributes.set("evt.name", name);
    let actor = text(&record, "actor");
    attributes.set_some("usr.name", actor);
    if let Some(id) = at(&record, "actor_id").filter(|id| !id.is_null()) {
        attributes.set("usr.id", id.to_string().trim_matches('"'));
    }
    let bot = at(&record, "actor_is_bot").and_then(Value::as_bool) == Some(true)
        || actor.is_some_and(|actor| actor.ends_with("[bot]"));
    attributes.set_some(
        "evt.actor.type",
        actor.map(|_| if bot { "bot" } else { "user" }),
    );
    let (category, operation) = name.split_once('.').unwrap_or((name, name));
    attributes.set_some("action", operation_action(&record, operation));
    attributes.set("asset.type", category);
    attributes.set_some(
        "asset.id",
        text(&record, "repo")
            .or_else(|| text(&record, "repository"))
            .or_else(|| text(&record, "org"))
            .or_else(|| text(&record, "business")),
    );
    if let Some(address) = text(&record, "actor_ip").and_then(ip_address) {
        attributes.set("network.client.ip", address.to_string());
    }
    attributes.set_some(
        "network.client.geoip.country.iso_code",
        text(&record, "actor_location.country_code"),
    );
    attributes.set_some("http.useragent", text(&record, "user_agent"));
    attributes.set_some("auth_method", text(&record, "programmatic_access_type"));

    let mut message = format!("{name} by {}", actor.unwrap_or("an unknown actor"));
    if let Some(target) = text(&record, "repo").or_else(|| text(&record, "org")) {
        message.push_str(&format!(" on {target}"));
    }
    let draft = Draft {
        attributes,
        timestamp: first_time(
            &record,
            &["@timestamp", "created_at", "at_sign_timestamp", "timestamp"],
        ),
        failed: false,
        status: None,
        message,
    };
    Ok(draft.into_event(SOURCE, SOURCE, "github.audit", record))
}

/// `operation_type` (`create`, `modify`, `remove`, `access`, `transfer`)
/// when given, else the verb of the action's operation
/// (`protected_branch.destroy` → deleted).
fn operation_action(record: &Map<String, Value>, operation: &str) -> Option<String> {
    if let Some(kind) = text(record, "operation_type") {
        return match kind {
            "access" => Some("accessed".into()),
            other => action::of_verb(other),
        };
    }
    action::of_verb(operation.split('_').next()?)
}

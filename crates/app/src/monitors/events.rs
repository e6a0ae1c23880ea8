//! Monitors' own audit events: each state change of a group
//! (`@evt.name:monitor_alert`) and each notification attempt
//! (`@evt.name:monitor_notification`), so that the alert history is
//! searchable and verifiable like everything else. Their actor is evident
//! itself (`@usr.id:evident`, `@evt.actor.type:system`).

use evident_model::{Event, StoredEvent};
use evident_monitor::Level;
use serde_json::{Map, Value, json};

use super::outbox::Notification;
use crate::activity::own_event;

fn system_event(attributes: Value, message: String, status: &str) -> StoredEvent {
    let mut attributes = match attributes {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    attributes.insert(
        "usr".into(),
        json!({"id": "evident", "name": "evident monitors"}),
    );
    if let Some(Value::Object(evt)) = attributes.get_mut("evt") {
        evt.insert("actor".into(), json!({"type": "system"}));
    }
    own_event(Event {
        message: Some(message),
        service: Some("evident".into()),
        source: Some("evident".into()),
        status: Some(status.into()),
        attributes,
        ..Event::default()
    })
}

fn status_of(level: Level) -> &'static str {
    match level {
        Level::Ok => "ok",
        Level::Warn | Level::NoData => "warn",
        Level::Alert => "error",
    }
}

/// A group's state change (or reminder, or new value) as an audit event.
pub fn alert_event(notification: &Notification, muted: bool) -> StoredEvent {
    let action = match notification.transition() {
        "Recovered" => "recovered",
        "Re-Triggered" => "renotified",
        _ => "triggered",
    };
    let value = notification.value.map_or(Value::Null, |value| json!(value));
    let attributes = json!({
        "evt": {"name": "monitor_alert"},
        "action": action,
        "asset": {"type": "monitor", "id": notification.monitor_id.to_string(), "name": notification.monitor_name},
        "monitor": {
            "id": notification.monitor_id,
            "name": notification.monitor_name,
            "query": notification.query,
            "group": notification.group,
            "group_values": notification.group_values,
            "previous_state": notification.from.name(),
            "state": notification.to.name(),
            "transition": notification.transition(),
            "cause": notification.cause,
            "value": value,
            "threshold": notification.threshold,
            "notification_key": notification.key,
            "handles": notification.handles,
            "muted": muted,
        },
    });
    let on = if notification.group == evident_monitor::evaluator::WHOLE {
        String::new()
    } else {
        format!(" on {}", notification.group)
    };
    system_event(
        attributes,
        format!(
            "monitor {:?} {}{on}: {} → {}",
            notification.monitor_name,
            notification.transition().to_lowercase(),
            notification.from.name(),
            notification.to.name()
        ),
        status_of(notification.to),
    )
}

/// One attempt to deliver a notification to one handle.
#[derive(Debug)]
pub struct Attempt<'a> {
    pub notification: &'a Notification,
    pub handle: &'a str,
    pub channel: &'a str,
    pub attempt: u32,
    pub status_code: Option<u16>,
    pub error: Option<&'a str>,
    pub final_attempt: bool,
    /// A test notification asked for by a user, not a trigger.
    pub test: bool,
}

pub fn notification_event(attempt: &Attempt<'_>) -> StoredEvent {
    let ok = attempt.error.is_none();
    let attributes = json!({
        "evt": {"name": "monitor_notification"},
        "action": if ok { "sent" } else { "failed" },
        "asset": {"type": "monitor", "id": attempt.notification.monitor_id.to_string(), "name": attempt.notification.monitor_name},
        "monitor": {
            "id": attempt.notification.monitor_id,
            "name": attempt.notification.monitor_name,
            "group": attempt.notification.group,
            "notification_key": attempt.notification.key,
            "transition": attempt.notification.transition(),
        },
        "notification": {
            "handle": attempt.handle,
            "channel": attempt.channel,
            "attempt": attempt.attempt,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "final": attempt.final_attempt,
            "test": attempt.test,
        },
    });
    let message = match attempt.error {
        None => format!(
            "monitor {:?}: notified @{}",
            attempt.notification.monitor_name, attempt.handle
        ),
        Some(error) => format!(
            "monitor {:?}: notifying @{} failed (attempt {}): {error}",
            attempt.notification.monitor_name, attempt.handle, attempt.attempt
        ),
    };
    system_event(attributes, message, if ok { "info" } else { "error" })
}

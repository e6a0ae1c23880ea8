//! Okta System Log events (`LogEvent`), as the System Log API or an
//! event hook delivers them. The mapping is a table in `docs/sources.md`.

use evident_model::Event;
use serde_json::{Map, Value};

use crate::NormalizeError;
use crate::action;
use crate::draft::{Draft, first_time, is_email};
use crate::fields::{Attributes, ip_address, text};

pub const SOURCE: &str = "okta";

/// Whether `record` looks like an Okta System Log event.
pub fn detect(record: &Map<String, Value>) -> bool {
    record.contains_key("eventType")
        && (record.contains_key("actor") || record.contains_key("published"))
        && !record.contains_key("eventSource")
}

pub fn normalize(record: Map<String, Value>) -> Result<Event, NormalizeError> {
    let Some(event_type) = text(&record, "eventType") else {
        return Err(NormalizeError::missing(SOURCE, "eventType"));
    };
    let mut attributes = Attributes::default();
    attributes.set("evt.name", event_type);
    attributes.set_some("evt.category", text(&record, "legacyEventType"));
    let login = text(&record, "actor.alternateId");
    attributes.set_some("usr.email", login.filter(|login| is_email(login)));
    attributes.set_some("usr.name", text(&record, "actor.displayName").or(login));
    attributes.set_some("usr.id", text(&record, "actor.id"));
    attributes.set_some(
        "evt.actor.type",
        text(&record, "actor.type").map(actor_type),
    );
    attributes.set_some("action", event_action(event_type));
    attributes.set_some("asset.type", text(&record, "target.0.type"));
    attributes.set_some(
        "asset.id",
        text(&record, "target.0.alternateId")
            .filter(|id| *id != "unknown")
            .or_else(|| text(&record, "target.0.id")),
    );
    if let Some(address) = text(&record, "client.ipAddress").and_then(ip_address) {
        attributes.set("network.client.ip", address.to_string());
    }
    attributes.set_some(
        "http.useragent",
        text(&record, "client.userAgent.rawUserAgent"),
    );
    attributes.set_some(
        "auth_method",
        text(&record, "authenticationContext.credentialType")
            .or_else(|| text(&record, "authenticationContext.authenticationProvider")),
    );
    let result = text(&record, "outcome.result");
    let failed = result.is_some_and(|result| ["FAILURE", "DENY"].contains(&result));
    if failed {
        attributes.set_some("error.kind", result);
        attributes.set_some("error.message", text(&record, "outcome.reason"));
    }
    let actor = login
        .or_else(|| text(&record, "actor.displayName"))
        .unwrap_or("an unknown actor");
    let what = text(&record, "displayMessage").unwrap_or(event_type);
    let mut message = format!("{what} by {actor}");
    if failed {
        message.push_str(&format!(
            " failed: {}",
            text(&record, "outcome.reason")
                .or(result)
                .unwrap_or("FAILURE")
        ));
    }
    let status = text(&record, "severity").map(|severity| match severity {
        "WARN" => "warn",
        "ERROR" => "error",
        "DEBUG" => "debug",
        _ => "info",
    });
    let draft = Draft {
        attributes,
        timestamp: first_time(&record, &["published"]),
        failed,
        status,
        message,
    };
    Ok(draft.into_event(SOURCE, SOURCE, "okta.system_log", record))
}

fn actor_type(kind: &str) -> String {
    match kind {
        "User" => "user".into(),
        "SystemPrincipal" => "system".into(),
        "PublicClientApp" | "AppInstance" => "app".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// `user.session.start` → authenticated, `user.session.end` → logged_out,
/// `user.authentication.*` → authenticated, else the last part's verb
/// (`group.user_membership.add` → created).
fn event_action(event_type: &str) -> Option<String> {
    match event_type {
        "user.session.start" => return Some("authenticated".into()),
        "user.session.end" => return Some("logged_out".into()),
        _ => {}
    }
    if event_type.starts_with("user.authentication.") {
        return Some("authenticated".into());
    }
    let last = event_type.rsplit('.').next()?;
    action::of_verb(last.split('_').next()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_give_actions() {
        assert_eq!(
            event_action("user.session.start").as_deref(),
            Some("authenticated")
        );
        assert_eq!(
            event_action("user.authentication.auth_via_mfa").as_deref(),
            Some("authenticated")
        );
        assert_eq!(
            event_action("group.user_membership.add").as_deref(),
            Some("created")
        );
        assert_eq!(
            event_action("user.lifecycle.deactivate").as_deref(),
            Some("modified")
        );
    }
}

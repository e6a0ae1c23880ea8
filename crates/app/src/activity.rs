//! evident's own activity as audit events, kept in the same tamper-evident
//! log as the events it serves: who ran which SQL statement, through which
//! surface. A statement runs only once its record is durable, so nothing
//! is read unrecorded.
//!
//! The events are searchable like any other:
//! `source:evident @evt.name:sql_query @usr.id:key:3f2a…`.

use evident_model::{Event, StoredEvent, Timestamp};
use evident_query::sql::parameters::Parameter;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Evident;
use crate::error::AppError;
use crate::intake::ids;

/// Longer statements are cut in the record (and flagged), so that a
/// pasted megabyte does not become a megabyte event.
const MAX_RECORDED_STATEMENT: usize = 64 * 1024;

/// Who ran a statement: the key they presented, by fingerprint (the first
/// 12 hex digits of its SHA-256; the key store holds the full hash).
pub fn key_actor(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("key:{hex}")
}

/// Where a statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Http,
    Cli,
    PostgresWire,
}

impl Surface {
    pub fn name(self) -> &'static str {
        match self {
            Surface::Http => "http",
            Surface::Cli => "cli",
            Surface::PostgresWire => "postgres",
        }
    }
}

/// One SQL statement about to run.
#[derive(Debug)]
pub struct SqlActivity<'a> {
    pub actor: &'a str,
    pub surface: Surface,
    pub statement: &'a str,
    /// Values bound to `$1`, ... (PostgreSQL clients).
    pub parameters: &'a [Parameter],
    pub client_ip: Option<String>,
}

/// One of evident's own events (its activity, its checks), stored now with
/// the fields ingest assigns.
pub fn own_event(event: Event) -> StoredEvent {
    let now = Timestamp::now();
    StoredEvent {
        id: ids::event_id(now),
        discovery_timestamp: now,
        tiebreaker: ids::tiebreaker(),
        random_draw: ids::random_draw(),
        ingest_size_in_bytes: 0,
        truncated: false,
        event: Event {
            timestamp: event.timestamp.or(Some(now)),
            ..event
        },
    }
}

impl SqlActivity<'_> {
    /// The stored form, with the fields ingest assigns.
    pub(crate) fn stored(&self) -> StoredEvent {
        own_event(self.event())
    }

    fn event(&self) -> Event {
        let mut statement = self.statement;
        let cut = statement.len() > MAX_RECORDED_STATEMENT;
        if cut {
            let mut end = MAX_RECORDED_STATEMENT;
            while !statement.is_char_boundary(end) {
                end -= 1;
            }
            statement = &statement[..end];
        }
        let mut attributes = json!({
            "evt": {"name": "sql_query", "actor": {"type": "api_key"}},
            "usr": {"id": self.actor},
            "action": "queried",
            "asset": {"type": "sql"},
            "sql": {"query": statement, "surface": self.surface.name(), "truncated": cut},
        });
        if !self.parameters.is_empty() {
            attributes["sql"]["parameters"] =
                self.parameters.iter().map(Parameter::to_json).collect();
        }
        if let Some(ip) = &self.client_ip {
            attributes["network"] = json!({"client": {"ip": ip}});
        }
        let serde_json::Value::Object(attributes) = attributes else {
            unreachable!("built as an object above")
        };
        Event {
            message: Some(format!("{} ran a SQL query", self.actor)),
            service: Some("evident".into()),
            source: Some("evident".into()),
            status: Some("info".into()),
            attributes,
            ..Event::default()
        }
    }
}

/// A change made in evident (a saved view created, renamed, deleted) by
/// `actor`, as an audit event: `@evt.name:<name> @action:<action>`.
pub fn change_event(
    actor: &str,
    name: &str,
    action: &str,
    asset: serde_json::Value,
) -> StoredEvent {
    let attributes = json!({
        "evt": {"name": name},
        "usr": {"id": actor},
        "action": action,
        "asset": asset,
    });
    let serde_json::Value::Object(attributes) = attributes else {
        unreachable!("built as an object above")
    };
    own_event(Event {
        message: Some(format!("{actor} {action} a {name}")),
        service: Some("evident".into()),
        source: Some("evident".into()),
        status: Some("info".into()),
        attributes,
        ..Event::default()
    })
}

/// A refused login (`surface`: `postgres`, `ui`, ...), as an audit event:
/// `@evt.name:authentication @action:login status:error`. The password is
/// never part of it.
pub fn login_failure_event(
    user: &str,
    client_ip: &str,
    surface: &str,
    reason: &str,
) -> StoredEvent {
    let attributes = json!({
        "evt": {"name": "authentication", "outcome": "failure"},
        "usr": {"name": user},
        "action": "login",
        "auth_method": "password",
        "network": {"client": {"ip": client_ip}},
        "evident": {"surface": surface},
        "error": {"message": reason},
    });
    let serde_json::Value::Object(attributes) = attributes else {
        unreachable!("built as an object above")
    };
    own_event(Event {
        message: Some(format!(
            "failed {surface} login of {user:?} from {client_ip}: {reason}"
        )),
        service: Some("evident".into()),
        source: Some("evident".into()),
        status: Some("error".into()),
        attributes,
        ..Event::default()
    })
}

impl Evident {
    /// Appends one of evident's own events and waits until it is durable.
    pub async fn record(&self, event: StoredEvent) -> Result<(), AppError> {
        self.store
            .commit(vec![event])
            .await
            .map(|_| ())
            .map_err(|error| AppError::from_wal(&error, "the audit record"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_names_the_key_not_the_secret() {
        let actor = key_actor("secret-application-key");
        assert!(actor.starts_with("key:") && actor.len() == 16, "{actor}");
        let event = SqlActivity {
            actor: &actor,
            surface: Surface::Http,
            statement: "SELECT 1",
            parameters: &[],
            client_ip: Some("127.0.0.1".into()),
        }
        .event();
        let text = serde_json::to_string(&event).expect("json");
        assert!(!text.contains("secret-application-key"));
        assert!(text.contains("\"query\":\"SELECT 1\""), "{text}");
        assert_eq!(event.attributes["sql"]["surface"], "http");
    }

    #[test]
    fn long_statements_are_cut_on_a_character_boundary() {
        let statement = format!("SELECT '{}'", "é".repeat(MAX_RECORDED_STATEMENT));
        let event = SqlActivity {
            actor: "key:x",
            surface: Surface::Cli,
            statement: &statement,
            parameters: &[],
            client_ip: None,
        }
        .event();
        let recorded = event.attributes["sql"]["query"].as_str().expect("text");
        assert!(recorded.len() <= MAX_RECORDED_STATEMENT);
        assert_eq!(event.attributes["sql"]["truncated"], true);
    }
}

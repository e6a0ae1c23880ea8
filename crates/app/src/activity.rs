//! evident's own activity as audit events, kept in the same tamper-evident
//! log as the events it serves: who ran which SQL statement, through which
//! surface. A statement runs only once its record is durable, so nothing
//! is read unrecorded.
//!
//! The events are searchable like any other:
//! `source:evident @evt.name:sql_query @usr.id:key:3f2a…`.

use evident_model::{Event, StoredEvent, Timestamp};
use evident_query::sql::parameters::Parameter;
use serde_json::{Map, Value, json};

use crate::Evident;
use crate::actor::Actor;
use crate::error::AppError;
use crate::intake::ids;

/// Longer statements are cut in the record (and flagged), so that a
/// pasted megabyte does not become a megabyte event.
const MAX_RECORDED_STATEMENT: usize = 64 * 1024;

/// One SQL statement about to run.
#[derive(Debug)]
pub struct SqlActivity<'a> {
    pub actor: &'a Actor,
    pub statement: &'a str,
    /// Values bound to `$1`, ... (PostgreSQL clients).
    pub parameters: &'a [Parameter],
}

/// One of evident's own events (its activity, its checks), stored now with
/// the fields ingest assigns; its ingest size is its own size, as an
/// event sent to the intake counts its bytes.
pub fn own_event(event: Event) -> StoredEvent {
    let now = Timestamp::now();
    let event = Event {
        timestamp: event.timestamp.or(Some(now)),
        ..event
    };
    let size = serde_json::to_vec(&event).map_or(0, |bytes| bytes.len() as u64);
    StoredEvent {
        id: ids::event_id(now),
        discovery_timestamp: now,
        tiebreaker: ids::tiebreaker(),
        random_draw: ids::random_draw(),
        ingest_size_in_bytes: size,
        truncated: false,
        event,
    }
}

/// evident's own event, with `actor`'s fields merged into `attributes`.
fn event_by(
    actor: &Actor,
    mut attributes: Map<String, Value>,
    message: String,
    status: &str,
) -> StoredEvent {
    actor.describe(&mut attributes);
    own_event(Event {
        message: Some(message),
        service: Some("evident".into()),
        source: Some("evident".into()),
        status: Some(status.into()),
        attributes,
        ..Event::default()
    })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl SqlActivity<'_> {
    /// The stored form, with the fields ingest assigns.
    pub(crate) fn stored(&self) -> StoredEvent {
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
            "evt": {"name": "sql_query"},
            "action": "queried",
            "asset": {"type": "sql"},
            "sql": {"query": statement, "surface": self.actor.surface.name(), "truncated": cut},
        });
        if !self.parameters.is_empty() {
            attributes["sql"]["parameters"] =
                self.parameters.iter().map(Parameter::to_json).collect();
        }
        event_by(
            self.actor,
            object(attributes),
            format!("{} ran a SQL query", self.actor.id),
            "info",
        )
    }
}

/// A change made in evident (a saved view created, renamed, deleted) by
/// `actor`, as an audit event: `@evt.name:<name> @action:<action>`.
pub fn change_event(actor: &Actor, name: &str, action: &str, asset: Value) -> StoredEvent {
    let attributes = json!({
        "evt": {"name": name},
        "action": action,
        "asset": asset,
    });
    event_by(
        actor,
        object(attributes),
        format!("{} {action} a {name}", actor.id),
        "info",
    )
}

/// What a read asked (and, when known, how many results it gave).
#[derive(Debug)]
pub struct ReadActivity<'a> {
    /// `@asset.type`: `search`, `aggregate`, `export`, `live_tail`,
    /// `inclusion_proof`.
    pub kind: &'static str,
    /// The query text (or the event id of a proof).
    pub query: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub results: Option<u64>,
}

/// A read of `actor`, as an audit event: `@evt.name:audit_logs_query
/// @action:queried @asset.type:<kind>`, with `@query.text`.
pub fn read_event(actor: &Actor, read: &ReadActivity<'_>) -> StoredEvent {
    let mut text = read.query;
    if text.len() > MAX_RECORDED_STATEMENT {
        let mut end = MAX_RECORDED_STATEMENT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text = &text[..end];
    }
    let mut query = json!({"text": text});
    if let Some(from) = read.from {
        query["from"] = json!(from);
    }
    if let Some(to) = read.to {
        query["to"] = json!(to);
    }
    if let Some(results) = read.results {
        query["results"] = json!(results);
    }
    let attributes = json!({
        "evt": {"name": "audit_logs_query"},
        "action": "queried",
        "asset": {"type": read.kind},
        "query": query,
    });
    event_by(
        actor,
        object(attributes),
        // The query stays out of the message, so that free text searches
        // do not find the records of earlier searches for the same words.
        format!("{} ran a {}", actor.id, read.kind),
        "info",
    )
}

/// `count` failed checks of the key with `fingerprint` from `client_ip`
/// within one window: `@evt.name:authentication @action:key_check
/// status:error @auth.failures:<count>`.
pub fn failed_key_checks_event(fingerprint: &str, client_ip: &str, count: u64) -> StoredEvent {
    let actor = Actor::unknown_key(fingerprint, Some(client_ip.to_owned()));
    let attributes = json!({
        "evt": {"name": "authentication", "outcome": "failure"},
        "action": "key_check",
        "auth": {"failures": count},
    });
    event_by(
        &actor,
        object(attributes),
        format!("{count} failed checks of key {fingerprint} from {client_ip}"),
        "error",
    )
}

/// A sign-in, sign-out or lockout of `actor`: `@evt.name:authentication
/// @action:<action>`, with `auth` under `@auth`.
pub fn authentication_event(
    actor: &Actor,
    action: &str,
    auth: Value,
    message: String,
    status: &str,
) -> StoredEvent {
    let outcome = if status == "error" {
        "failure"
    } else {
        "success"
    };
    let mut attributes = json!({
        "evt": {"name": "authentication", "outcome": outcome},
        "action": action,
    });
    if auth.as_object().is_some_and(|auth| !auth.is_empty()) {
        attributes["auth"] = auth;
    }
    event_by(actor, object(attributes), message, status)
}

/// A refused login of `actor`, as an audit event: `@evt.name:authentication
/// @action:login status:error`. The password is never part of it.
pub fn login_failure_event(actor: &Actor, reason: &str) -> StoredEvent {
    let attributes = json!({
        "evt": {"name": "authentication", "outcome": "failure"},
        "action": "login",
        "error": {"message": reason},
    });
    let who = actor.name.as_deref().unwrap_or(&actor.id);
    let from = actor.client_ip.as_deref().unwrap_or("an unknown address");
    event_by(
        actor,
        object(attributes),
        format!(
            "failed {} login of {who:?} from {from}: {reason}",
            actor.surface.name()
        ),
        "error",
    )
}

impl Evident {
    /// One of evident's own events as it is stored: located by GeoIP, like
    /// every ingested event, when the databases are configured.
    pub(crate) fn located(&self, mut event: StoredEvent) -> StoredEvent {
        if let Some(geoip) = &self.geoip {
            geoip.enrich(&mut event.event);
        }
        event
    }

    /// Appends one of evident's own events and waits until it is durable.
    pub async fn record(&self, event: StoredEvent) -> Result<(), AppError> {
        self.store
            .commit(vec![self.located(event)])
            .await
            .map(|_| ())
            .map_err(|error| AppError::from_wal(&error, "the audit record"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::key_fingerprint;

    /// The test data shared by the project's tests.
    fn shared_dir() -> std::path::PathBuf {
        std::env::var_os("EVIDENT_SHARED_DIR").map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            std::path::PathBuf::from,
        )
    }

    #[test]
    fn own_events_are_located_like_ingested_ones() -> Result<(), Box<dyn std::error::Error>> {
        let databases = shared_dir().join("data/geoip");
        let geoip = evident_sources::geoip::GeoIp::open(
            Some(&databases.join("GeoIP2-City-Test.mmdb")),
            Some(&databases.join("GeoLite2-ASN-Test.mmdb")),
        )?
        .expect("databases");
        let directory = tempfile::tempdir()?;
        let store = std::sync::Arc::new(evident_store::Store::open(
            directory.path(),
            evident_store::StoreOptions::default(),
        )?);
        let evident = Evident::open(
            directory.path(),
            store,
            crate::access::Access::none(),
            Some(std::sync::Arc::new(geoip)),
            crate::Settings::default(),
        )?;
        let actor = Actor::postgres("mallory", Some("81.2.69.142".into()));
        let located = evident.located(login_failure_event(&actor, "wrong password"));
        let geoip = &located.event.attributes["network"]["client"]["geoip"];
        assert_eq!(geoip["city"]["name"], "London", "{geoip}");
        let private = Actor::postgres("mallory", Some("127.0.0.1".into()));
        let unlocated = evident.located(login_failure_event(&private, "wrong password"));
        assert!(
            unlocated.event.attributes["network"]["client"]
                .get("geoip")
                .is_none()
        );
        Ok(())
    }

    #[test]
    fn the_record_names_the_key_not_the_secret() {
        let principal = crate::access::Principal {
            user_id: "u1".into(),
            email: "ana@example.com".into(),
            name: "Ana".into(),
            key_id: Some("k1".into()),
            permissions: Default::default(),
        };
        let actor = Actor::application_key(&principal, Some("secret-api-key"))
            .with_client_ip(Some("127.0.0.1".into()));
        assert!(key_fingerprint("secret-api-key").starts_with("key:"));
        let stored = SqlActivity {
            actor: &actor,
            statement: "SELECT 1",
            parameters: &[],
        }
        .stored();
        let text = serde_json::to_string(&stored).expect("json");
        assert!(!text.contains("secret-api-key"));
        assert!(text.contains("\"query\":\"SELECT 1\""), "{text}");
        let attributes = &stored.event.attributes;
        assert_eq!(attributes["sql"]["surface"], "http");
        assert_eq!(attributes["evt"]["name"], "sql_query");
        assert_eq!(attributes["evt"]["actor"]["type"], "user");
        assert_eq!(attributes["usr"]["email"], "ana@example.com");
        assert_eq!(attributes["network"]["client"]["ip"], "127.0.0.1");
        let size = serde_json::to_vec(&stored.event).expect("json").len() as u64;
        assert_eq!(stored.ingest_size_in_bytes, size, "its own size");
    }

    #[test]
    fn long_statements_are_cut_on_a_character_boundary() {
        let statement = format!("SELECT '{}'", "é".repeat(MAX_RECORDED_STATEMENT));
        let actor = Actor::cli("tester");
        let stored = SqlActivity {
            actor: &actor,
            statement: &statement,
            parameters: &[],
        }
        .stored();
        let recorded = stored.event.attributes["sql"]["query"]
            .as_str()
            .expect("text");
        assert!(recorded.len() <= MAX_RECORDED_STATEMENT);
        assert_eq!(stored.event.attributes["sql"]["truncated"], true);
        assert_eq!(stored.event.attributes["auth_method"], "local");
    }
}

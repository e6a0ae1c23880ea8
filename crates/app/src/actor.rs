//! Who asks: the actor every self-audit event names, with how they proved
//! it and where they came from, in the dd.audit fields (`@usr.*`,
//! `@evt.actor.type`, `@auth_method`, `@network.client.ip`, `@http.*`,
//! `@metadata.*`). Surfaces build one per request; secrets never enter it
//! (keys appear by fingerprint only).

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::access::Principal;

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Http,
    Ui,
    Cli,
    PostgresWire,
}

impl Surface {
    pub fn name(self) -> &'static str {
        match self {
            Surface::Http => "http",
            Surface::Ui => "ui",
            Surface::Cli => "cli",
            Surface::PostgresWire => "postgres",
        }
    }
}

/// The fingerprint of a key: the first 12 hex digits of its SHA-256 (the
/// key store holds the full hash), as `key:<hex>`.
pub fn key_fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.trim().as_bytes());
    let hex: String = digest
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("key:{hex}")
}

/// The HTTP request an action came in, for `@http.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub useragent: Option<String>,
}

/// Who did something in evident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `@usr.id`: a key's fingerprint (`key:…`), `pg:<user>`, `cli:<user>`.
    pub id: String,
    /// `@usr.name`, when known (a user's name, a PostgreSQL user name).
    pub name: Option<String>,
    /// `@usr.email`, when the actor is one of evident's users.
    pub email: Option<String>,
    /// `@evt.actor.type`: `application_key`, `api_key`, `user`.
    pub kind: &'static str,
    /// `@auth_method`: `api_app_keys`, `bearer_token`, `session_cookie`,
    /// `password`, `local` (the command line on the data directory).
    pub auth_method: &'static str,
    /// `@metadata.application_key.id`: the id of the key used (or its
    /// fingerprint).
    pub application_key: Option<String>,
    /// `@metadata.api_key.id`.
    pub api_key: Option<String>,
    pub surface: Surface,
    /// `@network.client.ip`.
    pub client_ip: Option<String>,
    pub http: Option<HttpRequest>,
}

impl Actor {
    /// A user acting through one of their application keys, with the
    /// API key beside it when one was sent.
    pub fn user(principal: &Principal, auth_method: &'static str, surface: Surface) -> Actor {
        Actor {
            id: principal.user_id.clone(),
            name: Some(principal.name.clone()).filter(|name| !name.is_empty()),
            email: Some(principal.email.clone()),
            kind: "user",
            auth_method,
            application_key: principal.key_id.clone(),
            api_key: None,
            surface,
            client_ip: None,
            http: None,
        }
    }

    /// An API caller with an API key and an application key.
    pub fn application_key(principal: &Principal, api_key: Option<&str>) -> Actor {
        Actor {
            api_key: api_key.map(key_fingerprint),
            ..Actor::user(principal, "api_app_keys", Surface::Http)
        }
    }

    /// A caller presenting an application key as `Authorization: Bearer`.
    pub fn bearer(principal: &Principal) -> Actor {
        Actor::user(principal, "bearer_token", Surface::Http)
    }

    /// Someone signed in to the web UI.
    pub fn ui_session(principal: &Principal) -> Actor {
        Actor::user(principal, "session_cookie", Surface::Ui)
    }

    /// Someone signing in to the web UI as `account` (an email, or an
    /// application key's fingerprint), not yet known to be who they say.
    pub fn signing_in(account: &str, auth_method: &'static str) -> Actor {
        Actor {
            id: account.to_owned(),
            name: None,
            email: account.contains('@').then(|| account.to_owned()),
            kind: "user",
            auth_method,
            application_key: None,
            api_key: None,
            surface: Surface::Ui,
            client_ip: None,
            http: None,
        }
    }

    /// A PostgreSQL client signed in as `user` with an application key.
    pub fn postgres(user: &str, client_ip: Option<String>) -> Actor {
        Actor::named("pg", user, "password", Surface::PostgresWire).with_client_ip(client_ip)
    }

    /// The command line working on a stopped data directory, as the
    /// machine's user `user`.
    pub fn cli(user: &str) -> Actor {
        Actor::named("cli", user, "local", Surface::Cli)
    }

    /// Whoever presented an application key that failed its check, known
    /// only by the key's fingerprint.
    pub fn unknown_key(fingerprint: &str, client_ip: Option<String>) -> Actor {
        Actor {
            id: fingerprint.to_owned(),
            name: None,
            email: None,
            kind: "application_key",
            auth_method: "api_app_keys",
            application_key: Some(fingerprint.to_owned()),
            api_key: None,
            surface: Surface::Http,
            client_ip,
            http: None,
        }
    }

    /// A user known by a name on one surface: `<prefix>:<name>`.
    fn named(prefix: &str, name: &str, auth_method: &'static str, surface: Surface) -> Actor {
        Actor {
            id: format!("{prefix}:{name}"),
            name: Some(name.to_owned()),
            email: None,
            kind: "user",
            auth_method,
            application_key: None,
            api_key: None,
            surface,
            client_ip: None,
            http: None,
        }
    }

    /// The evident user acting (an application key's owner), if the
    /// actor is one rather than a PostgreSQL or command-line name.
    pub fn user_id(&self) -> Option<&str> {
        self.email
            .as_ref()
            .filter(|email| **email != self.id)
            .map(|_| self.id.as_str())
    }

    pub fn with_client_ip(mut self, client_ip: Option<String>) -> Actor {
        self.client_ip = client_ip;
        self
    }

    pub fn with_http(mut self, http: HttpRequest) -> Actor {
        self.http = Some(http);
        self
    }

    /// The actor's fields, merged into an event's attributes.
    pub fn describe(&self, attributes: &mut Map<String, Value>) {
        let mut usr = json!({"id": self.id});
        if let Some(name) = &self.name {
            usr["name"] = json!(name);
        }
        if let Some(email) = &self.email {
            usr["email"] = json!(email);
        }
        attributes.insert("usr".into(), usr);
        if let Some(evt) = child(attributes, "evt") {
            evt.insert("actor".into(), json!({"type": self.kind}));
        }
        attributes.insert("auth_method".into(), json!(self.auth_method));
        let mut metadata = Map::new();
        if let Some(key) = &self.application_key {
            metadata.insert("application_key".into(), json!({"id": key}));
        }
        if let Some(key) = &self.api_key {
            metadata.insert("api_key".into(), json!({"id": key}));
        }
        if !metadata.is_empty() {
            attributes.insert("metadata".into(), Value::Object(metadata));
        }
        if let Some(ip) = &self.client_ip {
            attributes.insert("network".into(), json!({"client": {"ip": ip}}));
        }
        if let Some(http) = &self.http {
            let mut value = json!({"method": http.method, "url_details": {"path": http.path}});
            if let Some(agent) = &http.useragent {
                value["useragent"] = json!(agent);
            }
            attributes.insert("http".into(), value);
        }
        if let Some(evident) = child(attributes, "evident") {
            evident.insert("surface".into(), json!(self.surface.name()));
        }
    }
}

/// The object under `key`, made when missing (`None` if something else is
/// there).
fn child<'a>(
    attributes: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    attributes
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            user_id: "u1".into(),
            email: "ana@example.com".into(),
            name: "Ana".into(),
            key_id: Some("k1".into()),
            permissions: Default::default(),
        }
    }

    #[test]
    fn an_actor_is_described_by_ids_and_fingerprints_never_by_secrets() {
        let actor = Actor::application_key(&principal(), Some("secret-api-key"))
            .with_client_ip(Some("10.0.0.7".into()))
            .with_http(HttpRequest {
                method: "POST".into(),
                path: "/api/v1/sql".into(),
                useragent: None,
            });
        let mut attributes = Map::new();
        attributes.insert("evt".into(), json!({"name": "sql_query"}));
        actor.describe(&mut attributes);
        let text = Value::Object(attributes.clone()).to_string();
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(attributes["evt"]["name"], "sql_query");
        assert_eq!(attributes["evt"]["actor"]["type"], "user");
        assert_eq!(attributes["usr"]["id"], "u1");
        assert_eq!(attributes["usr"]["email"], "ana@example.com");
        assert_eq!(attributes["auth_method"], "api_app_keys");
        assert_eq!(attributes["network"]["client"]["ip"], "10.0.0.7");
        assert_eq!(attributes["http"]["url_details"]["path"], "/api/v1/sql");
        assert_eq!(attributes["metadata"]["application_key"]["id"], "k1");
        assert!(
            attributes["metadata"]["api_key"]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("key:"))
        );
    }
}

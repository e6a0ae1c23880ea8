//! One call through the gateway as an audit event, in the dd.audit fields
//! (`@usr.*`, `@evt.*`, `@http.*`, `@network.client.ip`, `duration`) plus
//! `@gateway.*` for what replay needs. Everything stored passes the
//! redactor first.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::body::Capture;
use crate::oidc::Identity;
use crate::redact::Redactor;

/// The event name of every recorded call.
pub const EVENT_NAME: &str = "gateway.request";
/// The `source` tag of gateway events.
pub const SOURCE: &str = "evident-gateway";

/// What became of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Forwarded,
    Unauthenticated,
    Denied,
    RateLimited,
    NoRoute,
    /// The audit queue is full: the call was refused rather than forwarded
    /// unrecorded.
    Unrecordable,
    UpstreamError,
    UpstreamTimeout,
    /// The path was refused before routing (see `path::canonical`).
    BadPath,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Denied => "denied",
            Outcome::RateLimited => "rate_limited",
            Outcome::NoRoute => "no_route",
            Outcome::Unrecordable => "unrecordable",
            Outcome::UpstreamError => "upstream_error",
            Outcome::UpstreamTimeout => "upstream_timeout",
            Outcome::BadPath => "bad_path",
        }
    }
}

/// Everything known about one call when it is done.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub started: SystemTime,
    pub duration: Duration,
    pub session_id: Option<String>,
    pub sequence: u64,
    pub identity: Option<Identity>,
    pub client_ip: IpAddr,
    pub method: String,
    /// The path the caller asked for.
    pub path: String,
    pub query: Option<String>,
    pub route: Option<String>,
    pub upstream: Option<String>,
    pub upstream_host: Option<String>,
    /// The path sent upstream (the route's prefix removed, if configured).
    pub upstream_path: Option<String>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub rule: Option<String>,
    pub status: u16,
    pub request_headers: http::HeaderMap,
    pub response_headers: Option<http::HeaderMap>,
    pub request_body: Option<Capture>,
    pub response_body: Option<Capture>,
}

impl CallRecord {
    pub fn to_event(&self, redactor: &Redactor) -> Value {
        let request_body = self
            .request_body
            .as_ref()
            .filter(|body| body.ended && !body.truncated())
            .map(|body| body.bytes.as_slice());
        let revealed = redactor.secrets_of_call(
            &self.request_headers,
            self.query.as_deref().unwrap_or(""),
            request_body,
        );
        let call_redactor;
        let redactor = if revealed.is_empty() {
            redactor
        } else {
            call_redactor = redactor.with_secrets(revealed);
            &call_redactor
        };
        let started = self.started.duration_since(UNIX_EPOCH).unwrap_or_default();
        let who = self
            .identity
            .as_ref()
            .map(|identity| {
                identity
                    .email
                    .clone()
                    .unwrap_or_else(|| identity.subject.clone())
            })
            .unwrap_or_else(|| "an unauthenticated caller".to_owned());
        let status = if self.status >= 500 {
            "error"
        } else if self.outcome != Outcome::Forwarded || self.status >= 400 {
            "warn"
        } else {
            "info"
        };
        let (query_text, query_parameters) = redactor.query(self.query.as_deref().unwrap_or(""));
        let path = redactor.text(&self.path);
        let mut http = json!({
            "method": self.method,
            "status_code": self.status,
            "url": if query_text.is_empty() { path.clone() } else { format!("{path}?{query_text}") },
            "url_details": {
                "path": path,
                "queryString": query_parameters,
            },
            "request": body_fields(redactor, Some(&self.request_headers), self.request_body.as_ref()),
        });
        if let Some(host) = &self.upstream_host {
            http["url_details"]["host"] = Value::String(host.clone());
        }
        if self.response_headers.is_some() || self.response_body.is_some() {
            http["response"] = body_fields(
                redactor,
                self.response_headers.as_ref(),
                self.response_body.as_ref(),
            );
        }
        let mut gateway = json!({
            "outcome": self.outcome.as_str(),
            "sequence": self.sequence,
            "started_ns": u64::try_from(started.as_nanos()).unwrap_or(u64::MAX),
        });
        let optional = [
            ("session_id", &self.session_id),
            ("reason", &self.reason),
            ("rule", &self.rule),
            ("route", &self.route),
            ("upstream", &self.upstream),
            ("upstream_path", &self.upstream_path),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                gateway[name] = Value::String(redactor.text(value));
            }
        }
        if !query_text.is_empty() {
            gateway["query"] = Value::String(query_text);
        }
        let mut event = json!({
            "ddsource": SOURCE,
            "service": SOURCE,
            "status": status,
            "timestamp": u64::try_from(started.as_millis()).unwrap_or(u64::MAX),
            "message": format!("{} {} {} ({}) by {who}", self.method, self.path, self.status, self.outcome.as_str()),
            "evt": {
                "name": EVENT_NAME,
                "outcome": if self.outcome == Outcome::Forwarded && self.status < 400 { "success" } else { "failure" },
            },
            "http": http,
            "network": {"client": {"ip": self.client_ip.to_string()}},
            "duration": u64::try_from(self.duration.as_nanos()).unwrap_or(u64::MAX),
            "gateway": gateway,
        });
        if let Some(identity) = &self.identity {
            let mut usr = Map::new();
            usr.insert("id".to_owned(), Value::String(identity.subject.clone()));
            if let Some(email) = &identity.email {
                usr.insert("email".to_owned(), Value::String(email.clone()));
            }
            if let Some(name) = &identity.name {
                usr.insert("name".to_owned(), Value::String(name.clone()));
            }
            if !identity.groups.is_empty() {
                usr.insert("groups".to_owned(), json!(identity.groups));
            }
            event["usr"] = Value::Object(usr);
            event["evt"]["actor"] = json!({"type": identity.actor_type.as_str()});
            if let Some(principal) = &identity.on_behalf_of {
                let mut on_behalf_of = Map::new();
                if let Some(id) = &principal.id {
                    on_behalf_of.insert("id".to_owned(), Value::String(id.clone()));
                }
                if let Some(email) = &principal.email {
                    on_behalf_of.insert("email".to_owned(), Value::String(email.clone()));
                }
                event["evt"]["actor"]["on_behalf_of"] = Value::Object(on_behalf_of);
            }
        }
        event
    }
}

fn body_fields(
    redactor: &Redactor,
    headers: Option<&http::HeaderMap>,
    body: Option<&Capture>,
) -> Value {
    let mut fields = Map::new();
    if let Some(headers) = headers {
        fields.insert(
            "headers".to_owned(),
            Value::Object(redactor.headers(headers)),
        );
    }
    if let Some(body) = body {
        fields.insert("body_size".to_owned(), json!(body.total));
        if !body.bytes.is_empty() {
            let stored = redactor.body(&body.bytes, body.ended && !body.truncated());
            fields.insert("body".to_owned(), Value::String(stored.text));
            if stored.base64 {
                fields.insert("body_encoding".to_owned(), json!("base64"));
            }
        }
        fields.insert("body_truncated".to_owned(), json!(body.truncated()));
        if let Some(error) = &body.error {
            fields.insert("body_error".to_owned(), Value::String(error.clone()));
        }
    }
    Value::Object(fields)
}

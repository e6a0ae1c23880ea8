//! Kubernetes audit events (`audit.k8s.io/v1` `Event`): native (the API
//! server's audit log), wrapped by AKS in an Azure diagnostic record
//! (`properties.log`), or as GKE writes them, a Cloud Audit Logs entry
//! (read with the GCP mapping). The mapping is a table in
//! `docs/sources.md`.

use evident_model::Event;
use serde_json::{Map, Value};

use crate::draft::{Draft, first_time, is_email};
use crate::fields::{Attributes, at, ip_address, text};
use crate::{NormalizeError, action, gcp};

pub const SOURCE: &str = "kubernetes";
const SERVICE: &str = "kubernetes.audit";

/// Whether `record` is a native audit event: `kind: Event` of
/// `audit.k8s.io`, or without an API version but with a verb or object
/// (not a core `v1` Event, which reports on objects, not requests).
fn is_native(record: &Map<String, Value>) -> bool {
    if text(record, "kind") != Some("Event") {
        return false;
    }
    match text(record, "apiVersion") {
        Some(version) => version.starts_with("audit.k8s.io/"),
        None => record.contains_key("verb") || record.contains_key("objectRef"),
    }
}

fn is_gke(record: &Map<String, Value>) -> bool {
    text(record, "protoPayload.serviceName") == Some("k8s.io")
}

/// Whether `record` is a Kubernetes audit event, native or wrapped.
pub fn detect(record: &Map<String, Value>) -> bool {
    is_native(record) || is_gke(record) || aks_event(record).is_some()
}

pub fn normalize(record: Map<String, Value>) -> Result<Event, NormalizeError> {
    if is_native(&record) {
        let draft = draft(&record);
        return Ok(draft.into_event(SOURCE, SERVICE, SERVICE, record));
    }
    if is_gke(&record) {
        let mut event = gcp::normalize(record)?;
        event.source = Some(SOURCE.into());
        event.service = Some(SERVICE.into());
        return Ok(event);
    }
    if let Some(event) = from_aks(&record) {
        return Ok(event);
    }
    Err(NormalizeError {
        log: SOURCE,
        reason: "it is neither an audit.k8s.io Event nor a GKE or AKS audit record".into(),
    })
}

/// The audit event inside an AKS diagnostic record (`properties.log`, an
/// object or its JSON text).
fn aks_event(record: &Map<String, Value>) -> Option<Map<String, Value>> {
    let inner = match at(record, "properties.log")? {
        Value::Object(object) => object.clone(),
        Value::String(text) => match serde_json::from_str(text).ok()? {
            Value::Object(object) => object,
            _ => return None,
        },
        _ => return None,
    };
    is_native(&inner).then_some(inner)
}

/// An AKS record as a Kubernetes event: the audit event mapped and kept
/// under `@kubernetes.audit`, the whole record under `@azure.activity_log`.
pub(crate) fn from_aks(record: &Map<String, Value>) -> Option<Event> {
    let inner = aks_event(record)?;
    let mut draft = draft(&inner);
    draft.attributes.set("cloud.provider", "azure");
    draft
        .attributes
        .set("azure.activity_log", Value::Object(record.clone()));
    if draft.timestamp.is_none() {
        draft.timestamp = first_time(record, &["time"]);
    }
    Some(draft.into_event(SOURCE, SERVICE, SERVICE, inner))
}

fn draft(event: &Map<String, Value>) -> Draft {
    let verb = text(event, "verb").unwrap_or("request");
    let resource = text(event, "objectRef.resource");
    let subresource = text(event, "objectRef.subresource");
    let namespace = text(event, "objectRef.namespace");
    let object = text(event, "objectRef.name");
    let user = text(event, "user.username");

    let mut attributes = Attributes::default();
    let target = match (resource, subresource) {
        (Some(resource), Some(subresource)) => Some(format!("{resource}/{subresource}")),
        (Some(resource), None) => Some(resource.to_string()),
        _ => None,
    };
    let name = match &target {
        Some(target) => format!("{target}.{verb}"),
        None => verb.to_string(),
    };
    attributes.set("evt.name", name.as_str());
    attributes.set_some("usr.name", user);
    attributes.set_some("usr.email", user.filter(|user| is_email(user)));
    attributes.set_some("usr.id", text(event, "user.uid"));
    attributes.set_some("evt.actor.type", user.map(actor_type));
    attributes.set_some("action", verb_action(verb));
    attributes.set_some("asset.type", target.clone());
    let id = match (namespace, object) {
        (Some(namespace), Some(object)) => Some(format!("{namespace}/{object}")),
        (None, Some(object)) => Some(object.to_string()),
        _ => None,
    };
    attributes.set_some("asset.id", id.clone());
    if let Some(address) = text(event, "sourceIPs.0").and_then(ip_address) {
        attributes.set("network.client.ip", address.to_string());
    }
    attributes.set_some("http.useragent", text(event, "userAgent"));
    attributes.set_some("http.url_details.path", text(event, "requestURI"));
    let code = at(event, "responseStatus.code").and_then(Value::as_i64);
    if let Some(code) = code {
        attributes.set("http.status_code", code);
    }
    let decision = event
        .get("annotations")
        .and_then(|annotations| annotations.get("authorization.k8s.io/decision"))
        .and_then(Value::as_str);
    let failed = code.is_some_and(|code| code >= 400) || decision == Some("forbid");
    if failed {
        // The annotation's key holds dots: it cannot be a dotted path.
        let reason = text(event, "responseStatus.reason")
            .or_else(|| (decision == Some("forbid")).then_some("Forbidden"));
        attributes.set_some("error.kind", reason);
        attributes.set_some("error.message", text(event, "responseStatus.message"));
    }

    let mut message = format!(
        "{} {verb} {}",
        user.unwrap_or("an unknown user"),
        target
            .as_deref()
            .unwrap_or_else(|| text(event, "requestURI").unwrap_or("the API"))
    );
    if let Some(id) = &id {
        message.push_str(&format!(" {id}"));
    }
    if failed {
        match code {
            Some(code) if code >= 400 => message.push_str(&format!(" failed: {code}")),
            _ => message.push_str(" failed: forbidden"),
        }
    }
    Draft {
        attributes,
        timestamp: first_time(event, &["requestReceivedTimestamp", "stageTimestamp"]),
        failed,
        status: None,
        message,
    }
}

fn actor_type(user: &str) -> &'static str {
    if user.starts_with("system:serviceaccount:") || user.starts_with("system:serviceaccounts:") {
        "service_account"
    } else if user == "system:anonymous" {
        "anonymous"
    } else if user.starts_with("system:") {
        "system"
    } else {
        "user"
    }
}

fn verb_action(verb: &str) -> Option<String> {
    match verb {
        "deletecollection" => Some("deleted".into()),
        other => action::of_verb(other),
    }
}

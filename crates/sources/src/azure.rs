//! Azure Activity Log and Microsoft Entra ID (audit and sign-in) records
//! in the diagnostic-settings schema (`time`, `resourceId`,
//! `operationName`, `category`, `resultType`, `callerIpAddress`,
//! `identity`, `properties`), as an Event Hub or storage export delivers
//! them. AKS audit records (`category: kube-audit*`) carry a Kubernetes
//! audit event and are read as one (see [`crate::kubernetes`]). The
//! mapping is a table in `docs/sources.md`.

use evident_model::Event;
use serde_json::{Map, Value};

use crate::NormalizeError;
use crate::action;
use crate::draft::{Draft, first_time, is_email};
use crate::fields::{Attributes, at, ip_address, text};
use crate::kubernetes;

pub const SOURCE: &str = "azure";

/// Entra ID categories; every other category is the Activity Log.
const ENTRA_CATEGORIES: [&str; 8] = [
    "AuditLogs",
    "SignInLogs",
    "NonInteractiveUserSignInLogs",
    "ServicePrincipalSignInLogs",
    "ManagedIdentitySignInLogs",
    "ProvisioningLogs",
    "ADFSSignInLogs",
    "RiskyUsers",
];

/// Claims that name the caller in an Activity Log `identity`.
const NAME_CLAIMS: [&str; 4] = [
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "name",
];

/// Whether `record` looks like an Azure diagnostic record.
pub fn detect(record: &Map<String, Value>) -> bool {
    record.contains_key("operationName")
        && (record.contains_key("resourceId")
            || record.contains_key("category")
            || record.contains_key("callerIpAddress"))
}

/// A field as the diagnostic export writes it (`"operationName": "..."`)
/// or as the Activity Log API does (`{"value": "...", "localizedValue"}`).
fn value<'a>(record: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    text(record, field).or_else(|| text(record, &format!("{field}.value")))
}

pub fn normalize(record: Map<String, Value>) -> Result<Event, NormalizeError> {
    let Some(operation) = value(&record, "operationName") else {
        return Err(NormalizeError::missing(SOURCE, "operationName"));
    };
    let category = value(&record, "category");
    if category.is_some_and(|category| category.starts_with("kube-audit"))
        && let Some(event) = kubernetes::from_aks(&record)
    {
        return Ok(event);
    }
    let entra = category.is_some_and(|category| ENTRA_CATEGORIES.contains(&category));
    // Resource provider operations come in any casing
    // (`Microsoft.Storage/storageAccounts/write`, `MICROSOFT.STORAGE/...`).
    let name = if operation.contains('/') {
        operation.to_ascii_uppercase()
    } else {
        operation.to_string()
    };
    let mut attributes = Attributes::default();
    attributes.set("evt.name", name.as_str());
    attributes.set_some("evt.category", category);

    let caller = caller(&record, entra);
    attributes.set_some("usr.name", caller.name);
    attributes.set_some("usr.email", caller.name.filter(|name| is_email(name)));
    attributes.set_some("usr.id", caller.id);
    attributes.set_some("evt.actor.type", caller.kind);
    attributes.set_some("action", operation_action(&record, operation));

    let resource_id = text(&record, "resourceId");
    if entra {
        attributes.set_some(
            "asset.type",
            text(&record, "properties.targetResources.0.type"),
        );
        attributes.set_some(
            "asset.id",
            first_target(&record, "id").or_else(|| first_target(&record, "displayName")),
        );
    } else {
        attributes.set_some("asset.type", resource_id.and_then(resource_type));
        attributes.set_some("asset.id", resource_id);
    }
    let address =
        text(&record, "callerIpAddress").or_else(|| text(&record, "properties.ipAddress"));
    if let Some(address) = address.and_then(ip_address) {
        attributes.set("network.client.ip", address.to_string());
    }
    attributes.set_some("http.useragent", text(&record, "properties.userAgent"));
    attributes.set_some(
        "auth_method",
        text(&record, "properties.authenticationProtocol"),
    );

    let failure = failure(&record);
    attributes.set_some(
        "error.kind",
        failure.as_ref().map(|failure| failure.0.clone()),
    );
    attributes.set_some(
        "error.message",
        failure.as_ref().and_then(|failure| failure.1.clone()),
    );

    attributes.set("cloud.provider", "azure");
    attributes.set_some(
        "cloud.account.id",
        resource_id
            .and_then(subscription_of)
            .or_else(|| text(&record, "tenantId")),
    );
    attributes.set_some(
        "cloud.region",
        text(&record, "location").filter(|location| location.len() > 2),
    );

    let actor = caller.name.or(caller.id).unwrap_or("an unknown caller");
    let mut message = format!("{name} by {actor}");
    if let Some((kind, _)) = &failure {
        message.push_str(&format!(" failed: {kind}"));
    }
    let level = text(&record, "level")
        .map(str::to_string)
        .or_else(|| at(&record, "Level").map(level_text));
    let draft = Draft {
        attributes,
        timestamp: first_time(
            &record,
            &[
                "time",
                "properties.activityDateTime",
                "properties.createdDateTime",
                "properties.eventTimestamp",
            ],
        ),
        failed: failure.is_some(),
        status: level.as_deref().map(level_status),
        message,
    };
    let (service, namespace) = if entra {
        ("azure.entra_id", "azure.entra_id")
    } else {
        ("azure.activity_log", "azure.activity_log")
    };
    Ok(draft.into_event(SOURCE, service, namespace, record))
}

struct Caller<'a> {
    name: Option<&'a str>,
    id: Option<&'a str>,
    kind: Option<&'static str>,
}

fn caller(record: &Map<String, Value>, entra: bool) -> Caller<'_> {
    if entra {
        if let Some(user) = text(record, "properties.initiatedBy.user.userPrincipalName") {
            return Caller {
                name: Some(user),
                id: text(record, "properties.initiatedBy.user.id"),
                kind: Some("user"),
            };
        }
        if let Some(app) = text(record, "properties.initiatedBy.app.displayName") {
            return Caller {
                name: Some(app),
                id: text(record, "properties.initiatedBy.app.servicePrincipalId"),
                kind: Some("service_principal"),
            };
        }
        if let Some(user) = text(record, "properties.userPrincipalName") {
            return Caller {
                name: Some(user),
                id: text(record, "properties.userId"),
                kind: Some("user"),
            };
        }
        if let Some(principal) = text(record, "properties.servicePrincipalName") {
            return Caller {
                name: Some(principal),
                id: text(record, "properties.servicePrincipalId"),
                kind: Some("service_principal"),
            };
        }
        return Caller {
            name: text(record, "identity"),
            id: None,
            kind: None,
        };
    }
    let claims = |claim: &str| {
        record
            .get("identity")
            .and_then(|identity| identity.get("claims"))
            .and_then(|claims| claims.get(claim))
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
    };
    let name = NAME_CLAIMS
        .iter()
        .find_map(|claim| claims(claim))
        .or_else(|| text(record, "caller"));
    let id = claims("http://schemas.microsoft.com/identity/claims/objectidentifier")
        .or_else(|| text(record, "identity.authorization.evidence.principalId"));
    let kind = match text(record, "identity.authorization.evidence.principalType") {
        Some("User") => Some("user"),
        Some("ServicePrincipal") => Some("service_principal"),
        Some("Group") => Some("group"),
        _ if name.is_some_and(is_email) => Some("user"),
        _ => None,
    };
    Caller { name, id, kind }
}

/// `@action`: Entra's `operationType` or the operation's first word;
/// for a resource provider operation its last part (`.../write` →
/// modified, `.../listKeys/action` → accessed).
fn operation_action(record: &Map<String, Value>, operation: &str) -> Option<String> {
    if let Some(kind) = text(record, "properties.operationType") {
        return action::of_verb(kind);
    }
    if operation.contains('/') {
        let mut parts = operation.rsplit('/');
        let last = parts.next()?;
        let verb = if last.eq_ignore_ascii_case("action") {
            parts.next()?
        } else {
            last
        };
        return match verb.to_ascii_lowercase().as_str() {
            "write" => Some("modified".into()),
            _ => action::of_word(verb),
        };
    }
    let first = operation.split_whitespace().next()?;
    match first.to_ascii_lowercase().as_str() {
        "sign-in" => Some("authenticated".into()),
        other => action::of_verb(other),
    }
}

fn first_target<'a>(record: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    text(record, &format!("properties.targetResources.0.{field}"))
}

/// `Microsoft.Storage/storageAccounts` from a resource id.
fn resource_type(resource_id: &str) -> Option<String> {
    let index = resource_id.to_ascii_lowercase().rfind("/providers/")?;
    let mut parts = resource_id[index + "/providers/".len()..].split('/');
    let namespace = parts.next().filter(|namespace| !namespace.is_empty())?;
    Some(match parts.next() {
        Some(kind) => format!("{namespace}/{kind}"),
        None => namespace.to_string(),
    })
}

fn subscription_of(resource_id: &str) -> Option<&str> {
    let lower = resource_id.to_ascii_lowercase();
    let start = lower.find("/subscriptions/")? + "/subscriptions/".len();
    resource_id[start..]
        .split('/')
        .next()
        .filter(|id| !id.is_empty())
}

/// `(kind, message)` when the operation failed: a `Failed` / `Failure`
/// result, or a sign-in with a non-zero error code.
fn failure(record: &Map<String, Value>) -> Option<(String, Option<String>)> {
    let message = text(record, "resultDescription")
        .or_else(|| text(record, "properties.status.failureReason"))
        .or_else(|| text(record, "properties.resultReason"))
        .map(str::to_string);
    let result = value(record, "resultType")
        .or_else(|| value(record, "status"))
        .or_else(|| text(record, "properties.result"))
        .unwrap_or_default();
    if ["failed", "failure"].contains(&result.to_ascii_lowercase().as_str()) {
        let kind = text(record, "resultSignature")
            .filter(|signature| !signature.eq_ignore_ascii_case("none"))
            .unwrap_or(result);
        return Some((kind.to_string(), message));
    }
    if let Ok(code) = result.parse::<i64>()
        && code != 0
    {
        return Some((code.to_string(), message));
    }
    let error_code = at(record, "properties.status.errorCode").and_then(Value::as_i64);
    if let Some(code) = error_code.filter(|code| *code != 0) {
        return Some((code.to_string(), message));
    }
    None
}

fn level_text(level: &Value) -> String {
    match level {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Diagnostic levels, by name or number (1 critical … 5 verbose).
fn level_status(level: &str) -> &'static str {
    match level.to_ascii_lowercase().as_str() {
        "critical" | "error" | "1" | "2" => "error",
        "warning" | "3" => "warn",
        "verbose" | "5" => "debug",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_give_type_and_subscription() {
        let id = "/subscriptions/12345678-aaaa/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct";
        assert_eq!(
            resource_type(id).as_deref(),
            Some("Microsoft.Storage/storageAccounts")
        );
        assert_eq!(subscription_of(id), Some("12345678-aaaa"));
        assert_eq!(
            resource_type("/tenants/t/providers/Microsoft.aadiam").as_deref(),
            Some("Microsoft.aadiam")
        );
        assert_eq!(
            subscription_of("/tenants/t/providers/Microsoft.aadiam"),
            None
        );
    }
}

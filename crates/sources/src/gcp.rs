//! GCP Cloud Audit Logs: `LogEntry` records with an `AuditLog`
//! `protoPayload` (Admin Activity, Data Access, System Event, Policy
//! Denied), as Pub/Sub, Eventarc or a Logging export delivers them. The
//! mapping is a table in `docs/sources.md`.

use evident_model::Event;
use serde_json::{Map, Value};

use crate::NormalizeError;
use crate::action;
use crate::draft::{Draft, first_time, is_email};
use crate::fields::{Attributes, ip_address, text};

pub const SOURCE: &str = "gcp";

/// Whether `record` looks like a Cloud Audit Logs entry.
pub fn detect(record: &Map<String, Value>) -> bool {
    record.get("protoPayload").is_some_and(Value::is_object)
}

pub fn normalize(record: Map<String, Value>) -> Result<Event, NormalizeError> {
    if !record.get("protoPayload").is_some_and(Value::is_object) {
        return Err(NormalizeError::missing(SOURCE, "protoPayload"));
    }
    let payload = |path: &str| text(&record, &format!("protoPayload.{path}"));
    let method = payload("methodName");
    let service = payload("serviceName");
    let mut attributes = Attributes::default();
    attributes.set_some("evt.name", method);
    attributes.set_some("evt.category", log_kind(&record));

    let email = payload("authenticationInfo.principalEmail");
    attributes.set_some("usr.email", email.filter(|email| is_email(email)));
    attributes.set_some("usr.name", email);
    attributes.set_some("usr.id", payload("authenticationInfo.principalSubject"));
    attributes.set_some("evt.actor.type", actor_type(email, log_kind(&record)));
    if payload("authenticationInfo.serviceAccountKeyName").is_some() {
        attributes.set("auth_method", "service_account_key");
    } else if record
        .get("protoPayload")
        .and_then(|payload| payload.get("authenticationInfo"))
        .and_then(|info| info.get("serviceAccountDelegationInfo"))
        .is_some()
    {
        attributes.set("auth_method", "impersonation");
    }

    attributes.set_some("action", method.and_then(method_action));
    attributes.set_some("asset.type", text(&record, "resource.type"));
    attributes.set_some("asset.id", payload("resourceName"));

    if let Some(caller) = payload("requestMetadata.callerIp") {
        match ip_address(caller) {
            Some(address) => attributes.set("network.client.ip", address.to_string()),
            // `private`, `gce-internal-ip`: the call came from inside GCP.
            None => attributes.set("network.client.service", caller),
        }
    }
    attributes.set_some(
        "http.useragent",
        payload("requestMetadata.callerSuppliedUserAgent"),
    );

    let code = record
        .get("protoPayload")
        .and_then(|payload| payload.get("status"))
        .and_then(|status| status.get("code"))
        .and_then(Value::as_i64)
        .filter(|code| *code != 0);
    let failure = code.map(|code| {
        payload("status.message")
            .map(str::to_string)
            .unwrap_or_else(|| grpc_code_name(code).to_string())
    });
    attributes.set_some("error.kind", code.map(grpc_code_name));
    attributes.set_some("error.message", payload("status.message"));

    attributes.set("cloud.provider", "gcp");
    attributes.set_some(
        "cloud.account.id",
        text(&record, "resource.labels.project_id").or_else(|| project_of(&record)),
    );
    attributes.set_some(
        "cloud.region",
        text(&record, "resource.labels.location")
            .or_else(|| text(&record, "resource.labels.region"))
            .or_else(|| text(&record, "resource.labels.zone")),
    );

    let actor = email.unwrap_or("an unknown principal");
    let operation = method.or(service).unwrap_or("a call");
    let mut message = format!("{operation} by {actor}");
    if let Some(failure) = &failure {
        message.push_str(&format!(" failed: {failure}"));
    }
    let severity = text(&record, "severity").map(severity_status);
    let draft = Draft {
        attributes,
        timestamp: first_time(
            &record,
            &[
                "timestamp",
                "receiveTimestamp",
                "receivetimestamp",
                "protoPayload.requestMetadata.requestAttributes.time",
            ],
        ),
        failed: failure.is_some() || severity == Some("error"),
        status: severity,
        message,
    };
    Ok(draft.into_event(SOURCE, "gcp.audit", "gcp.audit", record))
}

/// `activity`, `data_access`, `system_event` or `policy`, from the log
/// name (`projects/p/logs/cloudaudit.googleapis.com%2Fdata_access`).
fn log_kind(record: &Map<String, Value>) -> Option<&str> {
    let name = text(record, "logName").or_else(|| text(record, "logname"))?;
    let kind = name
        .rsplit_once("%2F")
        .or_else(|| name.rsplit_once('/'))
        .map(|(_, kind)| kind)?;
    ["activity", "data_access", "system_event", "policy"]
        .into_iter()
        .find(|known| *known == kind)
}

fn actor_type(email: Option<&str>, kind: Option<&str>) -> Option<&'static str> {
    match email {
        Some(email) if email.ends_with(".gserviceaccount.com") => Some("service_account"),
        Some(_) => Some("user"),
        None if kind == Some("system_event") => Some("system"),
        None => None,
    }
}

/// The verb of a method: the last part of `v1.compute.instances.insert`
/// or the first word of `google.iam.admin.v1.CreateServiceAccountKey`.
fn method_action(method: &str) -> Option<String> {
    let last = method.rsplit('.').next()?;
    if last.starts_with(|ch: char| ch.is_ascii_uppercase()) {
        action::of_verb(action::camel_verb(last))
    } else {
        action::of_verb(last)
    }
}

fn project_of(record: &Map<String, Value>) -> Option<&str> {
    let name = text(record, "logName").or_else(|| text(record, "logname"))?;
    name.strip_prefix("projects/")?.split('/').next()
}

fn severity_status(severity: &str) -> &'static str {
    match severity.to_ascii_uppercase().as_str() {
        "WARNING" => "warn",
        "ERROR" | "CRITICAL" | "ALERT" | "EMERGENCY" => "error",
        "DEBUG" => "debug",
        "NOTICE" => "notice",
        _ => "info",
    }
}

/// google.rpc.Code names.
fn grpc_code_name(code: i64) -> &'static str {
    match code {
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_give_their_verb() {
        assert_eq!(
            method_action("v1.compute.instances.insert").as_deref(),
            Some("created")
        );
        assert_eq!(
            method_action("google.iam.admin.v1.CreateServiceAccountKey").as_deref(),
            Some("created")
        );
        assert_eq!(method_action("SetIamPolicy").as_deref(), Some("modified"));
        assert_eq!(
            method_action("storage.objects.get").as_deref(),
            Some("accessed")
        );
    }
}

//! AWS CloudTrail records.
//!
//! The mapping to the dd.audit fields is documented, as a table, in
//! `docs/sources.md`.

use evident_model::Event;
use serde_json::{Map, Value};

use crate::NormalizeError;
use crate::action;
use crate::draft::{Draft, first_time, is_email};
use crate::fields::{Attributes, at, ip_address, text};

pub const SOURCE: &str = "cloudtrail";

/// Request parameters that name the resource acted on, most specific first.
const RESOURCE_PARAMETERS: [&str; 14] = [
    "bucketName",
    "roleName",
    "userName",
    "groupName",
    "policyArn",
    "functionName",
    "trailName",
    "keyId",
    "instanceId",
    "secretId",
    "roleArn",
    "name",
    "clusterName",
    "tableName",
];

/// Whether `record` looks like a CloudTrail record.
pub fn detect(record: &Map<String, Value>) -> bool {
    record.contains_key("eventSource") && record.contains_key("eventName")
}

pub fn normalize(record: Map<String, Value>) -> Result<Event, NormalizeError> {
    let Some(event_name) = text(&record, "eventName") else {
        if record.contains_key("digestStartTime") {
            return Err(NormalizeError {
                log: SOURCE,
                reason: "this is a digest file, which describes log files: import the log files"
                    .into(),
            });
        }
        return Err(NormalizeError::missing(SOURCE, "eventName"));
    };
    let mut attributes = Attributes::default();
    attributes.set("evt.name", event_name);
    attributes.set_some("evt.category", text(&record, "eventCategory"));

    let identity_type = text(&record, "userIdentity.type");
    attributes.set_some("evt.actor.type", identity_type.map(actor_type));
    let user_id = text(&record, "userIdentity.principalId")
        .or_else(|| text(&record, "userIdentity.accountId"));
    attributes.set_some("usr.id", user_id);
    let user_name = user_name(&record, identity_type);
    if let Some(email) = user_name.as_deref().and_then(email_in) {
        attributes.set("usr.email", email);
    }
    attributes.set_some("usr.name", user_name.clone());
    attributes.set_some("usr.arn", text(&record, "userIdentity.arn"));

    let action = if event_name == "ConsoleLogin" {
        Some("authenticated".to_string())
    } else {
        action::of_verb(action::camel_verb(event_name))
    };
    attributes.set_some("action", action);
    let service = text(&record, "eventSource").map(|source| {
        source
            .strip_suffix(".amazonaws.com")
            .unwrap_or(source)
            .to_string()
    });
    attributes.set_some("asset.type", service);
    attributes.set_some("asset.id", asset_id(&record));

    if let Some(origin) = text(&record, "sourceIPAddress") {
        match ip_address(origin) {
            Some(address) => attributes.set("network.client.ip", address.to_string()),
            None => attributes.set("network.client.service", origin),
        }
    }
    attributes.set_some("http.useragent", text(&record, "userAgent"));
    attributes.set_some("http.request_id", text(&record, "requestID"));
    attributes.set_some("auth_method", auth_method(&record, event_name));

    let error_code = text(&record, "errorCode");
    attributes.set_some("error.kind", error_code);
    attributes.set_some("error.message", text(&record, "errorMessage"));
    let login_failed = text(&record, "responseElements.ConsoleLogin") == Some("Failure");

    attributes.set("cloud.provider", "aws");
    attributes.set_some(
        "cloud.account.id",
        text(&record, "recipientAccountId").or_else(|| text(&record, "userIdentity.accountId")),
    );
    attributes.set_some("cloud.region", text(&record, "awsRegion"));

    let actor = text(&record, "userIdentity.arn")
        .or(user_name.as_deref())
        .or(user_id)
        .or_else(|| text(&record, "sourceIPAddress"))
        .unwrap_or("an unknown identity");
    let mut message = format!("{event_name} by {actor}");
    if let Some(code) = error_code {
        message.push_str(&format!(" failed: {code}"));
    } else if login_failed {
        message.push_str(" failed");
    }
    let draft = Draft {
        attributes,
        timestamp: first_time(&record, &["eventTime"]),
        failed: error_code.is_some() || login_failed,
        status: None,
        message,
    };
    Ok(draft.into_event(SOURCE, SOURCE, "aws.cloudtrail", record))
}

fn actor_type(identity_type: &str) -> String {
    match identity_type {
        "Root" => "root",
        "IAMUser" | "IdentityCenterUser" => "user",
        "AssumedRole" => "assumed_role",
        "FederatedUser" | "SAMLUser" | "WebIdentityUser" => "federated_user",
        "AWSService" => "service",
        "AWSAccount" => "account",
        other => return other.to_ascii_lowercase(),
    }
    .to_string()
}

fn user_name(record: &Map<String, Value>, identity_type: Option<&str>) -> Option<String> {
    if let Some(name) = text(record, "userIdentity.userName") {
        return Some(name.to_string());
    }
    match identity_type {
        Some("Root") => Some("root".into()),
        Some("AWSService") => text(record, "userIdentity.invokedBy").map(str::to_string),
        // `arn:aws:iam::1:user/<path>/<name>`
        Some("IAMUser") => text(record, "userIdentity.arn")
            .filter(|arn| arn.contains(":user/"))
            .and_then(|arn| arn.rsplit('/').next())
            .map(str::to_string),
        Some("AssumedRole") | Some("FederatedUser") => {
            let role = text(record, "userIdentity.sessionContext.sessionIssuer.userName");
            // The session name is the last part of the assumed-role ARN
            // (`arn:aws:sts::1:assumed-role/<role>/<session>`) or of the
            // principal (`AROA…:<session>`).
            let session = text(record, "userIdentity.arn")
                .filter(|arn| arn.contains(":assumed-role/") || arn.contains(":federated-user/"))
                .and_then(|arn| arn.rsplit('/').next())
                .or_else(|| {
                    text(record, "userIdentity.principalId")
                        .and_then(|principal| principal.split_once(':'))
                        .map(|(_, session)| session)
                });
            match (role, session) {
                (Some(role), Some(session)) => Some(format!("{role}/{session}")),
                (Some(role), None) => Some(role.to_string()),
                (None, Some(session)) => Some(session.to_string()),
                (None, None) => None,
            }
        }
        _ => None,
    }
}

/// The email address in a user or session name (`role/jane@example.com`).
fn email_in(name: &str) -> Option<&str> {
    let candidate = name.rsplit('/').next()?;
    is_email(candidate).then_some(candidate)
}

fn asset_id(record: &Map<String, Value>) -> Option<String> {
    if let Some(Value::Array(resources)) = at(record, "resources")
        && let Some(arn) = resources
            .iter()
            .filter_map(Value::as_object)
            .find_map(|resource| text(resource, "ARN").or_else(|| text(resource, "arn")))
    {
        return Some(arn.to_string());
    }
    RESOURCE_PARAMETERS.iter().find_map(|parameter| {
        at(record, &format!("requestParameters.{parameter}")).and_then(|value| match value {
            Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        })
    })
}

fn auth_method(record: &Map<String, Value>, event_name: &str) -> Option<&'static str> {
    if event_name == "ConsoleLogin" {
        return Some("console");
    }
    let key = text(record, "userIdentity.accessKeyId")?;
    if key.starts_with("AKIA") {
        Some("access_key")
    } else if key.starts_with("ASIA") {
        Some("session_token")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_emails_in_session_names_only() {
        assert_eq!(
            email_in("AWSReservedSSO_Admin/jane@example.com"),
            Some("jane@example.com")
        );
        assert_eq!(email_in("account-admin/christophe"), None);
        assert_eq!(email_in("a@b"), None);
    }
}

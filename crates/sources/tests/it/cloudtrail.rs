//! CloudTrail: every record of every CloudTrail file imports, keeps its
//! original, takes its time from `eventTime`; a table of hand-checked
//! records has the right dd.audit fields.

use evident_sources::Source;
use serde_json::Value;

use crate::support::{attribute, data_files, line, records_of, shared_dir, time};

#[test]
fn every_record_normalizes_and_keeps_its_original() {
    let files = data_files(&shared_dir().join("data/aws-cloudtrail"));
    let mut total = 0;
    for path in files
        .iter()
        .filter(|path| !path.to_string_lossy().contains("digest"))
    {
        for record in records_of(path) {
            assert_eq!(
                Source::detect(&record),
                Some(Source::CloudTrail),
                "{}",
                path.display()
            );
            let event = Source::CloudTrail
                .normalize(record.clone())
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert_eq!(
                event.attributes["aws"]["cloudtrail"],
                Value::Object(record.clone()),
                "{}",
                path.display()
            );
            let event_time = record.get("eventTime").and_then(Value::as_str);
            match event_time.and_then(|text| text.parse().ok()) {
                Some(expected) => assert_eq!(event.timestamp, Some(expected)),
                // Placeholders (`...`, `redacted`) and missing times take
                // the time of receipt later, as any event without one.
                None => assert_eq!(event.timestamp, None, "{event_time:?}"),
            }
            assert_eq!(event.source.as_deref(), Some("cloudtrail"));
            let failed = record
                .get("errorCode")
                .and_then(Value::as_str)
                .is_some_and(|code| !code.trim().is_empty());
            if failed {
                assert_eq!(event.status.as_deref(), Some("error"), "{record:?}");
            }
            total += 1;
        }
    }
    // panther-analysis (486) + datadog-forwarder-enriched (12) + the S3
    // layout's re-packed copies (324).
    assert_eq!(total, 486 + 12 + 324);
}

/// Expected attributes of one record; `None` = absent.
struct Checked {
    line: usize,
    fields: &'static [(&'static str, Option<&'static str>)],
    timestamp: Option<&'static str>,
    status: &'static str,
    message: &'static str,
}

#[test]
fn hand_checked_records_have_the_right_fields() {
    let path =
        shared_dir().join("data/aws-cloudtrail/panther-analysis/rule-tests.cloudtrail.jsonl");
    let table = [
        // An Identity Center (SSO) session: the email is the session name.
        Checked {
            line: 67,
            fields: &[
                ("evt.name", Some("GetSigninToken")),
                ("evt.actor.type", Some("assumed_role")),
                ("usr.email", Some("user@example.com")),
                ("usr.name", Some("user@example.com")),
                ("usr.id", None),
                (
                    "usr.arn",
                    Some(
                        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/user@example.com",
                    ),
                ),
                ("action", Some("accessed")),
                ("asset.type", Some("signin")),
                ("network.client.ip", Some("10.0.0.1")),
                ("http.useragent", Some("Jersey/${project.version}")),
                ("auth_method", None),
                ("cloud.account.id", Some("123456789012")),
                ("cloud.region", Some("us-east-1")),
            ],
            timestamp: Some("2024-01-15T10:30:00Z"),
            status: "info",
            message: "GetSigninToken by arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/user@example.com",
        },
        // A denied call with a long-term access key.
        Checked {
            line: 53,
            fields: &[
                ("evt.name", Some("ListFunctions20150331")),
                ("evt.actor.type", Some("user")),
                ("usr.id", Some("AIDASXP6SDP2AJQPWVFII")),
                ("usr.name", Some("exposed.user")),
                ("usr.email", None),
                ("action", Some("accessed")),
                ("asset.type", Some("lambda")),
                ("network.client.ip", Some("73.252.165.138")),
                (
                    "http.request_id",
                    Some("ea7dbdf9-6c03-421e-abf4-f201919f9f26"),
                ),
                ("auth_method", Some("access_key")),
                ("error.kind", Some("AccessDenied")),
                ("cloud.account.id", Some("187901811700")),
            ],
            timestamp: Some("2024-06-02T20:16:32Z"),
            status: "error",
            message: "ListFunctions20150331 by arn:aws:iam::187901811700:user/exposed.user failed: AccessDenied",
        },
        // A failed console login (no errorCode, no eventTime).
        Checked {
            line: 32,
            fields: &[
                ("evt.name", Some("ConsoleLogin")),
                ("usr.name", Some("alice")),
                ("action", Some("authenticated")),
                ("auth_method", Some("console")),
                ("asset.type", Some("signin")),
                ("error.kind", None),
                ("cloud.account.id", Some("111122223333")),
            ],
            timestamp: None,
            status: "error",
            message: "ConsoleLogin by alice failed",
        },
        // A service acting: the source is a service name, not an address.
        Checked {
            line: 449,
            fields: &[
                ("evt.name", Some("AssumeRole")),
                ("evt.actor.type", Some("service")),
                ("usr.name", Some("lambda.amazonaws.com")),
                ("action", Some("authenticated")),
                ("asset.type", Some("sts")),
                (
                    "asset.id",
                    Some("arn:aws:iam::123456789123:role/my_role_arn"),
                ),
                ("network.client.ip", None),
                ("network.client.service", Some("lambda.amazonaws.com")),
                ("cloud.region", Some("us-west-2")),
            ],
            timestamp: Some("2024-06-02T20:27:12Z"),
            status: "info",
            message: "AssumeRole by lambda.amazonaws.com",
        },
    ];
    for checked in table {
        let (_, event) = line(Source::CloudTrail, &path, checked.line);
        for (field, expected) in checked.fields {
            assert_eq!(
                attribute(&event, field).as_deref(),
                *expected,
                "line {}: {field}",
                checked.line
            );
        }
        assert_eq!(
            event.timestamp,
            checked.timestamp.map(time),
            "line {}",
            checked.line
        );
        assert_eq!(
            event.status.as_deref(),
            Some(checked.status),
            "line {}",
            checked.line
        );
        assert_eq!(
            event.message.as_deref(),
            Some(checked.message),
            "line {}",
            checked.line
        );
    }
}

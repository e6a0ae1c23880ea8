//! CloudTrail: hand-checked records have the right dd.audit fields.

use evident_sources::Source;

use crate::support::{Checked, check_all, shared_dir};

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
    check_all(Source::CloudTrail, &path, &table);
}

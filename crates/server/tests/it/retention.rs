//! Retention as a setting: read by anyone signed in, changed with
//! `org_management`, bad settings refused with the reason, each change
//! recorded with its previous and new value, kept across a restart.

use serde_json::{Value, json};

use crate::support::{API_KEY, APP_KEY, Server, client, post_with_keys};

fn put(server: &Server, body: &str) -> (u16, Value) {
    let response = client()
        .put(server.url("/api/v1/settings/retention"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .expect("put");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn get(server: &Server) -> Value {
    let response = client()
        .get(server.url("/api/v1/settings/retention"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .send()
        .expect("get");
    assert_eq!(response.status().as_u16(), 200);
    response.json().expect("json")
}

#[test]
fn retention_is_an_audited_setting_kept_across_restarts() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(directory.path(), &["--retention-days", "45"]);
    assert_eq!(get(&server), json!({"days": 45, "sources": {}}));

    for (body, reason) in [
        (r#"{"days": 36501}"#, "at most 36500"),
        (r#"{"days": -1}"#, "expected u32"),
        (r#"{"days": 30, "sources": {"": 3}}"#, "source's name"),
        (
            r#"{"days": 30, "sources": {"github": 40000}}"#,
            "sources.github",
        ),
        (r#"{"days": 30, "keep": "forever"}"#, "unknown field"),
        (r#"{"sources": {}}"#, "missing field `days`"),
        ("not json", "not valid JSON"),
    ] {
        let (status, answer) = put(&server, body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(reason), "{body}: {answer}");
    }
    assert_eq!(
        get(&server),
        json!({"days": 45, "sources": {}}),
        "nothing changed"
    );

    let setting = json!({"days": 365, "sources": {"github": 30, "evident": 0}});
    let (status, answer) = put(&server, &setting.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, setting);
    let (status, page) = post_with_keys(
        &server,
        "/api/v2/logs/events/search",
        json!({"filter": {"query": "source:evident @evt.name:audit_trail_settings", "from": "now-1h"}}),
    );
    assert_eq!(status, 200);
    let records = page["data"].as_array().expect("data");
    assert_eq!(records.len(), 1, "{page}");
    let record = &records[0]["attributes"]["attributes"];
    assert_eq!(record["action"], "modified");
    assert_eq!(record["asset"]["type"], "retention");
    assert_eq!(
        record["asset"]["prev_value"],
        json!({"days": 45, "sources": {}})
    );
    assert_eq!(record["asset"]["new_value"], setting);
    assert_eq!(record["usr"]["email"], "admin@localhost");
    assert_eq!(record["http"]["method"], "PUT");

    server.stop();
    // The flag no longer rules once the setting was made.
    let server = Server::start_with(directory.path(), &["--retention-days", "45"]);
    assert_eq!(get(&server), setting);
}

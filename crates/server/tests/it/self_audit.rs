//! Every change and every read of events made through a guarded route is
//! recorded as evident's own audit event naming its actor, generated from
//! the route table (`evident_http::GUARDED`): each route is either asked
//! below, with what its record must say, or listed as one that reads only
//! evident's state (unrecorded); a new route in neither fails the test.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use evident::access::{Access, KeyKind};
use evident_http::GUARDED;
use serde_json::{Value, json};

use crate::support::{API_KEY, APP_KEY, Server, client, submit};

/// Routes that read evident's own state, not events: not recorded.
const UNRECORDED: &[(&str, &str)] = &[
    ("GET", "/api/v1/query/validate"),
    ("GET", "/api/v1/views"),
    ("GET", "/api/v1/settings/retention"),
    ("GET", "/api/v1/integrity/checkpoint"),
    ("GET", "/api/v1/integrity/proof/consistency"),
    ("GET", "/api/v2/api_keys"),
    ("GET", "/api/v2/api_keys/{id}"),
    ("GET", "/api/v2/current_user/application_keys"),
    ("GET", "/api/v2/current_user/application_keys/{id}"),
    ("GET", "/api/v2/application_keys"),
    ("GET", "/api/v2/application_keys/{id}"),
    ("GET", "/api/v2/users"),
    ("GET", "/api/v2/users/{id}"),
    ("GET", "/api/v2/users/{id}/permissions"),
    ("GET", "/api/v2/roles"),
    ("GET", "/api/v2/roles/{id}"),
    ("GET", "/api/v2/roles/{id}/permissions"),
    ("GET", "/api/v2/roles/{id}/users"),
    ("GET", "/api/v2/permissions"),
    ("GET", "/api/v1/monitor"),
    ("GET", "/api/v1/monitor/{id}"),
    // Checks a definition; keeps and reads nothing.
    ("POST", "/api/v1/monitor/validate"),
    ("GET", "/api/v1/integration/webhooks/configuration/webhooks"),
    (
        "GET",
        "/api/v1/integration/webhooks/configuration/webhooks/{name}",
    ),
    ("GET", "/api/v1/integration/slack/configuration/channels"),
    (
        "GET",
        "/api/v1/integration/slack/configuration/channels/{name}",
    ),
    (
        "GET",
        "/api/v1/integration/pagerduty/configuration/services",
    ),
    (
        "GET",
        "/api/v1/integration/pagerduty/configuration/services/{name}",
    ),
];

/// One request of the walk and what its record must say.
struct Step {
    method: &'static str,
    /// The route as declared.
    route: &'static str,
    /// The path asked, ids filled in.
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// The application key it is made with, and its owner's email.
    key: String,
    email: &'static str,
    evt_name: &'static str,
}

fn send(server: &Server, step: &Step) -> (u16, Value) {
    let http = client();
    let url = server.url(&step.path);
    let request = match step.method {
        "GET" => http.get(url),
        "POST" => http.post(url),
        "PATCH" => http.patch(url),
        "PUT" => http.put(url),
        "DELETE" => http.delete(url),
        other => panic!("a method the walk does not know: {other}"),
    };
    let request = request
        .query(&step.query)
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", &step.key);
    let request = match &step.body {
        Some(body) => request.json(body),
        None => request,
    };
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The query of the search that reads the records.
const FINDER: &str = "source:evident";

/// evident's newest own events, newest first.
fn newest_records(server: &Server) -> Vec<Value> {
    let response = client()
        .post(server.url("/api/v2/logs/events/search"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .json(
            &json!({"filter": {"query": FINDER, "from": "now-1h", "to": "now+1m"},
                      "sort": "-timestamp", "page": {"limit": 40}}),
        )
        .send()
        .expect("search");
    assert_eq!(response.status().as_u16(), 200);
    let page: Value = response.json().expect("json");
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|hit| hit["attributes"]["attributes"].clone())
        .collect()
}

#[test]
fn every_change_and_read_of_events_is_recorded_with_its_actor() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (access, _) = Access::open(directory.path(), Some(API_KEY), Some(APP_KEY)).expect("access");
    let standard = access
        .create_user("standard@example.com", "Standard", &["Standard".to_owned()])
        .expect("user");
    let (_, standard_key) = access
        .create_key(KeyKind::Application, "walk", &standard.id, "admin")
        .expect("key");
    drop(access);
    let server = Server::start(directory.path());
    assert_eq!(
        submit(&server, r#"[{"message":"an event to read"}]"#)
            .status()
            .as_u16(),
        202
    );

    let admin = |method, route: &'static str, path: String, body: Option<Value>, evt_name| Step {
        method,
        route,
        path,
        query: Vec::new(),
        body,
        key: APP_KEY.to_owned(),
        email: "admin@localhost",
        evt_name,
    };
    let by_standard =
        |method, route: &'static str, path: String, body: Option<Value>, evt_name| Step {
            key: standard_key.clone(),
            email: "standard@example.com",
            ..admin(method, route, path, body, evt_name)
        };
    let mut asked: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut wrong = Vec::new();
    let mut walk = |step: Step| -> Value {
        let (status, answer) = send(&server, &step);
        assert!(
            (200..300).contains(&status),
            "{} {}: {status} {answer}",
            step.method,
            step.path
        );
        asked.insert((step.method, step.route));
        // The newest record of this request (the search that finds it is
        // recorded too, with its own query text). A read's record becomes
        // searchable within 10 ms of its answer, a change's before it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let record = loop {
            let found = newest_records(&server).into_iter().find(|record| {
                record["http"]["method"] == step.method
                    && record["http"]["url_details"]["path"] == step.path.as_str()
                    && record["query"]["text"] != FINDER
            });
            if found.is_some() || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        match record {
            None => wrong.push(format!("{} {}: no record", step.method, step.path)),
            Some(record) => {
                if record["usr"]["email"] != step.email || record["evt"]["name"] != step.evt_name {
                    wrong.push(format!(
                        "{} {}: recorded as {} by {}, expected {} by {}",
                        step.method,
                        step.path,
                        record["evt"]["name"],
                        record["usr"]["email"],
                        step.evt_name,
                        step.email
                    ));
                }
            }
        }
        answer
    };
    let id_of = |answer: &Value| -> String {
        answer["data"]["id"]
            .as_str()
            .or_else(|| answer["id"].as_str())
            .unwrap_or_else(|| panic!("an id in {answer}"))
            .to_owned()
    };

    // Saved views, by Standard.
    let view = walk(by_standard(
        "POST",
        "/api/v1/views",
        "/api/v1/views".into(),
        Some(json!({"name": "walk", "query": "*"})),
        "saved_view",
    ));
    let view = format!("/api/v1/views/{}", id_of(&view));
    walk(by_standard(
        "PATCH",
        "/api/v1/views/{id}",
        view.clone(),
        Some(json!({"name": "walked"})),
        "saved_view",
    ));
    walk(by_standard(
        "DELETE",
        "/api/v1/views/{id}",
        view,
        None,
        "saved_view",
    ));

    // Monitors, by Standard; the channels they notify, by Admin.
    for (route, body) in [
        (
            "/api/v1/integration/webhooks/configuration/webhooks",
            json!({"name": "walk", "url": "http://127.0.0.1:9/hook"}),
        ),
        (
            "/api/v1/integration/slack/configuration/channels",
            json!({"name": "walk", "url": "http://127.0.0.1:9/slack"}),
        ),
        (
            "/api/v1/integration/pagerduty/configuration/services",
            json!({"service_name": "walk", "service_key": "routing-key"}),
        ),
    ] {
        walk(admin(
            "POST",
            route,
            route.into(),
            Some(body.clone()),
            "notification_channel",
        ));
    }
    walk(by_standard(
        "POST",
        "/api/v1/monitor/notify_test",
        "/api/v1/monitor/notify_test".into(),
        Some(json!({"name": "walk", "type": "audit alert",
                    "query": "audits(\"@evt.name:walk\").rollup(\"count\").last(\"5m\") > 10",
                    "message": "a test @webhook-walk"})),
        "monitor_notification",
    ));
    let monitor = walk(by_standard(
        "POST",
        "/api/v1/monitor",
        "/api/v1/monitor".into(),
        Some(json!({"name": "walk", "type": "audit alert",
                    "query": "audits(\"@evt.name:walk\").rollup(\"count\").last(\"5m\") > 10",
                    "message": "walked @webhook-walk @slack-walk @pagerduty-walk"})),
        "monitor",
    ));
    let monitor = format!(
        "/api/v1/monitor/{}",
        monitor["id"].as_i64().expect("a monitor's id")
    );
    walk(by_standard(
        "PUT",
        "/api/v1/monitor/{id}",
        monitor.clone(),
        Some(json!({"name": "walked"})),
        "monitor",
    ));
    walk(by_standard(
        "POST",
        "/api/v1/monitor/{id}/mute",
        format!("{monitor}/mute"),
        Some(json!({"scope": "*"})),
        "monitor",
    ));
    walk(by_standard(
        "POST",
        "/api/v1/monitor/{id}/unmute",
        format!("{monitor}/unmute"),
        Some(json!({"scope": "*"})),
        "monitor",
    ));
    walk(by_standard(
        "DELETE",
        "/api/v1/monitor/{id}",
        monitor,
        None,
        "monitor",
    ));
    for (route, one, body) in [
        (
            "/api/v1/integration/webhooks/configuration/webhooks",
            "/api/v1/integration/webhooks/configuration/webhooks/{name}",
            json!({"url": "http://127.0.0.1:9/hook2"}),
        ),
        (
            "/api/v1/integration/slack/configuration/channels",
            "/api/v1/integration/slack/configuration/channels/{name}",
            json!({"url": "http://127.0.0.1:9/slack2"}),
        ),
        (
            "/api/v1/integration/pagerduty/configuration/services",
            "/api/v1/integration/pagerduty/configuration/services/{name}",
            json!({"service_key": "routing-key-2"}),
        ),
    ] {
        walk(admin(
            "PUT",
            one,
            format!("{route}/walk"),
            Some(body),
            "notification_channel",
        ));
        walk(admin(
            "DELETE",
            one,
            format!("{route}/walk"),
            None,
            "notification_channel",
        ));
    }

    // Settings.
    walk(admin(
        "PUT",
        "/api/v1/settings/retention",
        "/api/v1/settings/retention".into(),
        Some(json!({"days": 120, "sources": {"github": 30}})),
        "audit_trail_settings",
    ));

    // API keys.
    let key = walk(admin(
        "POST",
        "/api/v2/api_keys",
        "/api/v2/api_keys".into(),
        Some(json!({"data": {"type": "api_keys", "attributes": {"name": "walk"}}})),
        "api_key",
    ));
    let key_id = id_of(&key);
    let key = format!("/api/v2/api_keys/{key_id}");
    walk(admin(
        "PATCH",
        "/api/v2/api_keys/{id}",
        key.clone(),
        Some(json!({"data": {"type": "api_keys", "id": key_id, "attributes": {"name": "walked"}}})),
        "api_key",
    ));
    walk(admin(
        "DELETE",
        "/api/v2/api_keys/{id}",
        key,
        None,
        "api_key",
    ));

    // One's own application keys, by Standard.
    let own = walk(by_standard(
        "POST",
        "/api/v2/current_user/application_keys",
        "/api/v2/current_user/application_keys".into(),
        Some(json!({"data": {"type": "application_keys", "attributes": {"name": "walk"}}})),
        "application_key",
    ));
    let own_id = id_of(&own);
    let own = format!("/api/v2/current_user/application_keys/{own_id}");
    walk(by_standard(
        "PATCH",
        "/api/v2/current_user/application_keys/{id}",
        own.clone(),
        Some(
            json!({"data": {"type": "application_keys", "id": own_id, "attributes": {"name": "walked"}}}),
        ),
        "application_key",
    ));
    walk(by_standard(
        "DELETE",
        "/api/v2/current_user/application_keys/{id}",
        own,
        None,
        "application_key",
    ));

    // Users, everyone's application keys, roles.
    let user = walk(admin(
        "POST",
        "/api/v2/users",
        "/api/v2/users".into(),
        Some(
            json!({"data": {"type": "users", "attributes": {"email": "walk@example.com", "name": "Walk"}}}),
        ),
        "user_access_management",
    ));
    let user_id = id_of(&user);
    let user = format!("/api/v2/users/{user_id}");
    walk(admin(
        "PATCH",
        "/api/v2/users/{id}",
        user.clone(),
        Some(json!({"data": {"type": "users", "id": user_id, "attributes": {"name": "Walked"}}})),
        "user_access_management",
    ));
    let theirs = walk(admin(
        "POST",
        "/api/v2/application_keys",
        "/api/v2/application_keys".into(),
        Some(
            json!({"data": {"type": "application_keys", "attributes": {"name": "theirs"},
            "relationships": {"owned_by": {"data": {"type": "users", "id": user_id}}}}}),
        ),
        "application_key",
    ));
    let theirs_id = id_of(&theirs);
    let theirs = format!("/api/v2/application_keys/{theirs_id}");
    walk(admin(
        "PATCH",
        "/api/v2/application_keys/{id}",
        theirs.clone(),
        Some(
            json!({"data": {"type": "application_keys", "id": theirs_id, "attributes": {"name": "their"}}}),
        ),
        "application_key",
    ));
    walk(admin(
        "DELETE",
        "/api/v2/application_keys/{id}",
        theirs,
        None,
        "application_key",
    ));
    let role = walk(admin(
        "POST",
        "/api/v2/roles",
        "/api/v2/roles".into(),
        Some(json!({"data": {"type": "roles", "attributes": {"name": "Walkers"}}})),
        "user_access_management",
    ));
    let role_id = id_of(&role);
    let role = format!("/api/v2/roles/{role_id}");
    walk(admin(
        "PATCH",
        "/api/v2/roles/{id}",
        role.clone(),
        Some(
            json!({"data": {"type": "roles", "id": role_id, "attributes": {"name": "Walkers 2"}}}),
        ),
        "user_access_management",
    ));
    let permission = json!({"data": {"type": "permissions", "id": "audit_logs_read"}});
    walk(admin(
        "POST",
        "/api/v2/roles/{id}/permissions",
        format!("{role}/permissions"),
        Some(permission.clone()),
        "user_access_management",
    ));
    walk(admin(
        "DELETE",
        "/api/v2/roles/{id}/permissions",
        format!("{role}/permissions"),
        Some(permission),
        "user_access_management",
    ));
    let member = json!({"data": {"type": "users", "id": user_id}});
    walk(admin(
        "POST",
        "/api/v2/roles/{id}/users",
        format!("{role}/users"),
        Some(member.clone()),
        "user_access_management",
    ));
    walk(admin(
        "DELETE",
        "/api/v2/roles/{id}/users",
        format!("{role}/users"),
        Some(member),
        "user_access_management",
    ));
    walk(admin(
        "DELETE",
        "/api/v2/roles/{id}",
        role,
        None,
        "user_access_management",
    ));
    walk(admin(
        "DELETE",
        "/api/v2/users/{id}",
        user,
        None,
        "user_access_management",
    ));
    walk(by_standard(
        "PUT",
        "/api/v1/current_user/password",
        "/api/v1/current_user/password".into(),
        Some(json!({"current_password": null, "new_password": "a walk in the park"})),
        "user_access_management",
    ));

    // Reads of events, by Standard.
    let window = json!({"filter": {"query": "walk-query", "from": "now-1h"}});
    for route in [
        "/api/v2/logs/events/search",
        "/api/v2/audit/events/search",
        "/api/v2/logs/analytics/aggregate",
    ] {
        walk(by_standard(
            "POST",
            route,
            route.into(),
            Some(window.clone()),
            "audit_logs_query",
        ));
    }
    walk(by_standard(
        "POST",
        "/api/v1/live",
        "/api/v1/live".into(),
        Some(json!({"query": "walk-query"})),
        "audit_logs_query",
    ));
    walk(by_standard(
        "POST",
        "/api/v1/sql",
        "/api/v1/sql".into(),
        Some(json!({"query": "SELECT 1"})),
        "sql_query",
    ));
    for route in ["/api/v2/logs/events", "/api/v2/audit/events"] {
        walk(Step {
            query: vec![
                ("filter[query]", "walk-query".into()),
                ("filter[from]", "now-1h".into()),
            ],
            ..by_standard("GET", route, route.into(), None, "audit_logs_query")
        });
    }
    walk(Step {
        query: vec![
            ("query", "walk-query".into()),
            ("from", "now-1h".into()),
            ("to", "now+1m".into()),
        ],
        ..by_standard(
            "GET",
            "/api/v1/export",
            "/api/v1/export".into(),
            None,
            "audit_logs_query",
        )
    });
    let (_, page) = send(
        &server,
        &Step {
            query: vec![
                ("filter[query]", "\"an event to read\"".into()),
                ("filter[from]", "now-1h".into()),
            ],
            ..admin(
                "GET",
                "/api/v2/logs/events",
                "/api/v2/logs/events".into(),
                None,
                "audit_logs_query",
            )
        },
    );
    let event_id = page["data"][0]["id"]
        .as_str()
        .expect("the event sent")
        .to_owned();
    walk(Step {
        query: vec![("id", event_id)],
        ..by_standard(
            "GET",
            "/api/v1/integrity/proof/inclusion",
            "/api/v1/integrity/proof/inclusion".into(),
            None,
            "audit_logs_query",
        )
    });

    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let unrecorded: BTreeSet<(&str, &str)> = UNRECORDED.iter().copied().collect();
    let missing: Vec<String> = GUARDED
        .iter()
        .filter(|route| {
            !asked.contains(&(route.method, route.path))
                && !unrecorded.contains(&(route.method, route.path))
        })
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    assert!(
        missing.is_empty(),
        "routes neither walked nor declared unrecorded: {}",
        missing.join(", ")
    );
}

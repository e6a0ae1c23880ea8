//! The authorization matrix, generated from the route table
//! (`evident_http::GUARDED`): every guarded route against every kind of
//! credential, the expected refusal or admission, and the self-audit
//! record of an allowed change naming its actor.

use std::collections::BTreeSet;

use evident::access::{Access, KeyKind, ManagedRole, Permission, UserStatus};
use evident_http::GUARDED;
use serde_json::json;

use crate::support::{API_KEY, APP_KEY, Server, client, post_with_keys, sign_in_with_key};

/// How a request presents itself.
#[derive(Debug, Clone)]
enum Credential {
    None,
    /// DD-API-KEY and DD-APPLICATION-KEY.
    Keys(String),
    Bearer(String),
    /// A UI session's cookie, with its CSRF token or without.
    Cookie(String, Option<String>),
}

struct Caller {
    what: &'static str,
    credential: Credential,
    /// `None`: refused with this status whatever the route.
    permissions: Option<BTreeSet<Permission>>,
    refused_with: u16,
}

fn application_key(access: &Access, user: &str) -> (String, String) {
    let (stored, key) = access
        .create_key(KeyKind::Application, "matrix", user, "admin")
        .expect("key");
    (stored.id, key)
}

fn send(server: &Server, method: &str, path: &str, credential: &Credential) -> u16 {
    let path = path.replace("{id}", "no-such-view");
    let http = client();
    let url = server.url(&path);
    let mut request = match method {
        "GET" => http.get(url),
        "POST" => http.post(url).json(&json!({})),
        "PATCH" => http.patch(url).json(&json!({})),
        "PUT" => http.put(url).json(&json!({})),
        "DELETE" => http.delete(url),
        other => panic!("a method the matrix does not know: {other}"),
    };
    request = match credential {
        Credential::None => request,
        Credential::Keys(key) => request
            .header("DD-API-KEY", API_KEY)
            .header("DD-APPLICATION-KEY", key),
        Credential::Bearer(key) => request.header("Authorization", format!("Bearer {key}")),
        Credential::Cookie(cookie, csrf) => {
            let request = request.header("Cookie", cookie);
            match csrf {
                Some(csrf) => request.header("X-CSRF-Token", csrf),
                None => request,
            }
        }
    };
    request.send().expect("request").status().as_u16()
}

#[test]
fn every_guarded_route_admits_exactly_the_callers_its_permission_names() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (access, _) = Access::open(directory.path(), Some(API_KEY), Some(APP_KEY)).expect("access");
    let create = |email: &str, roles: &[&str]| {
        let roles: Vec<String> = roles.iter().map(|role| (*role).to_owned()).collect();
        access.create_user(email, email, &roles).expect("user")
    };
    let reader = create("reader@example.com", &["Read Only"]);
    let standard = create("standard@example.com", &["Standard"]);
    let exporter_role = access
        .create_role("Exporter", BTreeSet::from([Permission::AuditLogsExport]))
        .expect("role");
    let exporter = create("exporter@example.com", &[exporter_role.id.as_str()]);
    let leaver = create("leaver@example.com", &["Admin"]);
    let (_, reader_key) = application_key(&access, &reader.id);
    let (_, standard_key) = application_key(&access, &standard.id);
    let (_, exporter_key) = application_key(&access, &exporter.id);
    let (_, leaver_key) = application_key(&access, &leaver.id);
    let (revoked_id, revoked_key) = application_key(&access, &standard.id);
    access.revoke_key(&revoked_id).expect("revoke");
    access
        .set_user_status(&leaver.id, UserStatus::Disabled)
        .expect("disable");
    drop(access);

    let server = Server::start(directory.path());
    let (reader_cookie, reader_csrf) = sign_in_with_key(&server, &reader_key);
    let callers = [
        Caller {
            what: "no credential",
            credential: Credential::None,
            permissions: None,
            refused_with: 401,
        },
        Caller {
            what: "an unknown application key",
            credential: Credential::Keys("not-a-key".into()),
            permissions: None,
            refused_with: 403,
        },
        Caller {
            what: "an API key as a bearer token",
            credential: Credential::Bearer(API_KEY.into()),
            permissions: None,
            refused_with: 403,
        },
        Caller {
            what: "a disabled user's key",
            credential: Credential::Keys(leaver_key),
            permissions: None,
            refused_with: 403,
        },
        Caller {
            what: "a revoked key",
            credential: Credential::Bearer(revoked_key),
            permissions: None,
            refused_with: 403,
        },
        Caller {
            what: "Admin",
            credential: Credential::Keys(APP_KEY.into()),
            permissions: Some(ManagedRole::Admin.permissions()),
            refused_with: 403,
        },
        Caller {
            what: "Standard",
            credential: Credential::Keys(standard_key.clone()),
            permissions: Some(ManagedRole::Standard.permissions()),
            refused_with: 403,
        },
        Caller {
            what: "Read Only",
            credential: Credential::Bearer(reader_key.clone()),
            permissions: Some(ManagedRole::ReadOnly.permissions()),
            refused_with: 403,
        },
        Caller {
            what: "Read Only, signed in to the UI",
            credential: Credential::Cookie(reader_cookie.clone(), Some(reader_csrf)),
            permissions: Some(ManagedRole::ReadOnly.permissions()),
            refused_with: 403,
        },
        Caller {
            what: "Read Only, signed in to the UI, without the CSRF token",
            credential: Credential::Cookie(reader_cookie, None),
            permissions: Some(ManagedRole::ReadOnly.permissions()),
            refused_with: 403,
        },
        Caller {
            what: "a custom role with audit_logs_export only",
            credential: Credential::Keys(exporter_key),
            permissions: Some(BTreeSet::from([Permission::AuditLogsExport])),
            refused_with: 403,
        },
    ];
    let mut wrong = Vec::new();
    for route in GUARDED {
        for caller in &callers {
            let status = send(&server, route.method, route.path, &caller.credential);
            // Without its CSRF token, a session may read, never change.
            let forged =
                matches!(caller.credential, Credential::Cookie(_, None)) && route.method != "GET";
            let allowed = !forged
                && caller
                    .permissions
                    .as_ref()
                    .is_some_and(|permissions| route.need.admits(permissions));
            let fine = if allowed {
                status != 401 && status != 403
            } else {
                status == caller.refused_with
            };
            if !fine {
                wrong.push(format!(
                    "{} {} by {}: {status} (allowed: {allowed})",
                    route.method, route.path, caller.what
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // An allowed change is recorded with its actor.
    let response = client()
        .post(server.url("/api/v1/views"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", &standard_key)
        .json(&json!({"name": "standard's view", "query": "*"}))
        .send()
        .expect("create a view");
    assert_eq!(response.status().as_u16(), 201);
    let (status, page) = post_with_keys(
        &server,
        "/api/v2/logs/events/search",
        json!({"filter": {"query": "source:evident @evt.name:saved_view @action:created", "from": "now-1h"}}),
    );
    assert_eq!(status, 200, "{page}");
    let attributes = &page["data"][0]["attributes"]["attributes"];
    assert_eq!(attributes["usr"]["email"], "standard@example.com", "{page}");
    assert_eq!(attributes["usr"]["id"], standard.id);
    assert_eq!(attributes["auth_method"], "api_app_keys");
}

#[test]
fn with_reads_audited_every_read_is_recorded_with_its_actor_and_query() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(directory.path(), &["--audit-reads", "durable"]);
    let events = json!([{"message": "one"}, {"message": "two"}, {"message": "three"}]);
    assert_eq!(
        crate::support::submit(&server, &events.to_string())
            .status()
            .as_u16(),
        202
    );
    let keyed = |request: reqwest::blocking::RequestBuilder| {
        request
            .header("DD-API-KEY", API_KEY)
            .header("DD-APPLICATION-KEY", APP_KEY)
            .send()
            .expect("request")
    };
    let http = client();
    let search = keyed(
        http.post(server.url("/api/v2/logs/events/search"))
            .json(&json!({"filter": {"query": "needle-query", "from": "now-1h"}})),
    );
    assert_eq!(search.status().as_u16(), 200);
    let aggregate = keyed(
        http.post(server.url("/api/v2/logs/analytics/aggregate"))
            .json(&json!({"filter": {"query": "aggregate-query", "from": "now-1h"}})),
    );
    assert_eq!(aggregate.status().as_u16(), 200);
    let export = keyed(http.get(server.url("/api/v1/export")).query(&[
        ("query", "-source:evident"),
        ("from", "now-1h"),
        ("to", "now+1m"),
    ]));
    assert_eq!(export.status().as_u16(), 200);
    assert_eq!(
        export.text().expect("csv").lines().count(),
        4,
        "a header and three rows"
    );
    let live = keyed(
        http.post(server.url("/api/v1/live"))
            .json(&json!({"query": "tail-query"})),
    );
    assert_eq!(live.status().as_u16(), 200);

    let (status, page) = post_with_keys(
        &server,
        "/api/v2/logs/events/search",
        json!({"filter": {"query": "source:evident @evt.name:audit_logs_query", "from": "now-1h"}, "page": {"limit": 100}}),
    );
    assert_eq!(status, 200, "{page}");
    let records: Vec<&serde_json::Value> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|hit| &hit["attributes"]["attributes"])
        .collect();
    let find = |kind: &str, text: &str| {
        records
            .iter()
            .find(|record| record["asset"]["type"] == kind && record["query"]["text"] == text)
            .copied()
    };
    let searched = find("search", "needle-query").expect("the search is recorded");
    assert_eq!(searched["usr"]["email"], "admin@localhost");
    assert_eq!(searched["action"], "queried");
    assert_eq!(
        searched["http"]["url_details"]["path"],
        "/api/v2/logs/events/search"
    );
    assert!(find("aggregate", "aggregate-query").is_some(), "{page}");
    assert!(find("live_tail", "tail-query").is_some(), "{page}");
    let exported = records
        .iter()
        .find(|record| record["asset"]["type"] == "export" && record["query"]["results"] == 3)
        .expect("the export is recorded with its row count");
    assert_eq!(exported["query"]["text"], "-source:evident");
}

#[test]
fn failed_key_checks_are_recorded_once_a_window_per_key_and_address() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(directory.path(), &["--failed-key-window-seconds", "1"]);
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let status = send(
            &server,
            "POST",
            "/api/v2/logs/events/search",
            &Credential::Keys("stolen-guess".into()),
        );
        assert_eq!(status, 403);
    }
    let query = json!({"filter": {"query": "source:evident @evt.name:authentication @action:key_check", "from": "now-1h"}});
    let records = loop {
        let (status, page) = post_with_keys(&server, "/api/v2/logs/events/search", query.clone());
        assert_eq!(status, 200, "{page}");
        let records = page["data"].as_array().cloned().unwrap_or_default();
        let failures: u64 = records
            .iter()
            .filter_map(|hit| hit["attributes"]["attributes"]["auth"]["failures"].as_u64())
            .sum();
        if failures >= 20 || started.elapsed() > std::time::Duration::from_secs(10) {
            break records;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let failures: u64 = records
        .iter()
        .filter_map(|hit| hit["attributes"]["attributes"]["auth"]["failures"].as_u64())
        .sum();
    assert_eq!(failures, 20, "{records:?}");
    assert!(
        records.len() <= 3,
        "aggregated, not one a request: {}",
        records.len()
    );
    let attributes = &records[0]["attributes"]["attributes"];
    assert_eq!(attributes["network"]["client"]["ip"], "127.0.0.1");
    assert!(
        attributes["metadata"]["application_key"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("key:")),
        "{attributes}"
    );
    assert_eq!(records[0]["attributes"]["status"], "error");
    assert!(
        !serde_json::Value::Array(records)
            .to_string()
            .contains("stolen-guess")
    );
}

/// `evident <args>` with the Admin's keys; its output and exit code.
fn cli(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(args)
        .env("EVIDENT_API_KEY", API_KEY)
        .env("EVIDENT_APP_KEY", APP_KEY)
        .env("USER", "operator")
        .env_remove("EVIDENT_SERVER")
        .output()
        .expect("run evident");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn users_and_keys_commands_work_on_a_data_directory_and_on_a_server() {
    let directory = tempfile::tempdir().expect("temp dir");
    let data_dir = directory.path().to_str().expect("a UTF-8 path");
    // Bootstrap on the stopped directory: the keys file is made by the
    // first open of the store's owner, the server.
    drop(Server::start(directory.path()));
    let (code, out, err) = cli(&[
        "users",
        "create",
        "--data-dir",
        data_dir,
        "--email",
        "ana@example.com",
        "--name",
        "Ana",
        "--role",
        "Read Only",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, key, err) = cli(&[
        "keys",
        "create",
        "--data-dir",
        data_dir,
        "--user",
        "ana@example.com",
        "--name",
        "laptop",
    ]);
    assert_eq!(code, 0, "{err}");
    let key = key.trim().to_owned();
    assert_eq!(key.len(), 32, "a key of 128 bits in hex: {key:?}");
    let (code, _, err) = cli(&[
        "users",
        "disable",
        "--data-dir",
        data_dir,
        "admin@localhost",
    ]);
    assert_eq!(code, 2, "the last Admin stays: {err}");
    assert!(err.contains("Admin"), "{err}");

    let server = Server::start(directory.path());
    let reader = client()
        .post(server.url("/api/v2/logs/events/search"))
        .header("Authorization", format!("Bearer {key}"))
        .json(&json!({"filter": {"query": "*", "from": "now-1h"}}))
        .send()
        .expect("search");
    assert_eq!(reader.status().as_u16(), 200, "the key made offline works");

    let on_server = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", server.base.as_str()]);
        cli(&all)
    };
    let (code, out, err) = on_server(&["users", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ana@example.com") && out.contains("Read Only"),
        "{out}"
    );
    let (code, _, err) = on_server(&[
        "users",
        "create",
        "--email",
        "ana@example.com",
        "--role",
        "Standard",
    ]);
    assert_eq!(code, 2, "a duplicate email: {err}");
    let (code, second, err) = on_server(&[
        "keys",
        "create",
        "--user",
        "ana@example.com",
        "--name",
        "ci",
        "--scope",
        "audit_logs_read",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = on_server(&["keys", "list"]);
    assert_eq!(code, 0, "{err}");
    let laptop = out
        .lines()
        .find(|line| line.ends_with(" laptop"))
        .and_then(|line| line.split_whitespace().next())
        .expect("the laptop key is listed")
        .to_owned();
    assert!(out.contains(&key[key.len() - 4..]), "{out}");
    let (code, _, err) = on_server(&["keys", "revoke", &laptop]);
    assert_eq!(code, 0, "{err}");
    let refused = client()
        .post(server.url("/api/v2/logs/events/search"))
        .header("Authorization", format!("Bearer {key}"))
        .json(&json!({"filter": {"query": "*", "from": "now-1h"}}))
        .send()
        .expect("search");
    assert_eq!(refused.status().as_u16(), 403, "a revoked key");
    let (code, _, err) = on_server(&["users", "disable", "ana@example.com"]);
    assert_eq!(code, 0, "{err}");
    let disabled = client()
        .post(server.url("/api/v2/logs/events/search"))
        .header("Authorization", format!("Bearer {}", second.trim()))
        .json(&json!({"filter": {"query": "*", "from": "now-1h"}}))
        .send()
        .expect("search");
    assert_eq!(disabled.status().as_u16(), 403, "a disabled user's key");

    // Offline changes are credited to the machine's user, the others to
    // the Admin whose key the command used.
    let (status, page) = post_with_keys(
        &server,
        "/api/v2/logs/events/search",
        json!({"filter": {"query": "source:evident @evt.name:(user_access_management OR application_key)", "from": "now-1h"}, "page": {"limit": 50}}),
    );
    assert_eq!(status, 200, "{page}");
    let actors: Vec<(String, String)> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|hit| {
            let attributes = &hit["attributes"]["attributes"];
            (
                attributes["usr"]["id"].as_str().unwrap_or("").to_owned(),
                attributes["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        actors.contains(&("cli:operator".into(), "created".into())),
        "{actors:?}"
    );
    assert!(
        actors.contains(&("admin".into(), "deleted".into())),
        "{actors:?}"
    );
    assert!(
        actors.contains(&("admin".into(), "modified".into())),
        "{actors:?}"
    );
    assert!(!page.to_string().contains(&key), "no key text in the trail");
}

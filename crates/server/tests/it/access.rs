//! The authorization matrix, generated from the route table
//! (`evident_http::GUARDED`): every guarded route against every kind of
//! credential, the expected refusal or admission, and the self-audit
//! record of an allowed change naming its actor.

use std::collections::BTreeSet;

use evident::access::{Access, KeyKind, ManagedRole, Permission, UserStatus};
use evident_http::GUARDED;
use serde_json::json;

use crate::support::{API_KEY, APP_KEY, Server, client, post_with_keys};

/// How a request presents itself.
#[derive(Debug, Clone)]
enum Credential {
    None,
    /// DD-API-KEY and DD-APPLICATION-KEY.
    Keys(String),
    Bearer(String),
    Cookie(String),
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

fn sign_in(server: &Server, key: &str) -> String {
    let response = client()
        .post(server.url("/api/v1/ui/session"))
        .json(&json!({"application_key": key}))
        .send()
        .expect("sign in");
    assert_eq!(response.status().as_u16(), 204);
    response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

fn send(server: &Server, method: &str, path: &str, credential: &Credential) -> u16 {
    let path = path.replace("{id}", "no-such-view");
    let http = client();
    let url = server.url(&path);
    let mut request = match method {
        "GET" => http.get(url),
        "POST" => http.post(url).json(&json!({})),
        "PATCH" => http.patch(url).json(&json!({})),
        "DELETE" => http.delete(url),
        other => panic!("a method the matrix does not know: {other}"),
    };
    request = match credential {
        Credential::None => request,
        Credential::Keys(key) => request
            .header("DD-API-KEY", API_KEY)
            .header("DD-APPLICATION-KEY", key),
        Credential::Bearer(key) => request.header("Authorization", format!("Bearer {key}")),
        Credential::Cookie(cookie) => request.header("Cookie", cookie),
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
    let reader_session = sign_in(&server, &reader_key);
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
            credential: Credential::Cookie(reader_session),
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
            let allowed = caller
                .permissions
                .as_ref()
                .is_some_and(|permissions| permissions.contains(&route.permission));
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

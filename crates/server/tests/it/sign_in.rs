//! Signing in to the web UI with a password: sessions that end when idle
//! or signed out, the CSRF token on every change made with the cookie,
//! failed sign-ins recorded, an account locked after repeated failures
//! (the lock itself recorded), and the first seed's failed-authentication
//! SQL returning them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{API_KEY, APP_KEY, Server, client, post_with_keys, sql_rows};

const PASSWORD: &str = "correct horse battery staple";

/// Makes a Read Only user with a password, through the management API.
fn user_with_password(server: &Server, email: &str) -> String {
    let response = client()
        .post(server.url("/api/v2/users"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .json(&json!({"data": {"type": "users",
            "attributes": {"email": email, "name": "Ana", "password": PASSWORD},
            "relationships": {"roles": {"data": [{"type": "roles", "id": "read_only"}]}}}}))
        .send()
        .expect("create a user");
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().expect("json");
    assert!(
        !created.to_string().contains("argon2"),
        "no hash in answers"
    );
    created["data"]["id"].as_str().expect("an id").to_owned()
}

/// `(status, cookie, body)` of a password sign-in.
fn sign_in(server: &Server, email: &str, password: &str) -> (u16, Option<String>, Value) {
    let response = client()
        .post(server.url("/api/v1/ui/session"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .expect("sign in");
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (status, cookie, response.json().unwrap_or(Value::Null))
}

fn with_cookie(
    request: reqwest::blocking::RequestBuilder,
    cookie: &str,
    csrf: Option<&str>,
) -> u16 {
    let request = request.header("Cookie", cookie.split(';').next().unwrap_or(""));
    let request = match csrf {
        Some(csrf) => request.header("X-CSRF-Token", csrf),
        None => request,
    };
    request.send().expect("request").status().as_u16()
}

fn own_events(server: &Server, query: &str) -> Vec<Value> {
    let (status, page) = post_with_keys(
        server,
        "/api/v2/logs/events/search",
        json!({"filter": {"query": format!("source:evident {query}"), "from": "now-1h"}, "page": {"limit": 100}}),
    );
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_password_session_reads_changes_only_with_its_token_and_ends_at_sign_out() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    user_with_password(&server, "ana@example.com");

    let (status, cookie, session) = sign_in(&server, "Ana@Example.com", PASSWORD);
    assert_eq!(status, 200, "{session}");
    let cookie = cookie.expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(session["user"]["email"], "ana@example.com");
    let csrf = session["csrf_token"].as_str().expect("a CSRF token");
    let permissions = session["permissions"].as_array().expect("permissions");
    assert!(permissions.contains(&json!("audit_logs_read")));
    assert!(!permissions.contains(&json!("user_access_manage")));

    let http = client();
    let search = || {
        http.post(server.url("/api/v2/logs/events/search"))
            .json(&json!({"filter": {"query": "*", "from": "now-1h"}}))
    };
    assert_eq!(with_cookie(search(), &cookie, Some(csrf)), 200);
    assert_eq!(
        with_cookie(search(), &cookie, None),
        403,
        "no CSRF token: a hostile page's request"
    );
    assert_eq!(with_cookie(search(), &cookie, Some("forged")), 403);
    assert_eq!(
        with_cookie(http.get(server.url("/api/v2/users")), &cookie, None),
        200,
        "reads need no token"
    );

    // Her own password, with the current one.
    let change = |current: &str| {
        http.put(server.url("/api/v1/current_user/password"))
            .json(&json!({"current_password": current, "new_password": "a new long passphrase"}))
    };
    assert_eq!(with_cookie(change("wrong"), &cookie, Some(csrf)), 403);
    assert_eq!(with_cookie(change(PASSWORD), &cookie, Some(csrf)), 204);
    assert_eq!(sign_in(&server, "ana@example.com", PASSWORD).0, 401);
    assert_eq!(
        sign_in(&server, "ana@example.com", "a new long passphrase").0,
        200
    );

    // Sign-out ends the session on the server, not only in the browser.
    assert_eq!(
        with_cookie(http.delete(server.url("/api/v1/ui/session")), &cookie, None),
        403,
        "sign-out is a change: it needs the token"
    );
    assert_eq!(
        with_cookie(
            http.delete(server.url("/api/v1/ui/session")),
            &cookie,
            Some(csrf)
        ),
        204
    );
    assert_eq!(with_cookie(search(), &cookie, Some(csrf)), 401);

    let logins = own_events(
        &server,
        "@evt.name:authentication @usr.email:ana@example.com",
    );
    let actions: Vec<(&str, &str)> = logins
        .iter()
        .map(|hit| {
            (
                hit["attributes"]["attributes"]["action"]
                    .as_str()
                    .unwrap_or(""),
                hit["attributes"]["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(actions.contains(&("login", "info")), "{actions:?}");
    assert!(actions.contains(&("login", "error")), "{actions:?}");
    assert!(actions.contains(&("logout", "info")), "{actions:?}");
    let text = Value::Array(logins).to_string();
    assert!(!text.contains(PASSWORD) && !text.contains("passphrase"));
}

#[test]
fn repeated_failures_lock_the_account_and_are_in_the_seeds_sql() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    user_with_password(&server, "bob@example.com");
    for _ in 0..5 {
        let (status, cookie, body) = sign_in(&server, "bob@example.com", "guess-guess-guess");
        assert_eq!(status, 401, "{body}");
        assert!(cookie.is_none());
    }
    let (status, _, body) = sign_in(&server, "bob@example.com", PASSWORD);
    assert_eq!(status, 429, "locked, even with the right password: {body}");
    assert!(body.to_string().contains("locked"), "{body}");
    // Another account from the same address is not locked.
    user_with_password(&server, "carol@example.com");
    assert_eq!(sign_in(&server, "carol@example.com", PASSWORD).0, 200);

    let locks = own_events(&server, "@evt.name:authentication @action:lockout");
    assert_eq!(locks.len(), 1, "the lock is recorded once");
    assert_eq!(
        locks[0]["attributes"]["attributes"]["usr"]["email"],
        "bob@example.com"
    );
    // The first seed's query for failed authentication.
    let rows = sql_rows(
        &server,
        "SELECT * FROM dd.audit(columns => ARRAY['timestamp', '@status', '@auth_method', '@usr.email', \
         '@network.client.geoip.country.name', '@network.client.geoip.city.name', '@network.client.ip'], \
         filter => '@status:error AND @auth_method:*', from_timestamp => now() - interval '7 days', \
         to_timestamp => now()) AS (ts TIMESTAMP, status VARCHAR, auth_method VARCHAR, user_email VARCHAR, \
         country VARCHAR, city VARCHAR, client_ip VARCHAR)",
    );
    let bobs: Vec<&Value> = rows
        .iter()
        .filter(|row| row[3] == "bob@example.com")
        .collect();
    assert_eq!(bobs.len(), 6, "five failures and the lock: {rows:?}");
    // (ts, status, auth_method, user_email, country, city, client_ip)
    assert!(
        bobs.iter()
            .all(|row| row[1] == "error" && row[2] == "password" && row[6] == "127.0.0.1")
    );
}

#[test]
fn an_idle_session_ends() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(directory.path(), &["--ui-idle-timeout-seconds", "1"]);
    let (cookie, _) = crate::support::sign_in_with_key(&server, APP_KEY);
    let check = || {
        with_cookie(
            client().get(server.url("/api/v1/ui/session")),
            &cookie,
            None,
        )
    };
    assert_eq!(check(), 200);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(check(), 200, "used within the idle time");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(check(), 401, "idle too long");
}

//! SQL over HTTP and from the command line, against a real server.

use serde_json::{Value, json};

use crate::support::{API_KEY, APP_KEY, Server, client, submit, total};

fn sql(server: &Server, body: Value, accept: Option<&str>) -> (u16, String) {
    let mut request = client()
        .post(server.url("/api/v1/sql"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .json(&body);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = request.send().expect("request");
    (response.status().as_u16(), response.text().expect("body"))
}

fn load(server: &Server) {
    let events: Vec<Value> = (0..40)
        .map(|index| {
            let mut event = json!({
                "ddsource": "datadog",
                "service": "web",
                "message": format!("audit event {index}"),
                "usr": {"email": format!("user{}@example.com", index % 4)},
                "evt": {"name": if index % 5 == 0 { "api_key" } else { "dashboard" }},
                "http": {"method": "POST", "url_details": {"path": format!("/api/v2/keys/{index}")}},
            });
            if index % 5 == 0 {
                event["metadata"] = json!({"api_key": {"id": format!("key-{index}")}});
            }
            event
        })
        .collect();
    let response = submit(server, &Value::Array(events).to_string());
    assert_eq!(response.status().as_u16(), 202);
}

const API_KEY_USAGE: &str = "SELECT * FROM dd.audit(
  columns => ARRAY['timestamp', 'source', '@usr.email', '@evt.name', '@metadata.api_key.id', '@http.method', '@http.url_details.path'],
  filter => '@metadata.api_key.id:* AND @evt.name:api_key',
  from_timestamp => now() - interval '24 hours',
  to_timestamp => now()
) AS (ts TIMESTAMP, src VARCHAR, user_email VARCHAR, event_name VARCHAR, api_key_id VARCHAR, http_method VARCHAR, url_path VARCHAR)";

#[test]
fn sql_over_http_in_json_and_csv_with_errors_and_its_own_audit_trail() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    load(&server);

    let (status, body) = sql(&server, json!({"query": API_KEY_USAGE}), None);
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        answer["columns"][0],
        json!({"name": "ts", "type": "TIMESTAMP"})
    );
    assert_eq!(
        answer["columns"][4],
        json!({"name": "api_key_id", "type": "VARCHAR"})
    );
    let rows = answer["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 8);
    for row in rows {
        assert_eq!(row[1], "datadog");
        assert_eq!(row[3], "api_key");
        assert!(
            row[4].as_str().is_some_and(|key| key.starts_with("key-")),
            "{row}"
        );
    }

    // evident's own events (these statements) name their user too: left out.
    let grouped = "SELECT user_email, count(*) AS calls FROM dd.audit(columns => ARRAY['@usr.email'], filter => '-source:evident') AS (user_email VARCHAR) \
                   WHERE user_email IS NOT NULL GROUP BY user_email ORDER BY user_email";
    let (status, csv) = sql(
        &server,
        json!({"query": grouped, "from": "now-1h"}),
        Some("text/csv"),
    );
    assert_eq!(status, 200, "{csv}");
    assert_eq!(
        csv,
        "user_email,calls\nuser0@example.com,10\nuser1@example.com,10\nuser2@example.com,10\nuser3@example.com,10\n"
    );

    for (query, expected) in [
        (
            "SELECT * FROM dd.audit(columns => ARRAY['@a'], filter => 'a AND (b') AS (a VARCHAR)",
            "invalid filter at position",
        ),
        (
            "SELECT * FROM dd.audit(columns => ARRAY['nope']) AS (a VARCHAR)",
            "unknown column \"nope\"",
        ),
        (
            "SELECT * FROM dd.audit(columns => ARRAY['@usr.email']) AS (a BIGINT)",
            "cannot cast",
        ),
        ("SELECT frobnicate(1)", "frobnicate"),
        ("SELEC 1", "SELEC"),
        ("DROP TABLE x", "DDL"),
    ] {
        let (status, body) = sql(&server, json!({"query": query}), None);
        assert_eq!(status, 400, "{query}: {body}");
        let error: Value = serde_json::from_str(&body).expect("json error");
        let message = error["errors"][0].as_str().expect("a message");
        assert!(message.contains(expected), "{query}: {message}");
    }
    let (status, _) = sql(&server, json!({"statement": "SELECT 1"}), None);
    assert_eq!(status, 400, "an unknown body field");
    let (status, body) = sql(&server, json!({"query": "x".repeat(3 << 20)}), None);
    assert_eq!(status, 413, "{body}");
    let (status, _) = sql(
        &server,
        json!({"query": format!("SELECT '{}'", "x".repeat(1 << 20))}),
        None,
    );
    assert_eq!(status, 400, "a statement over the limit");
    let unauthorized = client()
        .post(server.url("/api/v1/sql"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", "wrong")
        .json(&json!({"query": "SELECT 1"}))
        .send()
        .expect("request");
    assert_eq!(unauthorized.status().as_u16(), 403);

    // Every statement that reached the engine, failed ones included, is
    // an audit event naming the key by fingerprint, never the key itself.
    let recorded = total(
        &server,
        "source:evident @evt.name:sql_query @sql.surface:http",
    );
    assert_eq!(recorded, 8);
    assert_eq!(total(&server, &format!("*:\"{APP_KEY}\"")), 0);
}

#[test]
fn the_sql_command_against_a_server_and_a_data_directory() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    load(&server);
    let evident_sql = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_evident"))
            .arg("sql")
            .args(args)
            .env("EVIDENT_API_KEY", API_KEY)
            .env("EVIDENT_APP_KEY", APP_KEY)
            .output()
            .expect("evident sql runs")
    };
    let count_by_name = "SELECT evt, count(*) AS n FROM dd.audit(columns => ARRAY['@evt.name'], filter => 'service:web') AS (evt VARCHAR) GROUP BY evt ORDER BY evt";
    let output = evident_sql(&[count_by_name, "--server", &server.base]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["evt        n", "api_key    8", "dashboard  32", "2 rows"]
    );

    let output = evident_sql(&[count_by_name, "--json", "--server", &server.base]);
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert_eq!(
        lines,
        [
            json!({"evt": "api_key", "n": 8}),
            json!({"evt": "dashboard", "n": 32})
        ]
    );

    let output = evident_sql(&[
        "SELECT * FROM dd.audit(columns => ARRAY['x']) AS (x VARCHAR)",
        "--server",
        &server.base,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown column"));

    server.stop();
    let data_dir = directory.path().to_str().expect("utf-8 path");
    let output = evident_sql(&[count_by_name, "--csv", "--data-dir", data_dir]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "evt,n\napi_key,8\ndashboard,32\n"
    );
    let output = evident_sql(&[
        "SELECT surface, count(*) FROM dd.audit(columns => ARRAY['@sql.surface'], filter => '@evt.name:sql_query') AS (surface VARCHAR) GROUP BY surface ORDER BY surface",
        "--csv",
        "--data-dir",
        data_dir,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "surface,count(*)\ncli,2\nhttp,3\n",
        "the three statements sent to the server and the two run on the directory are on record"
    );
}

/// `psql` (Debian's postgresql-client) against the wire listener.
fn psql(address: &str, password: &str, statement: &str) -> std::process::Output {
    let (host, port) = address.rsplit_once(':').expect("host:port");
    std::process::Command::new("psql")
        .args([
            "-h",
            host,
            "-p",
            port,
            "-U",
            "auditor",
            "-d",
            "evident",
            "-X",
            "-A",
            "-t",
            "-F",
            "|",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            statement,
        ])
        .env("PGPASSWORD", password)
        .env("PGSSLMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs (Debian package postgresql-client)")
}

#[test]
fn psql_runs_dd_audit_over_the_postgres_wire_protocol() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(directory.path(), &["--pg-listen", "127.0.0.1:0"]);
    let address = server
        .postgres
        .clone()
        .expect("the postgres address is printed");
    load(&server);

    let output = psql(&address, APP_KEY, API_KEY_USAGE);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|line| line.split('|').collect())
        .collect();
    assert_eq!(rows.len(), 8, "{stdout}");
    for row in &rows {
        assert_eq!(row.len(), 7, "{stdout}");
        assert!(
            row[0].len() >= 19 && &row[0][10..11] == " ",
            "a PostgreSQL timestamp: {}",
            row[0]
        );
        assert_eq!((row[1], row[3], row[5]), ("datadog", "api_key", "POST"));
        assert!(row[4].starts_with("key-"), "{stdout}");
    }

    let grouped = "SELECT evt, count(*) AS n FROM dd.audit(columns => ARRAY['@evt.name'], filter => 'service:web') AS (evt VARCHAR) GROUP BY evt ORDER BY n DESC";
    let output = psql(&address, APP_KEY, grouped);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "dashboard|32\napi_key|8\n"
    );

    let output = psql(
        &address,
        APP_KEY,
        "SELECT * FROM dd.audit(columns => ARRAY['@a'], filter => '@a:(') AS (a VARCHAR)",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ERROR:") && stderr.contains("invalid filter at position"),
        "{stderr}"
    );

    let output = psql(&address, "not-a-key", "SELECT 1");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("authentication failed"));

    // Statements over the wire are on record too, with the user name given.
    assert_eq!(
        total(
            &server,
            "@evt.name:sql_query @sql.surface:postgres @usr.id:pg\\:auditor"
        ),
        3
    );
}

#[test]
fn a_statement_from_the_web_ui_is_credited_to_the_signed_in_user() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let http = client();
    let (cookie, csrf) = crate::support::sign_in_with_key(&server, APP_KEY);
    let response = http
        .post(server.url("/api/v1/sql"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .header("User-Agent", "evident-test-browser")
        .json(&json!({"query": "SELECT 1 AS one"}))
        .send()
        .expect("sql");
    assert_eq!(response.status().as_u16(), 200);

    let (status, page) = crate::support::post_with_keys(
        &server,
        "/api/v2/logs/events/search",
        json!({"filter": {"query": "source:evident @evt.name:sql_query", "from": "now-1h"}, "page": {"limit": 10}}),
    );
    assert_eq!(status, 200, "{page}");
    let events = page["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{page}");
    let attributes = &events[0]["attributes"]["attributes"];
    // The application key's owner: the bootstrap Admin its key became.
    assert_eq!(attributes["usr"]["id"], "admin", "{attributes}");
    assert_eq!(attributes["usr"]["email"], "admin@localhost");
    assert_eq!(attributes["evt"]["actor"]["type"], "user");
    assert_eq!(attributes["auth_method"], "session_cookie");
    assert_eq!(attributes["evident"]["surface"], "ui");
    assert_eq!(attributes["network"]["client"]["ip"], "127.0.0.1");
    assert_eq!(attributes["http"]["method"], "POST");
    assert_eq!(attributes["http"]["url_details"]["path"], "/api/v1/sql");
    assert_eq!(attributes["http"]["useragent"], "evident-test-browser");
    let key_id = attributes["metadata"]["application_key"]["id"]
        .as_str()
        .expect("the key's id");
    assert!(!key_id.is_empty() && key_id != APP_KEY);
    let (status, body) = sql(
        &server,
        json!({"query": "SELECT size FROM dd.audit(columns => ARRAY['ingest_size_in_bytes'], \
         filter => 'source:evident @evt.name:sql_query @evident.surface:ui') AS (size BIGINT)"}),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let rows: Value = serde_json::from_str(&body).expect("json");
    assert!(
        rows["rows"][0][0].as_i64().is_some_and(|size| size > 100),
        "its own size: {body}"
    );
    assert!(!page.to_string().contains(APP_KEY), "no key in the record");
}

#[test]
fn an_application_key_is_accepted_as_a_bearer_token() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let http = client();
    let views = |authorization: &str| {
        http.get(server.url("/api/v1/views"))
            .header("Authorization", authorization)
            .send()
            .expect("request")
            .status()
            .as_u16()
    };
    assert_eq!(views(&format!("Bearer {APP_KEY}")), 200);
    assert_eq!(
        views(&format!("Bearer {API_KEY}")),
        403,
        "an API key reads nothing"
    );
    assert_eq!(views("Bearer not-a-key"), 403);
    assert_eq!(views("Basic abc"), 401);
    let response = http
        .post(server.url("/api/v1/sql"))
        .header("Authorization", format!("Bearer {APP_KEY}"))
        .json(&json!({"query": "SELECT 1 AS one"}))
        .send()
        .expect("sql");
    assert_eq!(response.status().as_u16(), 200);
    let (_, page) = crate::support::post_with_keys(
        &server,
        "/api/v2/logs/events/search",
        json!({"filter": {"query": "source:evident @evt.name:sql_query", "from": "now-1h"}}),
    );
    assert_eq!(
        page["data"][0]["attributes"]["attributes"]["auth_method"], "bearer_token",
        "{page}"
    );
}

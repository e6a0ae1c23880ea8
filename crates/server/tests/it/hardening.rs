//! What an outside review found, each held by a test against a real
//! server: request bodies read only after the credentials and only up to
//! their limit (the server's memory measured while they are refused),
//! error bodies that never repeat the request, bounded `| stats` fan-out,
//! CSV cells a spreadsheet would run, and a private data directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::{API_KEY, APP_KEY, Server, client, post_with_keys, sql_rows, submit};

const MIB: usize = 1 << 20;

/// Sends `length` bytes of body (declared up front, or chunked when
/// `chunked`) while reading the answer; the body starts with `prefix` and
/// goes on with `a`s. Returns the status and body of the answer.
fn send_large(
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    prefix: &[u8],
    length: usize,
    chunked: bool,
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    }
    let mut writer = stream.try_clone().expect("clone");
    let prefix = prefix.to_vec();
    let sender = std::thread::spawn(move || -> std::io::Result<usize> {
        writer.write_all(head.as_bytes())?;
        let mut chunk = vec![b'a'; 256 * 1024];
        let mut sent = 0;
        while sent < length {
            let size = chunk.len().min(length - sent);
            if sent == 0 {
                chunk[..prefix.len()].copy_from_slice(&prefix);
            } else {
                chunk[..prefix.len()].fill(b'a');
            }
            if chunked {
                writer.write_all(format!("{size:x}\r\n").as_bytes())?;
            }
            writer.write_all(&chunk[..size])?;
            if chunked {
                writer.write_all(b"\r\n")?;
            }
            sent += size;
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n")?;
        }
        Ok(sent)
    });
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    // The sender stops on a closed connection; that is the point.
    let _ = sender.join();
    let text_end = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..text_end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status");
    let mut body = answer[text_end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = bytes.windows(2).position(|window| window == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&bytes[..end]).unwrap_or("0"), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&bytes[start..(start + size).min(bytes.len())]);
        bytes = &bytes[(start + size + 2).min(bytes.len())..];
    }
    out
}

/// The server's peak memory stayed within `bound_mib` of `before`, and it
/// still takes events.
fn assert_memory_bounded(server: &Server, before: u64, bound_mib: u64) {
    let (_, peak) = server.memory();
    eprintln!("peak RSS {} MiB, {} MiB before", peak >> 20, before >> 20);
    assert!(
        peak < before + bound_mib * MIB as u64,
        "peak RSS {} MiB, {} MiB before",
        peak >> 20,
        before >> 20
    );
    assert_eq!(
        submit(server, r#"[{"message":"after"}]"#).status().as_u16(),
        202
    );
}

#[test]
fn oversized_and_unauthenticated_bodies_are_refused_without_growing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let json_type = ("Content-Type", "application/json");
    let (before, _) = server.memory();

    // The sign-in has no credential yet: its body is small, declared or not.
    let (status, body) = send_large(
        server.address(),
        "/api/v1/ui/session",
        &[json_type],
        b"{",
        200 * MIB,
        false,
    );
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let (status, _) = send_large(
        server.address(),
        "/api/v1/ui/session",
        &[json_type],
        b"{",
        200 * MIB,
        true,
    );
    assert_eq!(status, 413);

    // No credential: refused before a byte of the body is read.
    let prefix = br#"{"filter":{"query":""#;
    for path in [
        "/api/v2/logs/events/search",
        "/api/v1/sql",
        "/api/v1/views",
        "/api/v2/logs/analytics/aggregate",
    ] {
        let (status, body) = send_large(
            server.address(),
            path,
            &[json_type],
            prefix,
            400 * MIB,
            true,
        );
        assert_eq!(status, 401, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(body.len() < 256, "{path}: {} bytes", body.len());
    }

    // With the keys, a body over the JSON limit stops at the limit.
    let keys = [
        json_type,
        ("DD-API-KEY", API_KEY),
        ("DD-APPLICATION-KEY", APP_KEY),
    ];
    let (status, body) = send_large(
        server.address(),
        "/api/v2/logs/events/search",
        &keys,
        prefix,
        400 * MIB,
        true,
    );
    assert_eq!(status, 413);
    assert!(body.len() < 256, "{} bytes", body.len());

    // Four at once.
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let address = server.address().to_owned();
            std::thread::spawn(move || {
                send_large(
                    &address,
                    "/api/v1/ui/session",
                    &[json_type],
                    b"{",
                    300 * MIB,
                    true,
                )
                .0
            })
        })
        .collect();
    for sender in senders {
        assert_eq!(sender.join().expect("sender"), 413);
    }

    assert_memory_bounded(&server, before, 64);
}

#[test]
fn error_bodies_never_repeat_the_request() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let marker = "REFLECTED-".repeat(50_000);
    for body in [
        format!(r#"{{"filter": {{"query": 12, "from": "{marker}"}}}}"#),
        format!(r#"{{"filter": {{"query": "{marker}"#),
        format!(r#"{{"filter": {{"from": "{marker}"}}}}"#),
        format!(r#"{{"filter": {{"query": "@a:{marker} AND ("}}}}"#),
    ] {
        let response = client()
            .post(server.url("/api/v2/logs/events/search"))
            .header("DD-API-KEY", API_KEY)
            .header("DD-APPLICATION-KEY", APP_KEY)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .expect("request");
        assert_eq!(response.status().as_u16(), 400);
        let text = response.text().expect("body");
        assert!(text.len() <= 1200, "{} bytes: {:.200}", text.len(), text);
        assert!(
            text.len() < 200 || !text.contains(&"REFLECTED-".repeat(100)),
            "{text:.300}"
        );
    }
    // Messages still say what is wrong.
    let (status, answer) = post_with_keys(&server, "/api/v1/sql", json!({"statement": "SELECT 1"}));
    assert_eq!(status, 400);
    assert!(
        answer["errors"][0]
            .as_str()
            .is_some_and(|message| message.contains("unknown field")),
        "{answer}"
    );
}

#[test]
fn stats_fan_out_is_bounded() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let values: Vec<String> = (0..200).map(|index| format!("v{index}")).collect();
    let event = json!([{"message": "wide", "arr": values}]);
    assert_eq!(submit(&server, &event.to_string()).status().as_u16(), 202);
    let started = std::time::Instant::now();
    let (status, answer) = post_with_keys(
        &server,
        "/api/v2/logs/analytics/aggregate",
        json!({"filter": {"query": "* | stats count by @arr, @arr, @arr", "from": "now-1h", "to": "now+1m"}}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["errors"][0]
            .as_str()
            .is_some_and(|message| message.contains("more than 1000 groups")),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (status, answer) = post_with_keys(
        &server,
        "/api/v2/logs/analytics/aggregate",
        json!({"filter": {"query": "*", "from": "now-1h"}, "group_by": [{"facet": "@a"}, {"facet": "@b"}, {"facet": "@c"}, {"facet": "@d"}, {"facet": "@e"}]}),
    );
    assert_eq!(status, 400, "{answer}");
    // One field of 200 values is an ordinary aggregation.
    let (status, answer) = post_with_keys(
        &server,
        "/api/v2/logs/analytics/aggregate",
        json!({"filter": {"query": "* | stats count by @arr", "from": "now-1h", "to": "now+1m"}, "group_by": []}),
    );
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn csv_cells_that_spreadsheets_would_run_are_neutralized() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let event = json!([{"message": "m", "usr": {"email": "=HYPERLINK(\"http://x\",\"y\")"}, "evt": {"name": "+cmd|' /C calc'!A0"}, "n": "-5"}]);
    assert_eq!(submit(&server, &event.to_string()).status().as_u16(), 202);
    let csv = client()
        .get(server.url("/api/v1/export"))
        .query(&[
            ("query", "-source:evident"),
            ("from", "now-1h"),
            ("to", "now+1m"),
            ("format", "csv"),
            ("columns", "@usr.email,@evt.name,@n"),
        ])
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .send()
        .expect("export")
        .text()
        .expect("csv");
    let row = csv.lines().nth(1).expect("a row");
    assert_eq!(
        row,
        r#""'=HYPERLINK(""http://x"",""y"")",'+cmd|' /C calc'!A0,-5"#
    );

    let csv = client()
        .post(server.url("/api/v1/sql"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .header("Accept", "text/csv")
        .json(&json!({"query": "SELECT '@SUM(A1)' AS a, '-2+3' AS b, -4 AS c, 'plain' AS d"}))
        .send()
        .expect("sql")
        .text()
        .expect("csv");
    assert_eq!(
        csv.lines().nth(1),
        Some("'@SUM(A1),'-2+3,-4,plain"),
        "{csv}"
    );
}

fn modes_under(path: &Path, found: &mut Vec<(String, u32)>) {
    let mode = std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    found.push((path.display().to_string(), mode));
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read dir") {
            modes_under(&entry.expect("entry").path(), found);
        }
    }
}

#[test]
fn the_data_directory_is_private() {
    let directory = tempfile::tempdir().expect("temp dir");
    let data = directory.path().join("data");
    let server = Server::start(&data);
    assert_eq!(
        submit(&server, r#"[{"message":"kept"}]"#).status().as_u16(),
        202
    );
    server.stop();
    let mut found = Vec::new();
    modes_under(&data, &mut found);
    assert!(found.len() > 3, "{found:?}");
    for (path, mode) in &found {
        assert_eq!(mode & 0o077, 0, "{path} has mode {mode:o}");
    }
    assert_eq!(found[0].1, 0o700);

    // An existing directory others can read is reported at start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut child = Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("EVIDENT_API_KEY", API_KEY)
        .env("EVIDENT_APP_KEY", APP_KEY)
        .env("EVIDENT_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr = child.stderr.take().expect("stderr");
    let (found, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("can be read by other users") && line.contains("chmod 700") {
                let _ = found.send(());
            }
        }
    });
    let warned = lines.recv_timeout(Duration::from_secs(30)).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned, "no warning about a 0755 data directory");
}

fn sql(server: &Server, statement: &str) -> (u16, serde_json::Value, Duration) {
    let started = std::time::Instant::now();
    let response = client()
        .post(server.url("/api/v1/sql"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .json(&json!({ "query": statement }))
        .send()
        .expect("sql");
    let status = response.status().as_u16();
    let answer = response.json().unwrap_or(serde_json::Value::Null);
    (status, answer, started.elapsed())
}

#[test]
fn sql_statements_are_bounded_in_size_memory_time_and_number() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(
        directory.path(),
        &[
            "--sql-memory-mib",
            "16",
            "--sql-timeout-seconds",
            "2",
            "--sql-concurrency",
            "1",
        ],
    );
    let (before, _) = server.memory();

    // A value far larger than its arguments: refused while planning.
    for statement in [
        "SELECT length(repeat('a', 1500000000))",
        "SELECT length(lpad('a', 1000000000, 'b'))",
        "SELECT cardinality(range(1, 1000000000))",
        "SELECT length(replace(repeat('a', 10000), 'a', repeat('b', 10000)))",
    ] {
        let (status, answer, elapsed) = sql(&server, statement);
        assert_eq!(status, 400, "{statement}: {answer}");
        let message = answer["errors"][0].as_str().unwrap_or_default();
        assert!(message.contains("would make"), "{statement}: {message}");
        assert!(elapsed < Duration::from_secs(2), "{statement}: {elapsed:?}");
    }
    // Ordinary uses still work.
    let (status, answer, _) = sql(
        &server,
        "SELECT repeat('ab', 3) AS r, lpad('7', 3, '0') AS p",
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"], json!([["ababab", "007"]]));

    // Memory held by an aggregate past the pool.
    let (status, answer, _) = sql(
        &server,
        "SELECT count(*) FROM (SELECT (v * 7919) % 1999993 AS k, count(*) FROM generate_series(1, 2000000) AS t(v) GROUP BY k) AS g",
    );
    assert_eq!(status, 400, "{answer}");
    let message = answer["errors"][0].as_str().unwrap_or_default();
    assert!(message.contains("resources exhausted"), "{message}");

    // Time.
    let (status, answer, elapsed) = sql(
        &server,
        "SELECT count(*) FROM generate_series(1, 100000000000) AS t(v)",
    );
    assert_eq!(status, 400, "{answer}");
    let message = answer["errors"][0].as_str().unwrap_or_default();
    assert!(
        message.contains("longer than its limit of 2 s"),
        "{message}"
    );
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");

    // One at a time: the second waits for the first's place.
    let base = server.base.clone();
    let slow = std::thread::spawn(move || {
        client()
            .post(format!("{base}/api/v1/sql"))
            .header("DD-API-KEY", API_KEY)
            .header("DD-APPLICATION-KEY", APP_KEY)
            .json(
                &json!({"query": "SELECT count(*) FROM generate_series(1, 100000000000) AS t(v)"}),
            )
            .send()
            .map(|response| response.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(500));
    let (status, answer, elapsed) = sql(&server, "SELECT 1 AS one");
    assert_eq!(status, 200, "{answer}");
    assert!(
        elapsed >= Duration::from_millis(1000),
        "did not wait for the place: {elapsed:?}"
    );
    assert_eq!(slow.join().expect("thread").expect("answer"), 400);

    assert_memory_bounded(&server, before, 256);
}

#[test]
fn a_declared_origin_and_digest_are_never_taken_for_evidents_own() {
    use sha2::Digest;
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let fake = r#"{"Records":[{"eventSource":"iam.amazonaws.com","eventName":"NothingToSee","eventTime":"2026-01-01T00:00:00Z"}]}"#;
    let fake_sha256: String = sha2::Sha256::digest(fake.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let origin = "s3://victim-trail/AWSLogs/1/CloudTrail/us-east-1/2026/01/01/f.json.gz";
    let response = client()
        .post(server.url("/api/v1/import/cloudtrail"))
        .query(&[
            ("file", "f.json.gz"),
            ("origin", origin),
            ("digest_sha256", fake_sha256.as_str()),
        ])
        .header("DD-API-KEY", API_KEY)
        .body(fake)
        .send()
        .expect("import");
    assert_eq!(response.status().as_u16(), 200);
    let summary: serde_json::Value = response.json().expect("summary");
    assert_eq!(summary["digest"], "declared_match", "{summary}");
    let count = |query: &str| {
        let (status, page) = post_with_keys(
            &server,
            "/api/v2/logs/events/search",
            json!({"filter": {"query": query, "from": "2025-01-01T00:00:00Z", "to": "now"}, "page": {"limit": 100}}),
        );
        assert_eq!(status, 200, "{page}");
        page["data"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(count("@evident.import.digest:verified"), 0);
    assert_eq!(
        count(&format!("@evident.import.origin:\"declared:{origin}\"")),
        1
    );
    assert_eq!(count(&format!("@evident.import.origin:\"{origin}\"")), 0);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("compress");
    encoder.finish().expect("compress")
}

/// A gzip file of `head`, `middle` `times` times, then `tail`: gzip
/// members one after the other decompress to their texts joined, so a
/// large text costs one small compression.
fn gzip_repeated(head: &[u8], middle: &[u8], times: usize, tail: &[u8]) -> Vec<u8> {
    let mut file = gzip(head);
    let member = gzip(middle);
    for _ in 0..times {
        file.extend_from_slice(&member);
    }
    file.extend_from_slice(&gzip(tail));
    file
}

/// `[{},{},...]` of about `bytes` bytes.
fn empty_objects(bytes: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(bytes + 2);
    text.push(b'[');
    while text.len() + 3 < bytes {
        text.extend_from_slice(b"{},");
    }
    text.extend_from_slice(b"{}]");
    text
}

#[test]
fn small_bodies_that_decode_large_are_refused_within_a_memory_bound() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(directory.path(), &["--decode-memory-mib", "512"]);
    let (before, _) = server.memory();

    // The intake: 5 MB of empty logs in a few KB of gzip, eight at once.
    let bomb = gzip(&empty_objects(4_900_000));
    assert!(bomb.len() < 16 * 1024, "{} bytes", bomb.len());
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let url = server.url("/api/v2/logs");
            let bomb = bomb.clone();
            std::thread::spawn(move || {
                let response = client()
                    .post(url)
                    .header("DD-API-KEY", API_KEY)
                    .header("Content-Type", "application/json")
                    .header("Content-Encoding", "gzip")
                    .body(bomb)
                    .send()
                    .expect("intake");
                (
                    response.status().as_u16(),
                    response.text().unwrap_or_default(),
                )
            })
        })
        .collect();
    for sender in senders {
        let (status, body) = sender.join().expect("sender");
        assert!(status == 413 || status == 503, "{status} {body}");
        if status == 413 {
            assert!(body.contains("more than 1000 logs"), "{body}");
        }
    }

    // The import: 4 million empty records (as an array and as lines), and
    // spaces past
    // the decompressed cap, each at most a few hundred KB of gzip.
    let block = b"{},".repeat(1 << 20);
    let many = gzip_repeated(b"[", &block, 4, b"{}]");
    let lines = gzip_repeated(b"", &b"{}\n".repeat(1 << 20), 4, b"");
    let zeros = gzip_repeated(b"", &vec![b' '; 16 << 20], 20, b"");
    for (name, file, expected) in [
        ("records", &many, "records; one import takes at most"),
        ("lines", &lines, "records; one import takes at most"),
        ("zeros", &zeros, "once decompressed"),
    ] {
        assert!(file.len() < 1 << 20, "{name}: {} bytes", file.len());
        let response = client()
            .post(server.url("/api/v1/import/auto"))
            .query(&[("file", name)])
            .header("DD-API-KEY", API_KEY)
            .body(file.clone())
            .send()
            .expect("import");
        let status = response.status().as_u16();
        let body = response.text().unwrap_or_default();
        assert_eq!(status, 413, "{name}: {body}");
        assert!(body.contains(expected), "{name}: {body}");
    }

    assert_memory_bounded(&server, before, 256);
}

/// One PostgreSQL login with a clear-text password: the error's SQLSTATE
/// and message, or `None` when it was accepted.
fn pg_login(address: &str, password: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut startup = Vec::new();
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    for part in ["user", "mallory", "database", "evident"] {
        startup.extend_from_slice(part.as_bytes());
        startup.push(0);
    }
    startup.push(0);
    let mut message = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend_from_slice(&startup);
    stream.write_all(&message).expect("startup");
    let mut sent_password = false;
    loop {
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).ok()?;
        let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; length - 4];
        stream.read_exact(&mut body).expect("message body");
        match head[0] {
            b'R' if body[..4] == 3u32.to_be_bytes() && !sent_password => {
                let mut password_message = vec![b'p'];
                password_message.extend_from_slice(&((password.len() + 5) as u32).to_be_bytes());
                password_message.extend_from_slice(password.as_bytes());
                password_message.push(0);
                stream.write_all(&password_message).expect("password");
                sent_password = true;
            }
            b'R' if body[..4] == 0u32.to_be_bytes() => return None,
            b'E' => {
                let fields: Vec<&[u8]> = body.split(|byte| *byte == 0).collect();
                let field = |code: u8| {
                    fields
                        .iter()
                        .find(|field| field.first() == Some(&code))
                        .map(|field| String::from_utf8_lossy(&field[1..]).to_string())
                        .unwrap_or_default()
                };
                return Some((field(b'C'), field(b'M')));
            }
            _ => {}
        }
    }
}

#[test]
fn failed_postgres_logins_are_recorded_and_throttled() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(directory.path(), &["--pg-listen", "127.0.0.1:0"]);
    let address = server.postgres.clone().expect("a postgres listener");
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    for attempt in 0..20 {
        answers.push(pg_login(&address, &format!("guess-{attempt}")).expect("refused"));
    }
    for (code, message) in &answers[..5] {
        assert_eq!(code, "28P01", "{message}");
    }
    for (code, message) in &answers[5..] {
        assert_eq!(code, "28000", "{message}");
        assert!(message.contains("too many failed logins"), "{message}");
    }
    // Five paid a pause; the fifteen throttled ones answered at once.
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    // Even the right key waits out the minute from that address.
    let (code, _) = pg_login(&address, APP_KEY).expect("still throttled");
    assert_eq!(code, "28000");

    let (status, page) = post_with_keys(
        &server,
        "/api/v2/audit/events/search",
        json!({"filter": {"query": "source:evident @evt.name:authentication status:error", "from": "now-1h"}, "page": {"limit": 100}}),
    );
    assert_eq!(status, 200, "{page}");
    let events = page["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 6, "five failures and one throttling: {page}");
    for event in &events {
        let attributes = &event["attributes"]["attributes"];
        assert_eq!(attributes["usr"]["name"], "mallory");
        assert_eq!(attributes["network"]["client"]["ip"], "127.0.0.1");
        assert!(
            !event.to_string().contains("guess-"),
            "no password in the record"
        );
    }

    // The first seed's "failed authentication attempts" statement finds
    // them: `@status` falls back to the reserved status they carry.
    let rows = sql_rows(
        &server,
        "SELECT * FROM dd.audit(columns => ARRAY['timestamp', '@status', '@auth_method', \
         '@usr.email', '@network.client.geoip.country.name', '@network.client.geoip.city.name', \
         '@network.client.ip'], filter => '@status:error AND @auth_method:*', \
         from_timestamp => now() - interval '7 days', to_timestamp => now()) AS (ts TIMESTAMP, \
         status VARCHAR, auth_method VARCHAR, user_email VARCHAR, country VARCHAR, city VARCHAR, \
         client_ip VARCHAR)",
    );
    assert_eq!(rows.len(), 6, "{rows:?}");
    for row in &rows {
        assert_eq!(row[1], "error", "{row}");
        assert_eq!(row[2], "password", "{row}");
        assert_eq!(row[6], "127.0.0.1", "{row}");
    }
}

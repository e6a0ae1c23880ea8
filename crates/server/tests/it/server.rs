//! The server end to end over loopback HTTP: intake, search, integrity,
//! restarts and a kill -9 during ingest.

use std::io::Write;

use evident_ledger::proof::verify_inclusion;
use evident_ledger::{Hash, NoteVerifier, leaf_hash};
use serde_json::{Value, json};

use crate::support::{
    API_KEY, APP_KEY, Server, client, post_with_keys, run_verify, search, submit, total,
};

fn compress(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    match encoding {
        "gzip" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(bytes).expect("compress");
            encoder.finish().expect("compress")
        }
        "deflate" => {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(bytes).expect("compress");
            encoder.finish().expect("compress")
        }
        "zstd" => zstd::encode_all(bytes, 1).expect("compress"),
        _ => bytes.to_vec(),
    }
}

#[test]
fn intake_then_search_in_datadog_shapes() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let response = submit(
        &server,
        r#"[{"ddsource":"datadog","service":"web","message":"user created dashboard","usr":{"email":"a@b.co"},"evt":{"name":"dashboard"},"status":"info"}]"#,
    );
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(response.text().expect("body"), "{}");

    let (status, page) = search(
        &server,
        "audit",
        json!({"filter": {"query": "@usr.email:a@b.co AND @evt.name:dashboard", "from": "now-1h"}}),
    );
    assert_eq!(status, 200, "{page}");
    let data = page["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["type"], "audit");
    assert_eq!(data[0]["attributes"]["message"], "user created dashboard");
    assert_eq!(
        data[0]["attributes"]["attributes"]["usr"]["email"],
        "a@b.co"
    );
    assert_eq!(data[0]["attributes"]["tags"], json!(["source:datadog"]));
    assert!(
        data[0]["attributes"]["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 24)
    );

    let (_, logs) = search(
        &server,
        "logs",
        json!({"filter": {"query": "service:web status:info", "from": "now-1h"}}),
    );
    assert_eq!(logs["data"][0]["type"], "log");
    assert_eq!(logs["data"][0]["attributes"]["status"], "info");

    let (status, error) = search(
        &server,
        "audit",
        json!({"filter": {"query": "@usr.email:a@b.co AND @evt.name:"}}),
    );
    assert_eq!(status, 400);
    assert_eq!(
        error,
        json!({"errors": ["invalid query: at column 33: expected a value after ':'"]})
    );

    let get = client()
        .get(server.url("/api/v2/audit/events?filter%5Bquery%5D=dashboard&filter%5Bfrom%5D=now-1h"))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .send()
        .expect("request");
    assert_eq!(get.status().as_u16(), 200);
    assert_eq!(
        get.json::<Value>().expect("json")["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn keys_encodings_and_bad_input() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let http = client();
    let post = |headers: &[(&str, &str)], body: Vec<u8>| {
        let mut request = http.post(server.url("/api/v2/logs")).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().expect("request");
        let status = response.status().as_u16();
        (status, response.text().unwrap_or_default())
    };
    let key = ("DD-API-KEY", API_KEY);

    let (status, body) = post(&[], b"[]".to_vec());
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains(r#""status":"401""#) && body.contains("Unauthorized"),
        "{body}"
    );
    assert_eq!(post(&[("DD-API-KEY", "nope")], b"[]".to_vec()).0, 403);
    assert_eq!(
        http.post(server.url(&format!("/api/v2/logs?dd-api-key={API_KEY}")))
            .body(r#"{"message":"query key"}"#)
            .send()
            .expect("request")
            .status()
            .as_u16(),
        202
    );
    assert_eq!(
        http.post(server.url(&format!("/v1/input/{API_KEY}")))
            .body(r#"{"message":"v1 path key"}"#)
            .send()
            .expect("request")
            .status()
            .as_u16(),
        200
    );

    for encoding in ["gzip", "deflate", "zstd"] {
        let body = compress(
            encoding,
            format!(r#"[{{"message":"compressed with {encoding}"}}]"#).as_bytes(),
        );
        let (status, text) = post(&[key, ("Content-Encoding", encoding)], body);
        assert_eq!(status, 202, "{encoding}: {text}");
    }
    let (status, _) = post(
        &[key, ("Content-Type", "text/plain")],
        b"plain line one\nplain line two\n".to_vec(),
    );
    assert_eq!(status, 202);
    assert_eq!(
        post(&[key], b"{}".to_vec()).0,
        202,
        "the Agent's keep-alive"
    );

    let bomb = compress("gzip", &vec![b'a'; 60_000_000]);
    let (status, body) = post(&[key, ("Content-Encoding", "gzip")], bomb);
    assert_eq!(status, 413, "{body}");
    assert_eq!(post(&[key], vec![b' '; 5_000_001]).0, 413);
    assert_eq!(post(&[key], b"[{\"message\": ".to_vec()).0, 400);
    assert_eq!(post(&[key], b"\xff\xfe\xfd".to_vec()).0, 400);
    assert_eq!(
        post(&[key, ("Content-Encoding", "gzip")], b"not gzip".to_vec()).0,
        400
    );
    assert_eq!(
        post(&[key, ("Content-Encoding", "br")], b"[]".to_vec()).0,
        415
    );
    assert_eq!(
        post(
            &[key, ("Content-Type", "application/xml")],
            b"<a/>".to_vec()
        )
        .0,
        415
    );
    let deep = format!("[{{\"a\":{}1{}}}]", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(post(&[key], deep.into_bytes()).0, 400);
    let (status, _) = post(
        &[key],
        format!(r#"[{{"message":"{}"}}]"#, "x".repeat(1_500_000)).into_bytes(),
    );
    assert_eq!(status, 202, "a log above 1 MB is truncated, not refused");

    let validate = http
        .get(server.url("/api/v1/validate"))
        .header("DD-API-KEY", API_KEY)
        .send()
        .expect("request");
    assert_eq!(validate.status().as_u16(), 200);
    assert_eq!(
        validate.json::<Value>().expect("json"),
        json!({"valid": true})
    );

    // Everything accepted is there, and nothing rejected is.
    assert_eq!(total(&server, "-source:evident"), 8);
    let (status, _) = search(
        &server,
        "logs",
        json!({"filter": {"query": "*", "from": "now-1h"}, "page": {"limit": 5000}}),
    );
    assert_eq!(status, 400);
}

#[test]
fn pages_restart_verify_and_proofs() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    for batch in 0..5 {
        let items: Vec<Value> = (0..20)
            .map(|i| json!({"message": format!("event {batch}-{i}"), "n": batch * 20 + i}))
            .collect();
        assert_eq!(
            submit(&server, &serde_json::to_string(&items).expect("json"))
                .status()
                .as_u16(),
            202
        );
    }
    assert_eq!(total(&server, "-source:evident"), 100);
    // Pages of 7 cover every event exactly once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut body =
            json!({"filter": {"query": "event", "from": "now-1h"}, "page": {"limit": 7}});
        if let Some(cursor) = &cursor {
            body["page"]["cursor"] = json!(cursor);
        }
        let (_, page) = search(&server, "logs", body);
        for item in page["data"].as_array().expect("data") {
            seen.push(item["id"].as_str().expect("id").to_string());
        }
        match page["meta"]["page"]["after"].as_str() {
            Some(after) => cursor = Some(after.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (100, 100));
    let (status, error) = search(
        &server,
        "logs",
        json!({"filter": {"query": "other"}, "page": {"cursor": cursor.unwrap_or_default()}}),
    );
    assert!(status == 400 || error["data"].as_array().is_some());

    // An inclusion proof checks out against the signed checkpoint.
    let proof: Value = client()
        .get(server.url(&format!(
            "/api/v1/integrity/proof/inclusion?id={}",
            seen[10]
        )))
        .header("DD-API-KEY", API_KEY)
        .header("DD-APPLICATION-KEY", APP_KEY)
        .send()
        .expect("request")
        .json()
        .expect("json");
    let verifier = NoteVerifier::parse(proof["public_key"].as_str().expect("key")).expect("key");
    let body = verifier
        .open(proof["checkpoint"].as_str().expect("note"))
        .expect("signature verifies");
    let checkpoint = evident_ledger::Checkpoint::parse(body).expect("checkpoint");
    let path: Vec<Hash> = proof["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| Hash::from_base64(h.as_str().expect("hash")).expect("hash"))
        .collect();
    let leaf = leaf_hash(proof["event"].as_str().expect("event bytes").as_bytes());
    verify_inclusion(
        &leaf,
        proof["leaf_index"].as_u64().expect("index"),
        checkpoint.size,
        &path,
        &checkpoint.root,
    )
    .expect("the event is in the signed tree");

    server.stop();
    let server = Server::start(directory.path());
    assert_eq!(
        total(&server, "-source:evident"),
        100,
        "events survive a restart"
    );
    server.stop();
    let verify = run_verify(directory.path());
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{stdout}");
    // The 100 events and evident's records of the reads above.
    assert!(
        stdout.contains("ok: all ")
            && stdout.contains(" events up to the latest checkpoint are intact"),
        "{stdout}"
    );
}

#[test]
fn kill_9_during_ingest_loses_no_acknowledged_event() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let base = server.base.clone();
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let base = base.clone();
            std::thread::spawn(move || {
                let http = client();
                let mut acknowledged = Vec::new();
                for batch in 0..1_000 {
                    let marker = format!("s{sender}b{batch}");
                    let items: Vec<Value> = (0..10)
                        .map(|i| json!({"message": format!("{marker} item{i}"), "marker": marker}))
                        .collect();
                    let response = http
                        .post(format!("{base}/api/v2/logs"))
                        .header("DD-API-KEY", API_KEY)
                        .json(&items)
                        .send();
                    match response {
                        Ok(response) if response.status().as_u16() == 202 => {
                            acknowledged.push(marker)
                        }
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    server.kill();
    let acknowledged: Vec<String> = senders
        .into_iter()
        .flat_map(|sender| sender.join().expect("sender"))
        .collect();
    assert!(
        acknowledged.len() > 10,
        "the senders got going: {}",
        acknowledged.len()
    );

    let server = Server::start(directory.path());
    for marker in acknowledged.iter().step_by(acknowledged.len() / 20 + 1) {
        assert_eq!(
            total(&server, &format!("@marker:{marker}")),
            10,
            "batch {marker} is there exactly once"
        );
    }
    let stored = total(&server, "-source:evident");
    assert!(
        stored >= acknowledged.len() * 10,
        "{stored} stored, {} acknowledged",
        acknowledged.len() * 10
    );
    server.stop();
    let verify = run_verify(directory.path());
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

fn aggregate(server: &Server, body: Value) -> (u16, Value) {
    post_with_keys(server, "/api/v2/logs/analytics/aggregate", body)
}

#[test]
fn aggregates_by_facet_as_totals_timeseries_and_stats_pipes() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let items: Vec<Value> = (0..30)
        .map(|i| {
            let name = ["Request", "Dashboard", "Monitor"][i % 3];
            let mut item = json!({"message": "x", "evt": {"name": name}, "duration": i});
            if i % 3 != 2 {
                item["usr"] = json!({"email": format!("user{}@example.com", i % 2)});
            }
            item
        })
        .collect();
    assert_eq!(
        submit(&server, &serde_json::to_string(&items).expect("json"))
            .status()
            .as_u16(),
        202
    );

    let (status, response) = aggregate(
        &server,
        json!({"filter": {"query": "*", "from": "now-1h"}, "compute": [{"aggregation": "count"}, {"aggregation": "sum", "metric": "@duration"}],
               "group_by": [{"facet": "@evt.name", "limit": 2}]}),
    );
    assert_eq!(status, 200, "{response}");
    let buckets = response["data"]["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 2, "the limit applies");
    assert_eq!(buckets[0]["computes"]["c0"], 10);
    assert!(buckets[0]["by"]["@evt.name"].is_string());

    let (_, piped) = aggregate(
        &server,
        json!({"filter": {"query": "-source:evident | stats count by @usr.email", "from": "now-1h"}}),
    );
    let piped = piped["data"]["buckets"]
        .as_array()
        .expect("buckets")
        .clone();
    assert_eq!(piped.len(), 3, "two users and the missing group: {piped:?}");
    assert!(
        piped
            .iter()
            .any(|bucket| bucket["by"]["@usr.email"].is_null() && bucket["computes"]["c0"] == 10)
    );

    let (_, missing) = aggregate(
        &server,
        json!({"filter": {"from": "now-1h"}, "group_by": [{"facet": "@usr.email", "missing": "N/A"}]}),
    );
    assert!(
        missing["data"]["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .any(|bucket| bucket["by"]["@usr.email"] == "N/A")
    );

    let (status, series) = aggregate(
        &server,
        json!({"filter": {"query": "-source:evident", "from": "now-10m", "to": "now"}, "compute": [{"aggregation": "count", "type": "timeseries", "interval": "1m"}]}),
    );
    assert_eq!(status, 200, "{series}");
    let points = series["data"]["buckets"][0]["computes"]["c0"]
        .as_array()
        .expect("a series");
    assert!(points.len() >= 10);
    assert_eq!(
        points
            .iter()
            .map(|point| point["value"].as_u64().unwrap_or(0))
            .sum::<u64>(),
        30
    );

    assert_eq!(
        aggregate(&server, json!({"compute": [{"aggregation": "p42"}]})).0,
        400
    );
    assert_eq!(
        aggregate(&server, json!({"compute": [{"aggregation": "sum"}]})).0,
        400
    );
    assert_eq!(
        aggregate(
            &server,
            json!({"filter": {"query": "a | stats count"}, "compute": [{"aggregation": "count"}]})
        )
        .0,
        400
    );
    assert_eq!(
        aggregate(&server, json!({"filter": {"query": "(a"}})).0,
        400
    );
}

#[test]
fn the_search_command_against_a_server_and_a_data_directory() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start(directory.path());
    let items = r#"[{"service":"web","message":"user created dashboard","usr":{"email":"a@b.co"},"evt":{"name":"dashboard"}},
                    {"service":"web","message":"user deleted monitor","usr":{"email":"c@d.co"},"evt":{"name":"monitor"}}]"#;
    assert_eq!(submit(&server, items).status().as_u16(), 202);
    let search = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_evident"))
            .arg("search")
            .args(args)
            .env("EVIDENT_API_KEY", API_KEY)
            .env("EVIDENT_APP_KEY", APP_KEY)
            .output()
            .expect("evident search runs")
    };
    let output = search(&[
        "@usr.email:a@b.co AND @evt.name:dashboard",
        "--from",
        "now-1h",
        "--server",
        &server.base,
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("TIMESTAMP"), "{stdout}");
    assert!(
        stdout.contains("a@b.co") && stdout.contains("dashboard") && !stdout.contains("c@d.co"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("1 event"), "{stdout}");

    let output = search(&[
        "-@evt.name:dashboard -source:evident",
        "--json",
        "--from",
        "now-1h",
        "--server",
        &server.base,
    ]);
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0]["attributes"]["attributes"]["usr"]["email"],
        "c@d.co"
    );

    let output = search(&["@usr.email:", "--server", &server.base]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("at column 12"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let data_dir = directory.path().to_str().expect("utf-8 path");
    let busy = search(&["*", "--data-dir", data_dir]);
    assert!(
        !busy.status.success(),
        "the running server holds the directory"
    );
    server.stop();
    let output = search(&[
        "-source:evident",
        "--from",
        "now-1h",
        "--json",
        "--data-dir",
        data_dir,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 2);
}

#[test]
fn an_overloaded_server_sheds_load_with_503_and_keeps_what_it_acknowledged() {
    let directory = tempfile::tempdir().expect("temp dir");
    // Any batch already waiting for the disk makes the next one wait its turn.
    let server = Server::start_with(directory.path(), &["--max-pending-bytes", "1"]);
    let base = server.base.clone();
    let senders: Vec<_> = (0..8)
        .map(|sender| {
            let base = base.clone();
            std::thread::spawn(move || {
                let http = client();
                let (mut accepted, mut shed) = (Vec::new(), 0);
                for batch in 0..40 {
                    let marker = format!("o{sender}x{batch}");
                    let items: Vec<Value> = (0..50).map(|i| json!({"message": format!("{marker} {i} {}", "y".repeat(300)), "marker": marker})).collect();
                    let response = http.post(format!("{base}/api/v2/logs")).header("DD-API-KEY", API_KEY).json(&items).send().expect("request");
                    match response.status().as_u16() {
                        202 => accepted.push(marker),
                        503 => {
                            assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
                            assert!(response.text().expect("body").contains("overloaded"));
                            shed += 1;
                        }
                        other => panic!("unexpected status {other}"),
                    }
                }
                (accepted, shed)
            })
        })
        .collect();
    let results: Vec<(Vec<String>, usize)> = senders
        .into_iter()
        .map(|sender| sender.join().expect("sender"))
        .collect();
    let shed: usize = results.iter().map(|(_, shed)| shed).sum();
    let accepted: Vec<String> = results
        .into_iter()
        .flat_map(|(accepted, _)| accepted)
        .collect();
    assert!(shed > 0, "concurrent senders overran a 1-byte queue");
    assert!(!accepted.is_empty());
    assert_eq!(
        total(&server, "-source:evident"),
        accepted.len() * 50,
        "exactly the acknowledged batches are stored"
    );
}

#[test]
fn a_sealing_backlog_sheds_load_with_503_until_it_clears() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(directory.path(), &["--max-unsealed-events", "60"]);
    let batch = |marker: &str| -> String {
        let items: Vec<Value> = (0..50)
            .map(|i| json!({"message": format!("{marker} {i}")}))
            .collect();
        serde_json::to_string(&items).expect("json")
    };
    assert_eq!(submit(&server, &batch("first")).status().as_u16(), 202);
    assert_eq!(submit(&server, &batch("second")).status().as_u16(), 202);
    // 100 events wait for sealing (a segment takes 100,000): over the limit.
    let refused = submit(&server, &batch("third"));
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert!(refused.text().expect("body").contains("sealing is behind"));
    assert_eq!(
        total(&server, "-source:evident"),
        100,
        "what was acknowledged is kept"
    );
}

fn live(server: &Server, body: Value) -> (u16, Value) {
    post_with_keys(server, "/api/v1/live", body)
}

#[test]
fn live_tail_follows_arrivals_across_a_seal() {
    let directory = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(directory.path(), &["--seal-rows", "10"]);
    let batch = |marker: &str, count: usize| -> String {
        let items: Vec<Value> = (0..count)
            .map(|i| json!({"message": format!("{marker} {i}"), "service": if i % 2 == 0 { "web" } else { "api" }}))
            .collect();
        serde_json::to_string(&items).expect("json")
    };
    assert_eq!(submit(&server, &batch("before", 5)).status().as_u16(), 202);
    let (status, start) = live(&server, json!({"query": "service:web"}));
    assert_eq!(status, 200, "{start}");
    assert_eq!(start["data"], json!([]));
    assert_eq!(start["meta"]["position"], 5);

    // Late arrivals show too: live tail follows the log, not event time.
    let late =
        json!([{"message": "late 0", "service": "web", "timestamp": "2020-05-01T00:00:00Z"}]);
    assert_eq!(submit(&server, &late.to_string()).status().as_u16(), 202);
    assert_eq!(submit(&server, &batch("after", 20)).status().as_u16(), 202);
    // Sealed meanwhile (a segment every 10 events, sealed once a second):
    // the positions are read from the segments.
    let sealed = || -> usize {
        std::fs::read(directory.path().join("segments/manifest.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|manifest| manifest["segments"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    let waited = std::time::Instant::now();
    while sealed() < 2 && waited.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(sealed(), 2, "two segments of 10 sealed");
    let mut messages = Vec::new();
    let mut position = start["meta"]["position"].clone();
    loop {
        let (status, page) = live(
            &server,
            json!({"query": "service:web", "position": position, "limit": 4}),
        );
        assert_eq!(status, 200, "{page}");
        let hits = page["data"].as_array().expect("hits");
        if hits.is_empty() {
            // 26 events sent, and the record of the tail's start.
            assert_eq!(page["meta"]["position"], 27);
            break;
        }
        messages.extend(hits.iter().map(|hit| hit["attributes"]["message"].clone()));
        position = page["meta"]["position"].clone();
    }
    let expected: Vec<Value> = std::iter::once(json!("late 0"))
        .chain((0..20).step_by(2).map(|i| json!(format!("after {i}"))))
        .collect();
    assert_eq!(messages, expected);

    for (body, wanted) in [
        (json!({"query": "@a:(", "position": 0}), "invalid query"),
        (
            json!({"query": "* | stats count", "position": 0}),
            "live tail follows events",
        ),
        (
            json!({"position": 0, "limit": 0}),
            "limit must be between 1 and 1000",
        ),
    ] {
        let (status, answer) = live(&server, body);
        assert_eq!(status, 400);
        assert!(answer.to_string().contains(wanted), "{answer}");
    }
    let refused = client()
        .post(server.url("/api/v1/live"))
        .header("DD-API-KEY", API_KEY)
        .json(&json!({}))
        .send()
        .expect("request");
    assert_eq!(refused.status().as_u16(), 401);
}

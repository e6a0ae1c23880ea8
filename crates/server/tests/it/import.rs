//! `evident import` and `POST /api/v1/import/{source}` against a real
//! server and a data directory, with the shared CloudTrail files and
//! broken ones.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use crate::support::{API_KEY, Server, client, shared_dir, sql_rows};

const COUNT_CLOUDTRAIL: &str = "SELECT count(*) FROM dd.audit(columns => ARRAY['timestamp'], \
                                filter => 'source:cloudtrail') AS (ts TIMESTAMP)";

fn import(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evident"))
        .arg("import")
        .args(args)
        .args(paths)
        .env("EVIDENT_API_KEY", API_KEY)
        .output()
        .expect("evident import runs")
}

fn bucket() -> std::path::PathBuf {
    shared_dir().join("data/aws-cloudtrail/s3-bucket-layout-panther")
}

#[test]
fn the_bucket_layout_imports_into_a_server_with_its_fields() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path());
    let output = import(&["cloudtrail", "--server", &server.base], &[&bucket()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("imported 324 of 324 records from 74 files"),
        "{stdout}"
    );
    assert_eq!(sql_rows(&server, COUNT_CLOUDTRAIL), vec![json!([324])]);

    // The same files again, from anywhere: known by their content, skipped.
    let again = import(&["cloudtrail", "--server", &server.base], &[&bucket()]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(
        stdout.contains("74 files were imported before and skipped"),
        "{stdout}"
    );
    assert_eq!(sql_rows(&server, COUNT_CLOUDTRAIL), vec![json!([324])]);

    // The fields of one record, and its original under @aws.cloudtrail.
    let rows = sql_rows(
        &server,
        "SELECT name, status, actor, ip, account, action, asset, agent FROM dd.audit(
           columns => ARRAY['@evt.name', 'status', '@evt.actor.type', '@network.client.ip',
                            '@cloud.account.id', '@action', '@asset.id', '@aws.cloudtrail.userAgent'],
           filter => 'source:cloudtrail @evt.name:DeleteBucketEncryption @usr.name:testuser')
         AS (name VARCHAR, status VARCHAR, actor VARCHAR, ip VARCHAR, account VARCHAR,
             action VARCHAR, asset VARCHAR, agent VARCHAR)",
    );
    assert_eq!(
        rows,
        vec![json!([
            "DeleteBucketEncryption",
            "error",
            "user",
            "1.2.3.4",
            "111111111111",
            "deleted",
            "sensitive-data-bucket",
            "aws-cli/2.13.0 Python/3.11.4 Linux/5.10.0-1234-aws exe/x86_64.ubuntu.22"
        ])]
    );
}

fn gzipped(text: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text).expect("write");
    encoder.finish().expect("finish")
}

#[test]
fn bad_files_and_records_go_to_the_dead_letter_area_and_the_rest_imports() {
    let files = tempfile::tempdir().expect("tempdir");
    let good = r#"{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventTime": "2024-01-01T00:00:00Z"}]}"#;
    std::fs::write(
        files.path().join("1-good.json.gz"),
        gzipped(good.as_bytes()),
    )
    .expect("write");
    let truncated = gzipped(good.as_bytes());
    std::fs::write(
        files.path().join("2-truncated.json.gz"),
        &truncated[..truncated.len() / 2],
    )
    .expect("write");
    let lines = concat!(
        r#"{"eventSource": "s3.amazonaws.com", "eventName": "GetObject"}"#,
        "\n{\"eventSource\": \"s3.amazonaws.com\", \"eventName\": \n",
        r#"{"eventSource": "s3.amazonaws.com"}"#,
        "\n"
    );
    std::fs::write(files.path().join("3-lines.jsonl"), lines).expect("write");

    let data = tempfile::tempdir().expect("tempdir");
    let output = import(&["cloudtrail", "--data-dir"], &[data.path(), files.path()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("imported 2 of 4 records from 3 files"),
        "{stdout}"
    );
    assert!(stdout.contains("3 dead letters"), "{stdout}");
    assert!(
        stderr.contains("2-truncated.json.gz: not valid gzip"),
        "{stderr}"
    );

    let letters = std::fs::read_to_string(data.path().join("dead-letter/dead-letters.jsonl"))
        .expect("dead letters");
    let letters: Vec<Value> = letters
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    let reasons: Vec<&str> = letters
        .iter()
        .map(|letter| letter["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(letters.len(), 3, "{reasons:?}");
    assert!(reasons[0].starts_with("not valid gzip"), "{reasons:?}");
    assert!(reasons[1].starts_with("line 2: not JSON"), "{reasons:?}");
    assert_eq!(reasons[2], "not a cloudtrail record: it has no eventName");
    assert_eq!(
        letters[2]["record"],
        json!({"eventSource": "s3.amazonaws.com"})
    );

    // What was imported is there, the dead letters are not.
    let server = Server::start(data.path());
    assert_eq!(sql_rows(&server, COUNT_CLOUDTRAIL), vec![json!([2])]);
}

#[test]
fn the_import_endpoint_checks_its_key_source_and_size() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path());
    let post = |path: &str, key: &str, body: Vec<u8>| {
        let response = client()
            .post(server.url(path))
            .header("DD-API-KEY", key)
            .body(body)
            .send()
            .expect("request");
        (
            response.status().as_u16(),
            response.text().unwrap_or_default(),
        )
    };
    let record = br#"{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}"#.to_vec();
    assert_eq!(
        post("/api/v1/import/cloudtrail", "wrong", record.clone()).0,
        403
    );
    let (status, body) = post("/api/v1/import/syslog", API_KEY, record.clone());
    assert_eq!(status, 404);
    assert!(body.contains("unknown source"), "{body}");
    let sha256 = evident_sources::records::sha256_hex(&record);
    let (status, body) = post("/api/v1/import/cloudtrail?file=one.json", API_KEY, record);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"file": "one.json", "records": 1, "imported": 1, "dead_letters": 0, "sha256": sha256})
    );
    // A record that cannot be read is a dead letter, counted for scraping.
    let (status, body) = post(
        "/api/v1/import/cloudtrail?file=two.json",
        API_KEY,
        b"{broken".to_vec(),
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"dead_letters\":1"), "{body}");
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("\nevident_dead_letters_total 1\n"),
        "{metrics}"
    );
    let huge = vec![b' '; 65 * 1024 * 1024];
    assert_eq!(post("/api/v1/import/cloudtrail", API_KEY, huge).0, 413);
}

/// The data files of a shared folder (not READMEs, label sidecars or
/// CloudTrail digests).
fn data_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("shared data") {
            let path = entry.expect("entry").path();
            let name = path.to_string_lossy().into_owned();
            if path.is_dir() {
                pending.push(path);
            } else if !name.ends_with(".md")
                && !name.ends_with(".labels.jsonl")
                && !name.contains("digest")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Imported events by `source` (evident's own records of SQL left out).
fn counts_by_source(server: &Server) -> std::collections::HashMap<String, i64> {
    sql_rows(
        server,
        "SELECT src, count(*) FROM dd.audit(columns => ARRAY['source'], filter => '-@evt.name:sql_query')
         AS (src VARCHAR) GROUP BY src",
    )
    .iter()
    .filter_map(|row| Some((row[0].as_str()?.to_string(), row[1].as_i64()?)))
    .collect()
}

#[test]
fn every_shared_record_of_every_source_imports_into_a_server() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path());
    let sources = [
        ("cloudtrail", "aws-cloudtrail", 822),
        ("gcp", "gcp-audit", 198),
        ("azure", "azure", 293),
        ("okta", "okta", 57),
        ("github", "github-audit", 106),
        ("kubernetes", "kubernetes-audit", 193),
    ];
    for (source, folder, expected) in sources {
        let files = data_files(&shared_dir().join("data").join(folder));
        let paths: Vec<&Path> = files.iter().map(std::path::PathBuf::as_path).collect();
        let output = import(&[source, "--server", &server.base], &paths);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{source}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.starts_with(&format!("imported {expected} of {expected} records")),
            "{source}: {stdout}"
        );
    }
    // AKS audit records in the Azure folder are Kubernetes events.
    let counts = counts_by_source(&server);
    let count = |name: &str| counts.get(name).copied().unwrap_or(0);
    assert_eq!(count("cloudtrail"), 822);
    assert_eq!(
        count("gcp") + count("kubernetes") + count("azure"),
        198 + 193 + 293
    );
    assert_eq!(count("okta"), 57);
    assert_eq!(count("github"), 106);
    assert_eq!(
        counts.values().sum::<i64>(),
        822 + 198 + 293 + 57 + 106 + 193
    );
}

#[test]
fn auto_recognizes_each_record_of_every_shared_source() {
    let data = tempfile::tempdir().expect("tempdir");
    let folders = [
        "aws-cloudtrail",
        "gcp-audit",
        "azure",
        "okta",
        "github-audit",
        "kubernetes-audit",
    ];
    let files: Vec<std::path::PathBuf> = folders
        .iter()
        .flat_map(|folder| data_files(&shared_dir().join("data").join(folder)))
        .collect();
    let paths: Vec<&Path> = files.iter().map(std::path::PathBuf::as_path).collect();
    let output = import(
        &["auto", "--data-dir"],
        &[&[data.path()], paths.as_slice()].concat(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("imported 1669 of 1669 records"),
        "{stdout}"
    );
    let server = Server::start(data.path());
    let counts = counts_by_source(&server);
    let count = |name: &str| counts.get(name).copied().unwrap_or(0);
    assert_eq!(count("cloudtrail"), 822);
    assert_eq!(count("okta"), 57);
    assert_eq!(count("github"), 106);
    // GKE and AKS wrap Kubernetes audit events: they count as kubernetes.
    assert_eq!(
        count("gcp") + count("azure") + count("kubernetes"),
        198 + 293 + 193
    );
    assert!(count("gcp") > 0 && count("azure") > 0 && count("kubernetes") >= 193);
}

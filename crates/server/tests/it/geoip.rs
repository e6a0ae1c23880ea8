//! GeoIP enrichment at ingest, with MaxMind's test databases: the Datadog
//! intake and imported CloudTrail records alike.

use std::process::Command;

use serde_json::json;

use crate::support::{API_KEY, Server, shared_dir, sql_rows, submit};

const LOCATED: &str = "SELECT ip, country, city, asn FROM dd.audit(
  columns => ARRAY['@network.client.ip', '@network.client.geoip.country.name',
                   '@network.client.geoip.city.name', '@network.client.geoip.as.number'],
  filter => '-@evt.name:sql_query')
AS (ip VARCHAR, country VARCHAR, city VARCHAR, asn VARCHAR) WHERE ip IS NOT NULL ORDER BY ip";

fn databases() -> [String; 4] {
    let dir = shared_dir().join("data/geoip");
    [
        "--geoip-city".into(),
        dir.join("GeoIP2-City-Test.mmdb").display().to_string(),
        "--geoip-asn".into(),
        dir.join("GeoLite2-ASN-Test.mmdb").display().to_string(),
    ]
}

#[test]
fn the_intake_locates_public_client_addresses() {
    let data = tempfile::tempdir().expect("tempdir");
    let args = databases();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_with(data.path(), &args);
    let events = json!([
        {"message": "london", "network": {"client": {"ip": "81.2.69.142"}}},
        {"message": "linköping", "network": {"client": {"ip": "89.160.20.112"}}},
        {"message": "private", "network": {"client": {"ip": "10.1.2.3"}}},
        {"message": "not an address", "network": {"client": {"ip": "localhost"}}},
    ]);
    assert_eq!(submit(&server, &events.to_string()).status().as_u16(), 202);
    assert_eq!(
        sql_rows(&server, LOCATED),
        vec![
            json!(["10.1.2.3", null, null, null]),
            json!(["81.2.69.142", "United Kingdom", "London", null]),
            json!(["89.160.20.112", "Sweden", "Linköping", "29518"]),
            json!(["localhost", null, null, null]),
        ]
    );
}

#[test]
fn imported_records_are_located_too() {
    let files = tempfile::tempdir().expect("tempdir");
    let record = json!({"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser",
        "eventTime": "2024-01-01T00:00:00Z", "sourceIPAddress": "216.160.83.56"}]});
    let file = files.path().join("trail.json");
    std::fs::write(&file, record.to_string()).expect("write");
    let data = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(["import", "cloudtrail", "--data-dir"])
        .arg(data.path())
        .args(databases())
        .arg(&file)
        .env("EVIDENT_API_KEY", API_KEY)
        .output()
        .expect("import runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let server = Server::start(data.path());
    assert_eq!(
        sql_rows(&server, LOCATED),
        vec![json!(["216.160.83.56", "United States", "Milton", "209"])]
    );
}

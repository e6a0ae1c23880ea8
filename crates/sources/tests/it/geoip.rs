//! GeoIP enrichment against MaxMind's test databases; expected values from
//! the JSON those databases are built from (shared/data/geoip).

use evident_model::Event;
use evident_sources::geoip::GeoIp;
use serde_json::{Value, json};

use crate::support::shared_dir;

fn geoip() -> GeoIp {
    let dir = shared_dir().join("data/geoip");
    GeoIp::open(
        Some(&dir.join("GeoIP2-City-Test.mmdb")),
        Some(&dir.join("GeoLite2-ASN-Test.mmdb")),
    )
    .expect("opens")
    .expect("configured")
}

fn enriched(geoip: &GeoIp, ip: &str) -> Value {
    let mut event = Event::default();
    event
        .attributes
        .insert("network".into(), json!({"client": {"ip": ip}}));
    geoip.enrich(&mut event);
    event.attributes["network"]["client"]
        .get("geoip")
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn addresses_get_their_city_and_autonomous_system() {
    let geoip = geoip();
    assert_eq!(
        enriched(&geoip, "81.2.69.142"),
        json!({
            "country": {"name": "United Kingdom", "iso_code": "GB"},
            "continent": {"name": "Europe", "code": "EU"},
            "subdivision": {"name": "England", "iso_code": "ENG"},
            "city": {"name": "London"},
            "timezone": "Europe/London",
            "location": {"latitude": 51.5142, "longitude": -0.0931},
            "ipAddress": "81.2.69.142"
        })
    );
    let milton = enriched(&geoip, "216.160.83.56");
    assert_eq!(milton["city"]["name"], "Milton");
    assert_eq!(milton["subdivision"]["iso_code"], "WA");
    // The route is the network the database holds the address in: its
    // writer merged the source's adjacent blocks of AS209 into one /18.
    assert_eq!(
        milton["as"],
        json!({"number": "209", "route": "216.160.64.0/18"})
    );
    let linkoping = enriched(&geoip, "89.160.20.112");
    assert_eq!(linkoping["city"]["name"], "Linköping");
    assert_eq!(
        linkoping["as"],
        json!({"number": "29518", "name": "Bredband2 AB", "route": "89.160.0.0/17"})
    );
    let bhutan = enriched(&geoip, "67.43.156.1");
    assert_eq!(bhutan["country"]["iso_code"], "BT");
    assert_eq!(bhutan.get("city"), None);
    assert_eq!(
        bhutan["as"],
        json!({"number": "35908", "route": "67.43.152.0/21"})
    );
    assert_eq!(enriched(&geoip, "2001:218::1")["country"]["name"], "Japan");
}

#[test]
fn unknown_private_and_invalid_addresses_are_left_alone() {
    let geoip = geoip();
    for ip in [
        "1.2.3.4",
        "10.0.0.1",
        "127.0.0.1",
        "fd00::1",
        "AWS Internal",
        "",
    ] {
        assert_eq!(enriched(&geoip, ip), Value::Null, "{ip}");
    }
}

#[test]
fn a_missing_database_is_an_error_and_none_is_no_enrichment() {
    let missing = shared_dir().join("data/geoip/missing.mmdb");
    let error = GeoIp::open(Some(&missing), None).expect_err("missing");
    assert!(error.to_string().contains("missing.mmdb"), "{error}");
    assert!(GeoIp::open(None, None).expect("nothing to open").is_none());
    // A file that is not a database.
    let readme = shared_dir().join("data/geoip/README.md");
    assert!(GeoIp::open(None, Some(&readme)).is_err());
}

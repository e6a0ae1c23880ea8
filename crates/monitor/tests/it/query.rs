use std::time::Duration;

use evident_monitor::query::{MAX_WINDOW, format_duration};
use evident_monitor::{Comparator, Kind, Rollup, parse};

#[test]
fn the_seed_monitors_parse_as_worded() -> Result<(), Box<dyn std::error::Error>> {
    // "@aegis.decision:BLOCKED > 10 in 5 min"
    let spike = parse(r#"audits("@aegis.decision:BLOCKED").rollup("count").last("5m") > 10"#)?;
    assert_eq!(spike.search, "@aegis.decision:BLOCKED");
    assert_eq!(
        spike.kind,
        Kind::Threshold {
            rollup: Rollup::Count,
            window: Duration::from_secs(300),
            comparator: Comparator::Above,
            threshold: 10.0
        }
    );
    // "@aegis.destination:VENDOR @aegis.decision:BLOCKED > 5 in 1 hr"
    let vendor = parse(
        r#"audits("@aegis.destination:VENDOR @aegis.decision:BLOCKED").rollup("count").last("1h") > 5"#,
    )?;
    assert!(
        matches!(vendor.kind, Kind::Threshold { window, threshold, .. } if window == Duration::from_secs(3600) && threshold == 5.0)
    );
    // "@aegis.actor_id:* @event.dataset:aegis.preflight first-seen new actor"
    let actor = parse(
        r#"audits("@aegis.actor_id:* @event.dataset:aegis.preflight").new_value("@aegis.actor_id").learning("7d")"#,
    )?;
    assert!(
        matches!(&actor.kind, Kind::NewValue { field, learning, forget: None } if field.0 == "@aegis.actor_id" && *learning == Duration::from_secs(7 * 86_400))
    );
    // "@event.dataset:aegis.preflight 0 in 30 min"
    let stalled =
        parse(r#"audits("@event.dataset:aegis.preflight").rollup("count").last("30m") < 1"#)?;
    assert!(
        matches!(stalled.kind, Kind::Threshold { comparator: Comparator::Below, threshold, .. } if threshold == 1.0)
    );
    Ok(())
}

#[test]
fn grouped_rollups_and_the_datadog_spellings() -> Result<(), Box<dyn std::error::Error>> {
    let query = parse(
        r#"logs("@evt.name:authentication status:error").index("*").rollup("cardinality", "@network.client.ip").by("@usr.email,service").last("15m") >= 3"#,
    )?;
    assert_eq!(query.group_by.len(), 2);
    assert_eq!(query.group_by[0].0, "@usr.email");
    assert_eq!(query.group_by[1].0, "service");
    assert!(
        matches!(&query.kind, Kind::Threshold { rollup: Rollup::Cardinality(name, _), comparator: Comparator::AboveOrEqual, .. } if name == "@network.client.ip")
    );
    // Quotes inside the search are escaped.
    let quoted = parse(r#"audits("@usr.name:\"Jane Doe\"").rollup("count").last("1h") > 0"#)?;
    assert_eq!(quoted.search, r#"@usr.name:"Jane Doe""#);
    assert_eq!(format_duration(Duration::from_secs(1800)), "30m");
    assert_eq!(format_duration(MAX_WINDOW), "2d");
    Ok(())
}

#[test]
fn errors_point_at_their_column() {
    let cases = [
        // (query, column, words in the message)
        (
            r#"audit("x").rollup("count").last("5m") > 1"#,
            1,
            "starts with audits",
        ),
        (
            r#"audits("@usr.email:").rollup("count").last("5m") > 1"#,
            20,
            "in the search",
        ),
        (
            r#"audits("x").rollup("median").last("5m") > 1"#,
            21,
            "unknown rollup",
        ),
        (
            r#"audits("x").rollup("count").last("5y") > 1"#,
            35,
            "invalid duration",
        ),
        (
            r#"audits("x").rollup("count").last("30s") > 1"#,
            35,
            "between 1m and 2d",
        ),
        (
            r#"audits("x").rollup("count").last("3d") > 1"#,
            35,
            "between 1m and 2d",
        ),
        (
            r#"audits("x").rollup("count").last("5m") = 1"#,
            40,
            "expected a comparison",
        ),
        (
            r#"audits("x").rollup("count").last("5m") > ten"#,
            42,
            "expected a number",
        ),
        (r#"audits("x").rollup("count") > 1"#, 29, "needs a window"),
        (
            r#"audits("x").new_value("@usr.id") > 1"#,
            34,
            "takes no threshold",
        ),
        (r#"audits("x").frobnicate("a")"#, 13, "unknown method"),
        (r#"audits("x).rollup("count")"#, 20, "expected ')'"),
    ];
    for (query, column, words) in cases {
        let error = parse(query).expect_err(query);
        assert!(error.message.contains(words), "{query}: {error}");
        assert_eq!(error.column, column, "{query}: {error}");
    }
}

#[test]
fn hostile_queries_are_refused_without_panicking() {
    for query in [
        "",
        "audits(",
        "audits(\"",
        "audits(\"\\",
        "audits(\"x\").",
        "audits(\"x\").by(\"\")",
        "audits(\"x\").by(\"@a,@b,@c,@d,@e\").rollup(\"count\").last(\"5m\") > 1",
        "audits(\"é\").rollup(\"count\").last(\"5m\") > 1é",
        &"(".repeat(10_000),
        &format!(
            "audits(\"{}\").rollup(\"count\").last(\"5m\") > 1",
            "(".repeat(500)
        ),
    ] {
        assert!(parse(query).is_err(), "{query}");
    }
}

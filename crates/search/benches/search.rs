//! Parse time of the documented queries and matcher throughput on
//! generated audit events.
//!
//! `cargo bench -p evident-search`. The matcher figures are events per
//! second on one core; `baseline/hand-written` is the same needle test
//! written directly against the event, the floor the generic matcher is
//! measured against.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evident_model::Event;
use serde_json::json;

/// The queries of the issue and the seed documents.
const SEED_QUERIES: [&str; 9] = [
    "@usr.email:alice@example.com AND @evt.name:dashboard",
    "@metadata.api_key.id:* AND @evt.name:api_key",
    "@status:error AND @auth_method:*",
    "@aegis.finding_counts_by_type.SSN:>10",
    "-@action:deleted",
    "\"deleted dashboard\"",
    "@network.client.ip:CIDR(10.0.0.0/8)",
    "@evt.name:\"Access Management\" @asset.type:role @action:(created OR deleted)",
    "@aegis.decision:BLOCKED | stats count by @aegis.actor_id",
];

const MATCH_QUERIES: [(&str, &str); 6] = [
    ("needle", "@usr.email:user7@example.com"),
    ("two-attributes", "@evt.name:Dashboard @action:deleted"),
    ("free-text", "dashboard deleted"),
    ("phrase", "\"deleted dashboard\""),
    ("wildcard", "@usr.email:*7@example.com OR service:web*"),
    (
        "mixed",
        "@http.status_code:[400 TO 499] -@action:accessed CIDR(@network.client.ip, 10.0.0.0/8) env:prod",
    ),
];

/// Deterministic events shaped like Datadog audit events.
fn events(count: usize) -> Vec<Event> {
    let names = [
        "Request",
        "Dashboard",
        "Monitor",
        "API Key",
        "Access Management",
    ];
    let actions = ["accessed", "created", "modified", "deleted"];
    (0..count)
        .map(|i| {
            let name = names[i % names.len()];
            let action = actions[i % actions.len()];
            let event = json!({
                "message": format!("user{} {} {} via /api/v1/{}", i % 50, action, name.to_lowercase(), i % 13),
                "service": if i % 3 == 0 { "web-frontend" } else { "api" },
                "status": if i % 10 == 0 { "error" } else { "info" },
                "tags": ["source:audit", if i % 2 == 0 { "env:prod" } else { "env:staging" }],
                "attributes": {
                    "usr": {"email": format!("user{}@example.com", i % 50), "id": i % 50},
                    "evt": {"name": name, "actor": {"type": "USER"}},
                    "action": action,
                    "asset": {"type": "dashboard", "id": format!("abc-{i}")},
                    "http": {"status_code": format!("{}", [200, 204, 403, 404, 500][i % 5]), "method": "GET"},
                    "network": {"client": {"ip": format!("{}.{}.{}.{}", [10, 84, 192][i % 3], i % 256, (i / 7) % 256, i % 199)}},
                }
            });
            serde_json::from_value(event).expect("generated events are valid")
        })
        .collect()
}

fn parse_seed_queries(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (index, query) in SEED_QUERIES.iter().enumerate() {
        group.throughput(Throughput::Bytes(query.len() as u64));
        group.bench_function(format!("seed-{index}"), |b| {
            b.iter(|| evident_search::parse(black_box(query)).expect("seed queries parse"))
        });
    }
    group.finish();
}

fn match_events(c: &mut Criterion) {
    let events = events(10_000);
    let mut group = c.benchmark_group("match");
    group.throughput(Throughput::Elements(events.len() as u64));
    for (name, query) in MATCH_QUERIES {
        let filter = evident_search::parse_filter(query).expect("bench queries parse");
        group.bench_function(name, |b| {
            b.iter(|| {
                events
                    .iter()
                    .filter(|event| evident_search::matches(&filter, event))
                    .count()
            })
        });
    }
    group.bench_function("baseline/hand-written-needle", |b| {
        b.iter(|| {
            events
                .iter()
                .filter(|event| {
                    event
                        .attributes
                        .get("usr")
                        .and_then(|usr| usr.get("email"))
                        .and_then(|v| v.as_str())
                        == Some(black_box("user7@example.com"))
                })
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, parse_seed_queries, match_events);
criterion_main!(benches);

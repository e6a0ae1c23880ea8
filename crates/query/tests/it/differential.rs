//! The read path returns exactly what the reference matcher and aggregator
//! give over every event: for every public conformance query and more, over
//! the corpus events and generated audit events, partly sealed into
//! segments and partly in the tail, in full and cut time windows, through
//! every page of both sort orders.

use std::path::PathBuf;
use std::sync::Arc;

use evident_model::{Event, StoredEvent, Timestamp};
use evident_query::{
    Buckets, Order, SortKey, Window, aggregate, arrivals, log_end, matching_events, search,
    timeseries,
};
use evident_search::{Aggregator, Expr};
use evident_store::{Store, StoreOptions};
use serde_json::{Value, json};

fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EVIDENT_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub(crate) fn corpus() -> Vec<(String, Event)> {
    let path = shared_dir().join("spec/search-conformance.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let case: Value = serde_json::from_str(line).expect("corpus line");
            let query = case["query"].as_str().expect("query").to_string();
            let event = serde_json::from_value(case["event"].clone()).expect("corpus event");
            (query, event)
        })
        .collect()
}

/// Audit-shaped events: promoted fields with repeats, arrays, numbers and
/// gaps, a few words for free text.
fn generated(count: usize) -> Vec<Event> {
    let names = ["Request", "Dashboard", "API Key", "Monitor"];
    let actions = ["created", "deleted", "modified", "accessed"];
    (0..count)
        .map(|index| {
            let mut attributes = json!({
                "usr": {"email": format!("user{}@example.com", index % 13)},
                "evt": {"name": names[index % names.len()]},
                "network": {"client": {"ip": format!("10.0.{}.{}", index % 5, index % 7)}},
            });
            if index % 4 != 3 {
                let country = ["France", "Japan", "Brazil"][index % 3];
                attributes["network"]["client"]["geoip"] = json!({"country": {"name": country}});
            }
            // A few events keep their status as an attribute only, which
            // `status` then groups on; their segments cannot use the column.
            if index % 97 == 0 {
                attributes["status"] = json!(if index % 2 == 0 {
                    json!(500)
                } else {
                    json!("warn")
                });
            }
            attributes["action"] = match index % 11 {
                0 => json!(["created", "deleted"]),
                1 => Value::Null,
                _ => json!(actions[index % actions.len()]),
            };
            if index % 3 == 0 {
                attributes["http"] =
                    json!({"status_code": if index % 2 == 0 { json!(200) } else { json!("403") }});
            }
            let words = [
                "suspicious login",
                "routine check",
                "key rotated",
                "SUSPICIOUS activity",
            ];
            let service = ["web", "api"][index % 2];
            let env = ["prod", "dev", "staging"][index % 3];
            let status = match index % 4 {
                0 => json!("error"),
                1 => json!("info"),
                _ => Value::Null,
            };
            serde_json::from_value(json!({
                "message": format!("{} number {index}", words[index % words.len()]),
                "service": service,
                "status": status,
                "tags": [format!("env:{env}")],
                "attributes": attributes,
            }))
            .expect("event")
        })
        .collect()
}

const BASE: i64 = 1_714_564_800_000_000_000;
const SECOND: i64 = 1_000_000_000;

fn stored(index: usize, total: usize, event: Event) -> StoredEvent {
    // Event times out of log order, with ties that the tiebreaker and then
    // the position settle.
    let spread = (index * 7919 % total) as i64;
    let mut event = event;
    if !index.is_multiple_of(5) {
        event.timestamp = Some(Timestamp::from_nanos(BASE + spread / 2 * SECOND));
    }
    StoredEvent {
        id: format!("id-{index:05}"),
        discovery_timestamp: Timestamp::from_nanos(BASE + spread * SECOND),
        tiebreaker: (index % 3) as i64,
        random_draw: 0.5,
        ingest_size_in_bytes: 100,
        truncated: false,
        event,
    }
}

fn key(stored: &StoredEvent, sequence: u64) -> SortKey {
    let time = stored
        .event
        .timestamp
        .unwrap_or(stored.discovery_timestamp)
        .as_nanos();
    SortKey::new(time, stored.tiebreaker, sequence)
}

pub(crate) struct Fixture {
    pub _directory: tempfile::TempDir,
    pub store: Store,
    pub events: Vec<StoredEvent>,
}

pub(crate) fn fixture() -> Fixture {
    let corpus = corpus();
    let mut events: Vec<Event> = corpus.into_iter().map(|(_, event)| event).collect();
    events.extend(generated(300));
    let total = events.len();
    let events: Vec<StoredEvent> = events
        .into_iter()
        .enumerate()
        .map(|(index, event)| stored(index, total, event))
        .collect();
    let (directory, store) = crate::support::store_of(&events, 64, 50);
    let sealed = store.segments().len();
    assert!(sealed >= 8, "most events sealed, {sealed} segments");
    assert!(
        store.snapshot().tail.len() > 10,
        "some events stay in the tail"
    );
    Fixture {
        _directory: directory,
        store,
        events,
    }
}

pub(crate) fn windows() -> [Window; 3] {
    [
        Window {
            from: i64::MIN,
            to: i64::MAX,
        },
        Window {
            from: BASE + 90 * SECOND,
            to: BASE + 250 * SECOND,
        },
        Window {
            from: BASE + 1_000_000 * SECOND,
            to: i64::MAX,
        },
    ]
}

pub(crate) fn expected<'e>(
    events: &'e [StoredEvent],
    filter: &Expr,
    window: Window,
) -> Vec<(SortKey, &'e StoredEvent)> {
    events
        .iter()
        .enumerate()
        .map(|(sequence, stored)| (key(stored, sequence as u64), stored))
        .filter(|(key, stored)| {
            window.contains(key.time) && evident_search::matches(filter, &stored.event)
        })
        .collect()
}

fn pages(fixture: &Fixture, filter: &Expr, window: Window, order: Order) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = search(&fixture.store, filter, window, order, after, 40).expect("search");
        ids.extend(page.hits.iter().map(|(_, raw)| {
            StoredEvent::from_bytes(raw)
                .expect("the exact stored bytes")
                .id
        }));
        if !page.more {
            return ids;
        }
        after = page.hits.last().map(|(key, _)| *key);
        assert!(after.is_some(), "a page with more has hits");
    }
}

#[test]
fn every_query_finds_exactly_what_the_matcher_accepts() {
    let fixture = fixture();
    let mut queries: Vec<String> = corpus().into_iter().map(|(query, _)| query).collect();
    queries.extend(
        [
            "*",
            "@usr.email:user3@example.com",
            "@usr.email:user3@example.com env:prod",
            "suspicious",
            "@action:created",
            "-@action:created service:web",
            "@http.status_code:>=300",
            "@evt.name:\"API Key\" OR @evt.name:Monitor",
            "@status:error",
            "@status:(error OR warn) -service:web",
        ]
        .map(str::to_string),
    );
    let mut compared = 0;
    let extras = queries.len() - 10;
    for (number, query) in queries.iter().enumerate() {
        // Every query through the whole path; paging (slow unoptimized)
        // through a quarter of the corpus and every extra query.
        let page_through = number.is_multiple_of(4) || number >= extras;
        let Ok(filter) = evident_search::parse_filter(query) else {
            continue;
        };
        for window in windows() {
            let want = expected(&fixture.events, &filter, window);
            let found: Vec<String> = matching_events(&fixture.store, &filter, window)
                .expect("matching events")
                .iter()
                .map(|stored| stored.id.clone())
                .collect();
            let mut in_log_order: Vec<String> = want.iter().map(|(_, s)| s.id.clone()).collect();
            assert_eq!(found, in_log_order, "{query} in {window:?}");

            if window != windows()[0] || !page_through {
                compared += 1;
                continue;
            }
            let mut sorted = want.clone();
            sorted.sort_by_key(|(key, _)| *key);
            in_log_order = sorted.iter().map(|(_, s)| s.id.clone()).collect();
            assert_eq!(
                pages(&fixture, &filter, window, Order::OldestFirst),
                in_log_order,
                "{query} oldest first in {window:?}"
            );
            in_log_order.reverse();
            assert_eq!(
                pages(&fixture, &filter, window, Order::NewestFirst),
                in_log_order,
                "{query} newest first in {window:?}"
            );
            compared += 1;
        }
    }
    assert!(compared > 700, "{compared} query and window pairs compared");
}

#[test]
fn stats_agree_with_the_reference_aggregator() {
    let fixture = fixture();
    let filters = [
        "*",
        "@usr.email:user3@example.com",
        "service:web env:prod",
        "suspicious",
        "-@action:created",
        "@evt.name:Request OR @evt.name:Monitor",
        "status:error",
        "status:(error OR warn) service:api",
        "@status:error",
    ];
    let pipes = [
        "count",
        "count by @evt.name",
        "count by @usr.email, service",
        "count by @action",
        "count by @http.status_code, source",
        "count, count by @evt.name",
        "avg(@http.status_code) by @evt.name",
        "count(@usr.email) by service",
        "count by @network.client.ip, host",
        "count by status",
        "count by status, service",
        "count by @status",
        "count by @network.client.geoip.country.name",
    ];
    for (text, query) in stats_queries(&filters, &pipes) {
        let stats = query.stats.as_ref().expect("a pipe");
        for window in windows() {
            let mut reference = Aggregator::new(stats);
            for (_, stored) in expected(&fixture.events, &query.filter, window) {
                reference.add(&stored.event);
            }
            let found = aggregate(&fixture.store, &query.filter, window, stats).expect("aggregate");
            let reference = reference.finish().expect("within the bounds");
            assert_eq!(found, reference, "{text} in {window:?}");
        }
    }
}

/// Every filter piped into every `| stats`, parsed, with its text.
fn stats_queries(filters: &[&str], pipes: &[&str]) -> Vec<(String, evident_search::Query)> {
    let mut queries = Vec::new();
    for filter in filters {
        for pipe in pipes {
            let text = format!("{filter} | stats {pipe}");
            let query = evident_search::parse(&text).expect("valid");
            queries.push((text, query));
        }
    }
    queries
}

#[test]
fn timeseries_agree_with_an_aggregator_per_bucket() {
    let fixture = fixture();
    let filters = [
        "*",
        "service:web",
        "suspicious",
        "-@action:created",
        "status:error OR @evt.name:Monitor",
    ];
    let pipes = [
        "count",
        "count by status",
        "count by @network.client.geoip.country.name",
        "count by @usr.email, service",
        "avg(@http.status_code) by service",
    ];
    // Buckets that start before the events, cut through them, and end
    // before the last ones.
    let bucketings = [
        Buckets {
            start: BASE - 7 * SECOND,
            step: 30 * SECOND,
            count: 20,
        },
        Buckets {
            start: BASE + 100 * SECOND,
            step: 7 * SECOND,
            count: 9,
        },
    ];
    for (text, query) in stats_queries(&filters, &pipes) {
        let stats = query.stats.as_ref().expect("a pipe");
        for window in windows() {
            for buckets in bucketings {
                let mut reference: Vec<Aggregator<'_>> =
                    (0..buckets.count).map(|_| Aggregator::new(stats)).collect();
                for (key, stored) in expected(&fixture.events, &query.filter, window) {
                    let time = key.time;
                    if time < buckets.start {
                        continue;
                    }
                    let index = ((time - buckets.start) / buckets.step) as usize;
                    if let Some(aggregator) = reference.get_mut(index) {
                        aggregator.add(&stored.event);
                    }
                }
                let reference: Vec<_> = reference
                    .into_iter()
                    .map(|aggregator| aggregator.finish().expect("within the bounds"))
                    .collect();
                let found = timeseries(&fixture.store, &query.filter, window, stats, buckets)
                    .expect("timeseries");
                assert_eq!(found, reference, "{text} in {window:?} by {buckets:?}");
            }
        }
    }
}

#[test]
fn arrivals_follow_the_log_from_any_position_page_by_page() {
    let fixture = fixture();
    let total = fixture.events.len() as u64;
    assert_eq!(log_end(&fixture.store), total);
    for filter_text in ["*", "service:web", "suspicious", "-@action:created"] {
        let filter = evident_search::parse_filter(filter_text).expect("valid");
        for from in [0, 37, total - 20, total] {
            let expected: Vec<u64> = (from..total)
                .filter(|&at| evident_search::matches(&filter, &fixture.events[at as usize].event))
                .collect();
            for limit in [7, 1000] {
                let mut found = Vec::new();
                let mut position = from;
                loop {
                    let page =
                        arrivals(&fixture.store, &filter, position, limit).expect("arrivals");
                    assert!(page.events.len() <= limit);
                    for arrival in &page.events {
                        let at = arrival.position;
                        let stored =
                            StoredEvent::from_bytes(&arrival.payload).expect("stored bytes");
                        assert_eq!(stored.id, fixture.events[at as usize].id);
                        if let Some(unsealed) = &arrival.unsealed {
                            assert_eq!(unsealed.facts.time, stored.time_nanos());
                        }
                        found.push(at);
                    }
                    if page.events.is_empty() {
                        assert_eq!(page.next, total, "the end is where following goes on");
                        break;
                    }
                    assert!(page.next > position);
                    position = page.next;
                }
                assert_eq!(found, expected, "{filter_text} from {from} by {limit}");
            }
        }
    }
}

#[test]
fn sealed_events_are_read_back_from_the_segments_after_a_restart() {
    let fixture = fixture();
    let Fixture {
        _directory: directory,
        store,
        events,
    } = fixture;
    drop(store);
    let store = Store::open(
        directory.path(),
        StoreOptions {
            seal_rows: 64,
            ..StoreOptions::default()
        },
    )
    .expect("reopen");
    let filter = evident_search::parse_filter("@usr.email:user3@example.com").expect("valid");
    let everything = Window {
        from: i64::MIN,
        to: i64::MAX,
    };
    let found = matching_events(&store, &filter, everything).expect("search");
    let want = expected(&events, &filter, everything);
    assert_eq!(found.len(), want.len());
    assert!(!found.is_empty());
    let first: &Arc<StoredEvent> = &found[0];
    assert_eq!(first.id, want[0].1.id);
}

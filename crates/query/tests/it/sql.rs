//! `dd.audit(...)` end to end: Datadog's documented examples verbatim,
//! typed columns, errors, and the differential guarantee that
//! `count(*)` over a filter equals what the reference matcher accepts.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use evident_model::{Event, StoredEvent, Timestamp};
use evident_query::sql::parameters::Parameter;
use evident_query::sql::{SqlContext, SqlEngine, SqlError};
use futures::TryStreamExt;
use serde_json::json;

/// 2024-05-01T12:00:00Z: every test's `now()`.
const NOW: i64 = 1_714_564_800_000_000_000;
const HOUR: i64 = 3_600_000_000_000;

struct Fixture {
    _directory: tempfile::TempDir,
    engine: SqlEngine,
    events: Vec<StoredEvent>,
}

fn audit_event(index: usize) -> Event {
    let users = ["alice@example.com", "bob@example.com", "carol@example.com"];
    let method = ["GET", "POST"][index % 2];
    let country = ["France", "Japan"][index % 2];
    let mut attributes = json!({
        "usr": {"email": users[index % users.len()], "id": index % 3},
        "evt": {"name": if index.is_multiple_of(4) { "api_key" } else { "dashboard" }},
        "http": {"method": method, "url_details": {"path": format!("/api/v2/thing/{index}")}, "status_code": 200},
        "network": {"client": {"ip": format!("10.0.0.{}", index % 7), "geoip": {"country": {"name": country}}}},
        "auth_method": if index.is_multiple_of(5) { json!(null) } else { json!("SESSION") },
    });
    if index.is_multiple_of(4) {
        attributes["metadata"] = json!({"api_key": {"id": format!("key-{}", index % 3)}});
    }
    if index.is_multiple_of(6) {
        attributes["status"] = json!("error");
    }
    serde_json::from_value(json!({
        "message": format!("event number {index}"),
        "service": "web",
        "source": "datadog",
        "tags": ["env:prod"],
        "attributes": attributes,
    }))
    .expect("event")
}

/// 120 events, one every 10 minutes back from `NOW` (newest first in
/// time, oldest first in the log), half sealed into segments.
fn fixture() -> Fixture {
    let events: Vec<StoredEvent> = (0..120)
        .map(|index| {
            let mut event = audit_event(index);
            event.timestamp = Some(Timestamp::from_nanos(NOW - (120 - index as i64) * HOUR / 6));
            StoredEvent {
                id: format!("id-{index:04}"),
                discovery_timestamp: Timestamp::from_nanos(NOW),
                tiebreaker: index as i64,
                random_draw: 0.25,
                ingest_size_in_bytes: 200 + index as u64,
                truncated: false,
                event,
            }
        })
        .collect();
    let (directory, store) = crate::support::store_of(&events, 32, 20);
    assert!(
        !store.snapshot().tail.is_empty(),
        "some events stay in the tail"
    );
    Fixture {
        _directory: directory,
        engine: SqlEngine::new(Arc::new(store)),
        events,
    }
}

fn context() -> SqlContext {
    SqlContext::everything(Timestamp::from_nanos(NOW))
}

/// Runs `sql` on `engine` to its last row. The store blocks on its own IO
/// runtime, so fixtures are built outside any runtime and each statement
/// runs on one of its own here.
fn query(engine: &SqlEngine, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    query_with(engine, sql, &[])
}

fn query_with(
    engine: &SqlEngine,
    sql: &str,
    parameters: &[Parameter],
) -> Result<Vec<RecordBatch>, SqlError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let output = engine.run(sql, parameters, context()).await?;
        output.stream.try_collect().await.map_err(SqlError::from)
    })
}

fn run(fixture: &Fixture, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    query(&fixture.engine, sql)
}

/// The batches as a table of text, to compare results.
fn printed(batches: &[RecordBatch]) -> String {
    arrow::util::pretty::pretty_format_batches(batches)
        .expect("printable")
        .to_string()
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn single_count(batches: &[RecordBatch]) -> i64 {
    assert_eq!(rows(batches), 1);
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[test]
fn the_documented_examples_run_verbatim() {
    let fixture = fixture();
    let api_keys = r"
-- API key usage audit events from the last 24 hours
SELECT * FROM dd.audit(
  columns => ARRAY[
    'timestamp',
    'source',
    '@usr.email',
    '@evt.name',
    '@metadata.api_key.id',
    '@http.method',
    '@http.url_details.path'
  ],
  filter => '@metadata.api_key.id:* AND @evt.name:api_key',
  from_timestamp => now() - interval '24 hours',
  to_timestamp => now()
) AS (
  ts TIMESTAMP,
  src VARCHAR,
  user_email VARCHAR,
  event_name VARCHAR,
  api_key_id VARCHAR,
  http_method VARCHAR,
  url_path VARCHAR
);";
    let batches = run(&fixture, api_keys).expect("first example");
    // Every 4th event is an API key event; 20 hours of events fit the
    // last 24 hours, and `to_timestamp => now()` excludes the one at now.
    let expected = fixture
        .events
        .iter()
        .filter(|stored| {
            let time = stored.time_nanos();
            (NOW - 24 * HOUR..NOW).contains(&time)
                && stored.event.attributes["evt"]["name"] == "api_key"
        })
        .count();
    assert!(expected > 10);
    assert_eq!(rows(&batches), expected);
    let schema = batches[0].schema();
    let names: Vec<&str> = schema
        .fields()
        .iter()
        .map(|field| field.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "ts",
            "src",
            "user_email",
            "event_name",
            "api_key_id",
            "http_method",
            "url_path"
        ]
    );
    let sources = batches[0].column(1).as_string::<i32>();
    assert_eq!(sources.value(0), "datadog");
    let keys = batches[0].column(4).as_string::<i32>();
    assert!(keys.value(0).starts_with("key-"));

    let failures = r"
-- Failed authentication attempts by geographic location
SELECT * FROM dd.audit(
  columns => ARRAY[
    'timestamp',
    '@status',
    '@auth_method',
    '@usr.email',
    '@network.client.geoip.country.name',
    '@network.client.geoip.city.name',
    '@network.client.ip'
  ],
  filter => '@status:error AND @auth_method:*',
  from_timestamp => now() - interval '7 days',
  to_timestamp => now()
) AS (
  ts TIMESTAMP,
  status VARCHAR,
  auth_method VARCHAR,
  user_email VARCHAR,
  country VARCHAR,
  city VARCHAR,
  client_ip VARCHAR
);";
    let batches = run(&fixture, failures).expect("second example");
    let filter = evident_search::parse_filter("@status:error AND @auth_method:*").expect("filter");
    let expected = fixture
        .events
        .iter()
        .filter(|stored| {
            stored.time_nanos() < NOW && evident_search::matches(&filter, &stored.event)
        })
        .count();
    assert!(expected > 10);
    assert_eq!(rows(&batches), expected);
    for batch in &batches {
        let statuses = batch.column(1).as_string::<i32>();
        assert!(statuses.iter().all(|status| status == Some("error")));
        assert_eq!(
            batch.column(5).null_count(),
            batch.num_rows(),
            "no city in any event"
        );
    }
}

#[test]
fn ordinary_sql_runs_around_the_call() {
    let fixture = fixture();
    let batches = run(
        &fixture,
        "WITH calls AS (
           SELECT * FROM dd.audit(columns => ARRAY['@usr.email', '@usr.id', 'ingest_size_in_bytes'])
             AS (email VARCHAR, user_id BIGINT, size BIGINT)
         )
         SELECT email, count(*) AS n, sum(size) AS bytes, rank() OVER (ORDER BY count(*) DESC, email) AS place
         FROM calls GROUP BY email ORDER BY place",
    )
    .expect("cte, aggregate, window");
    assert_eq!(rows(&batches), 3);
    let counts = batches[0].column(1).as_primitive::<Int64Type>();
    assert_eq!(counts.iter().flatten().sum::<i64>(), 120);

    let joined = run(
        &fixture,
        "SELECT count(*) FROM dd.audit(columns => ARRAY['id', '@usr.email']) AS a(id VARCHAR, email VARCHAR)
         JOIN dd.audit(columns => ARRAY['id'], filter => '@evt.name:api_key') AS b(id VARCHAR) ON a.id = b.id",
    )
    .expect("join of two calls");
    assert_eq!(single_count(&joined), 30);
}

#[test]
fn parameters_bind_in_dd_audit_arguments_and_around_the_call() {
    let fixture = fixture();
    let sql = "SELECT count(*) FROM dd.audit(columns => ARRAY['timestamp', '@usr.email'], \
               filter => $1, from_timestamp => $2) AS (ts TIMESTAMP, email VARCHAR) WHERE email <> $3";
    let parameters = [
        Parameter::Text("@evt.name:api_key".into()),
        Parameter::Timestamp("2024-05-01 00:00:00".into()),
        Parameter::Text("alice@example.com".into()),
    ];
    let expected = fixture
        .events
        .iter()
        .filter(|stored| {
            let attributes = &stored.event.attributes;
            attributes["evt"]["name"] == "api_key"
                && attributes["usr"]["email"] != "alice@example.com"
                && stored.event.timestamp.is_some_and(|time| {
                    time >= evident_model::parse_time(
                        "2024-05-01T00:00:00Z",
                        Timestamp::from_nanos(NOW),
                    )
                    .expect("time")
                })
        })
        .count();
    assert!(expected > 0);
    let found = query_with(&fixture.engine, sql, &parameters).expect("runs");
    assert_eq!(single_count(&found), expected as i64);

    let missing = query_with(&fixture.engine, sql, &parameters[..2]).expect_err("refused");
    assert!(
        missing.to_string().contains("parameter $3 has no value"),
        "{missing}"
    );
}

#[test]
fn errors_say_what_to_change() {
    let fixture = fixture();
    let cases = [
        (
            "SELECT * FROM dd.audit(columns => ARRAY['usr.email']) AS (e VARCHAR)",
            "unknown column \"usr.email\"",
        ),
        (
            "SELECT * FROM dd.audit(columns => ARRAY['@a'], filter => '@a:(b OR') AS (a VARCHAR)",
            "invalid filter at position",
        ),
        (
            "SELECT * FROM dd.audit(columns => ARRAY['@a', '@b']) AS (a VARCHAR)",
            "names 2 columns but AS (...) declares 1",
        ),
        (
            "SELECT * FROM dd.audit(columns => ARRAY['@a'])",
            "needs a typed column list",
        ),
        (
            "SELECT * FROM dd.audit(columns => ARRAY['@a'], limit => 3) AS (a VARCHAR)",
            "has no argument limit",
        ),
        (
            "SELECT * FROM dd.logs(columns => ARRAY['@a']) AS (a VARCHAR)",
            "unknown dataset",
        ),
        (
            "SELECT * FROM dd.audit(columns => ARRAY['@usr.email']) AS (e BIGINT)",
            "column e: cannot cast \"",
        ),
        ("SELECT no_such_function(1)", "no_such_function"),
        (
            "SELECT nope FROM dd.audit(columns => ARRAY['@a']) AS (a VARCHAR)",
            "nope",
        ),
        (
            "SELECT * FROM dd.audit(columns => ARRAY['@a'], from_timestamp => 'last tuesday') AS (a VARCHAR)",
            "from_timestamp",
        ),
        ("CREATE TABLE t (a INT)", "DDL"),
    ];
    for (sql, expected) in cases {
        match run(&fixture, sql) {
            Ok(_) => panic!("{sql} ran"),
            Err(error) => {
                assert!(error.is_invalid(), "{sql}: {error:?}");
                let message = error.to_string();
                assert!(message.contains(expected), "{sql}: {message}");
            }
        }
    }
}

#[test]
fn count_equals_the_reference_matcher_for_every_filter() {
    let fixture = fixture();
    let filters = [
        "*",
        "@evt.name:api_key",
        "-@evt.name:api_key",
        "@usr.email:alice@example.com OR @http.method:POST",
        "@metadata.api_key.id:*",
        "number",
        "@usr.id:>=1",
        "@network.client.ip:10.0.0.3",
        "service:web AND env:prod",
        "@status:error",
    ];
    for filter in filters {
        let sql = format!(
            "SELECT count(*) FROM dd.audit(columns => ARRAY['timestamp'], filter => '{filter}') AS (ts TIMESTAMP)"
        );
        let batches = run(&fixture, &sql).expect(filter);
        let parsed = evident_search::parse_filter(filter).expect("filter");
        let expected = fixture
            .events
            .iter()
            .filter(|stored| evident_search::matches(&parsed, &stored.event))
            .count();
        assert_eq!(single_count(&batches), expected as i64, "{filter}");
    }
}

/// The differential guarantee: for every public conformance query, over
/// the corpus events and generated audit events (sealed and in the tail),
/// `count(*)` through `dd.audit` equals what the reference matcher
/// accepts, in every window; a query the search syntax rejects is a
/// filter error.
#[test]
fn count_equals_the_reference_matcher_for_every_conformance_query() {
    let crate::differential::Fixture {
        _directory,
        store,
        events,
    } = crate::differential::fixture();
    let engine = SqlEngine::new(Arc::new(store));
    let mut queries: Vec<String> = crate::differential::corpus()
        .into_iter()
        .map(|(query, _)| query)
        .collect();
    queries.sort();
    queries.dedup();
    let mut compared = 0;
    for text in &queries {
        let parsed = evident_search::parse_filter(text);
        for window in crate::differential::windows() {
            let bound = |nanos: i64| match nanos {
                i64::MIN | i64::MAX => "NULL".to_string(),
                nanos => format!("'{}'", Timestamp::from_nanos(nanos)),
            };
            let sql = format!(
                "SELECT count(*) FROM dd.audit(columns => ARRAY['timestamp'], filter => '{}', from_timestamp => {}, to_timestamp => {}) AS (ts TIMESTAMP)",
                text.replace('\'', "''"),
                bound(window.from),
                bound(window.to),
            );
            let result = query(&engine, &sql);
            match (&parsed, result) {
                (Ok(filter), Ok(batches)) => {
                    let want = crate::differential::expected(&events, filter, window).len();
                    assert_eq!(single_count(&batches), want as i64, "{text} in {window:?}");
                    compared += 1;
                }
                (Err(_), Err(error)) => {
                    assert!(
                        error.to_string().contains("invalid filter"),
                        "{text}: {error}"
                    );
                }
                (Ok(_), Err(error)) => panic!("{text} in {window:?}: {error}"),
                (Err(error), Ok(_)) => panic!("{text} ran, but it does not parse: {error}"),
            }
        }
    }
    assert!(compared > 500, "{compared} query and window pairs compared");
}

/// Rows read from the segment columns (the index decides `*`) equal rows
/// read from the parsed events (a negation the index cannot decide), for
/// every column the columns can serve and every conversion; and where a
/// segment cannot serve a column (`@action` holds arrays), from its events.
#[test]
fn columns_and_parsed_events_give_the_same_rows() {
    let crate::differential::Fixture {
        _directory, store, ..
    } = crate::differential::fixture();
    let engine = SqlEngine::new(Arc::new(store));
    let undecided = evident_search::parse_filter("-@no.such.attribute:1").expect("filter");
    assert!(
        evident_search::terms::exact_terms(&undecided).is_none(),
        "the second filter must go through the events"
    );
    let rows = |columns: &str, types: &str, filter: &str| {
        let sql = format!(
            "SELECT * FROM dd.audit(columns => {columns}, filter => '{filter}') AS {types} ORDER BY id"
        );
        printed(&query(&engine, &sql).expect(filter))
    };
    let served = (
        "ARRAY['id', 'timestamp', 'timestamp', 'timestamp', 'discovery_timestamp', 'tiebreaker', 'tiebreaker', \
         'random_draw', 'ingest_size_in_bytes', 'host', 'service', 'source', 'trace_id', \
         '@usr.email', '@evt.name', '@http.status_code', '@network.client.ip']",
        "(id VARCHAR, ts TIMESTAMP, tstz TIMESTAMPTZ, ms BIGINT, seen TIMESTAMP, tb BIGINT, tb_text VARCHAR, \
         draw DOUBLE, size INTEGER, host VARCHAR, service VARCHAR, source VARCHAR, trace VARCHAR, \
         email VARCHAR, evt VARCHAR, code VARCHAR, ip VARCHAR)",
    );
    let not_served = (
        "ARRAY['id', '@action', '@http.status_code']",
        "(id VARCHAR, action VARCHAR, code DOUBLE)",
    );
    for (columns, types) in [served, not_served] {
        let from_columns = rows(columns, types, "*");
        assert!(from_columns.lines().count() > 300, "{from_columns}");
        assert_eq!(
            from_columns,
            rows(columns, types, "-@no.such.attribute:1"),
            "{columns}"
        );
    }
}

/// `GROUP BY` one text column with `count(*)` is answered from the store's
/// counts (the plan says so), and gives what the same grouping computed
/// over the rows gives (`sum(1)`, which the rule leaves alone), for
/// columns served by dictionaries, by events, with arrays and fallbacks,
/// under decided and undecided filters and cut windows.
#[test]
fn count_by_one_column_equals_grouping_the_rows() {
    let crate::differential::Fixture {
        _directory, store, ..
    } = crate::differential::fixture();
    let engine = SqlEngine::new(Arc::new(store));
    let run =
        |sql: &str| printed(&query(&engine, sql).unwrap_or_else(|error| panic!("{sql}: {error}")));
    let plan = run(
        "EXPLAIN SELECT c, count(*) FROM dd.audit(columns => ARRAY['@usr.email']) AS (c VARCHAR) GROUP BY c",
    );
    assert!(plan.contains("audit_counts"), "{plan}");
    assert!(!plan.contains("Aggregate"), "{plan}");
    let plan = run(
        "EXPLAIN SELECT count(*) FROM dd.audit(columns => ARRAY['timestamp']) AS (ts TIMESTAMP)",
    );
    assert!(plan.contains("audit_counts"), "{plan}");
    let mut compared = 0;
    for column in [
        "@usr.email",
        "@evt.name",
        "@action",
        "service",
        "@http.status_code",
        "@status",
        "message",
    ] {
        for filter in [
            "*",
            "suspicious",
            "-@action:created",
            "@usr.email:user3@example.com",
        ] {
            for bounds in [
                "",
                ", from_timestamp => '2024-05-01T12:01:30Z', to_timestamp => '2024-05-01T12:04:10Z'",
            ] {
                let call = format!(
                    "dd.audit(columns => ARRAY['{column}'], filter => '{filter}'{bounds}) AS (c VARCHAR)"
                );
                let counted = run(&format!(
                    "SELECT c, count(*) AS n, count(1) AS m FROM {call} GROUP BY c ORDER BY c NULLS FIRST"
                ));
                let summed = run(&format!(
                    "SELECT c, sum(1) AS n, sum(1) AS m FROM {call} GROUP BY c ORDER BY c NULLS FIRST"
                ));
                assert_eq!(counted, summed, "{call}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 56);
}

//! Any input either fails to parse with an error, or parses to a tree that
//! prints to a query parsing back to the same tree; matching it against an
//! event never panics.

#![no_main]

use std::sync::OnceLock;

use evident_model::Event;
use libfuzzer_sys::fuzz_target;

fn sample_event() -> &'static Event {
    static EVENT: OnceLock<Event> = OnceLock::new();
    EVENT.get_or_init(|| {
        serde_json::from_str(
            r#"{"timestamp":"2024-05-01T12:00:00Z","message":"GET /api/v1/users by a@b.c: 200 OK","host":"web-1","service":"api","status":"info","source":"audit","tags":["env:prod","bare","source:audit"],"attributes":{"usr":{"email":"a@b.c","id":7},"evt":{"name":"Request"},"http":{"status_code":"200"},"list":[1,"two",{"k":true}],"network":{"client":{"ip":"10.1.2.3"}},"error":{"message":"boom"},"n":null}}"#,
        )
        .expect("sample event is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = evident_search::parse(text) else {
        return;
    };
    let printed = query.to_string();
    let reparsed = match evident_search::parse(&printed) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("{text:?} printed as {printed:?}, which does not parse: {error}"),
    };
    assert_eq!(reparsed, query, "{text:?} printed as {printed:?}");
    let event = sample_event();
    assert_eq!(
        evident_search::matches(&query.filter, event),
        evident_search::matches(&reparsed.filter, event)
    );
    let _ = evident_search::explain(&query);
});

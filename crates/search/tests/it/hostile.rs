//! Hostile queries get an error or a result: never a stack overflow, a
//! panic or a hang. Each runs on a thread with a small stack (half of a
//! tokio worker's 2 MiB; the parser needs about 0.8 MiB at the nesting limit
//! in a debug build, a quarter of that optimised), so unbounded recursion
//! would crash the test.

use evident_model::Event;
use evident_search::{Expr, MAX_DEPTH};

const SMALL_STACK: usize = 1024 * 1024;

fn on_small_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(work)
        .expect("spawn test thread")
        .join()
        .expect("no panic, no stack overflow")
}

fn event() -> Event {
    serde_json::from_str(
        r#"{"message":"user alice deleted dashboard 42","tags":["env:prod"],"attributes":{"usr":{"email":"a@b.c"},"a":"x"}}"#,
    )
    .expect("valid event")
}

fn parse_error(query: String) -> String {
    on_small_stack(move || {
        evident_search::parse(&query)
            .map(|_| ())
            .expect_err("an error")
            .to_string()
    })
}

#[test]
fn one_hundred_thousand_nested_parentheses() {
    let query = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
    let error = parse_error(query);
    assert!(
        error.contains(&format!("deeper than {MAX_DEPTH} levels")),
        "{error}"
    );
    assert!(
        error.starts_with(&format!("at column {}:", MAX_DEPTH + 1)),
        "{error}"
    );
}

#[test]
fn unbalanced_deep_parentheses() {
    let error = parse_error("(".repeat(100_000));
    assert!(error.contains("deeper than"), "{error}");
}

#[test]
fn nesting_at_the_limit_parses_and_matches() {
    let query = format!("{}@a:x{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    let matched = on_small_stack(move || {
        let parsed = evident_search::parse_filter(&query).expect("the limit itself is allowed");
        evident_search::matches(&parsed, &event())
    });
    assert!(matched);
}

#[test]
fn one_hundred_thousand_negations() {
    for prefix in ["NOT ", "-", "- ", "!("] {
        let query = format!("{}a", prefix.repeat(100_000));
        let error = parse_error(query);
        assert!(
            error.contains("deeper than") || error.contains("missing ')'"),
            "{prefix}: {error}"
        );
    }
}

#[test]
fn deep_field_groups() {
    let query = format!("@a:{}x{}", "(".repeat(50_000), ")".repeat(50_000));
    let error = parse_error(query);
    assert!(error.contains("deeper than"), "{error}");
}

#[test]
fn ten_thousand_ors() {
    let query = (0..10_000)
        .map(|i| format!("@a:v{i}"))
        .collect::<Vec<_>>()
        .join(" OR ")
        + " OR @a:x";
    let (operands, matched, printed_matches) = on_small_stack(move || {
        let parsed = evident_search::parse_filter(&query).expect("a flat OR parses");
        let operands = match &parsed {
            Expr::Or(operands) => operands.len(),
            _ => 0,
        };
        let reparsed = evident_search::parse_filter(&parsed.to_string()).expect("prints back");
        (
            operands,
            evident_search::matches(&parsed, &event()),
            reparsed == parsed,
        )
    });
    assert_eq!(operands, 10_001);
    assert!(matched);
    assert!(printed_matches);
}

#[test]
fn a_one_megabyte_query() {
    let words = "alice ".repeat(1 << 20 >> 3);
    let query = format!("{words}dashboard");
    assert!(query.len() >= 1 << 19);
    let matched = on_small_stack(move || {
        let parsed = evident_search::parse_filter(&query).expect("a long AND parses");
        evident_search::matches(&parsed, &event())
    });
    assert!(matched);

    let phrase = format!("\"{}", "x".repeat(1 << 20));
    assert!(parse_error(phrase).contains("unterminated phrase"));
    let term = "y".repeat(1 << 20);
    let parsed = evident_search::parse_filter(&term).expect("one long word");
    assert!(!evident_search::matches(&parsed, &event()));
}

#[test]
fn wildcards_that_would_backtrack_exponentially() {
    let query = format!("@a:{}b", "*a".repeat(200));
    let parsed = evident_search::parse_filter(&query).expect("parses");
    let mut event = event();
    event
        .attributes
        .insert("a".into(), serde_json::Value::String("a".repeat(20_000)));
    assert!(!evident_search::matches(&parsed, &event));
    event.message = Some("a".repeat(20_000));
    let free_text =
        evident_search::parse_filter(&format!("{}b", "*a".repeat(200))).expect("parses");
    assert!(!evident_search::matches(&free_text, &event));
}

#[test]
fn junk_gets_positioned_errors() {
    for (query, expected) in [
        ("\\", "at column 1: trailing '\\' escapes nothing"),
        ("@:x", "at column 1: expected an attribute name after '@'"),
        ("@a..b:x", "at column 1: empty segment in attribute path"),
        (":x", "at column 1: expected a field name before ':'"),
        ("a:", "at column 3: expected a value after ':'"),
        ("a: b", "at column 3: expected a value after ':'"),
        (
            "[1 TO",
            "at column 3: expected ' TO ' between the bounds of the range",
        ),
        (
            "@a:[]",
            "at column 5: expected a range bound (a value or *)",
        ),
        (
            "@a:[1 TO 2",
            "at column 4: unterminated range: expected ']' or '}'",
        ),
        ("@a:>", "at column 5: expected a value after '>'"),
        ("!foo", "at column 1: '!' only negates a group"),
        (
            "a = b",
            "at column 3: unexpected '=': escape it as '\\=' to search for it",
        ),
        ("OR a", "at column 1: 'OR' needs a clause on each side"),
        ("a OR OR b", "at column 6: 'OR' needs a clause on each side"),
        ("a AND ()", "at column 7: empty group '()'"),
        (
            "CIDR(@ip)",
            "at column 1: CIDR(...) needs a field and at least one block",
        ),
        (
            "CIDR(@ip, 10.0.0.0/8",
            "at column 1: unterminated CIDR(...): missing ')'",
        ),
        (
            "#calc:x",
            "at column 1: calculated fields (#name) are not supported",
        ),
        (
            "\"a.b\":x",
            "at column 1: a quoted field name is not supported",
        ),
        (
            "a | stats",
            "at column 10: expected an aggregation such as count or sum(@field)",
        ),
        (
            "a | stats median",
            "at column 11: median needs a field, as in median(@field)",
        ),
        (
            "a | stats pc42(@x)",
            "at column 11: unknown aggregation 'pc42'",
        ),
        (
            "a | stats count by",
            "at column 19: expected a field such as @usr.email or service",
        ),
        ("a | stats count bye", "at column 17: unexpected 'b'"),
        (
            "a | stats count ) ",
            "at column 17: unbalanced ')': there is no '(' to close",
        ),
        ("@a:-x", "at column 4: a value cannot start with '-'"),
        ("||", "at column 1: expected a clause before '||'"),
    ] {
        let error = evident_search::parse(query)
            .map(|_| ())
            .expect_err(query)
            .to_string();
        assert!(
            error.starts_with(expected),
            "{query:?}: got {error:?}, expected {expected:?}"
        );
    }
}

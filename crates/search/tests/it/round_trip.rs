//! Property tests over generated trees and events:
//! `parse(print(ast)) == ast`, and the matcher is total and consistent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use evident_model::{Event, ReservedField};
use evident_search::ast::{
    AggregateFunction, Aggregation, AttrPath, Bound, CidrBlock, CompareOp, GlobPiece, Literal,
    Pattern, Range,
};
use evident_search::{Expr, Field, Query, Stats, Value};
use proptest::prelude::*;
use serde_json::{Map, Value as Json};

/// Text with the characters the printer must escape, plus any printable
/// Unicode.
fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(
            prop_oneof![
                4 => proptest::char::range('a', 'z'),
                1 => proptest::sample::select(vec![
                    ' ', ':', '(', ')', '[', ']', '{', '}', '"', '\\', '*', '?', '-', '+', '!', '=',
                    '<', '>', '~', '^', '|', '&', ',', '.', '@', '#', '/', '\t', '“', 'é', '0', '9',
                ]),
            ],
            min..=max,
        )
        .prop_map(|chars| chars.into_iter().collect()),
        1 => proptest::string::string_regex(&format!("\\PC{{{min},{max}}}")).expect("valid regex"),
        1 => proptest::sample::select(vec!["AND", "OR", "NOT", "TO", "CIDR", "-5", "4.2E-3", "_exists_"])
            .prop_map(str::to_string)
            .prop_filter("length", move |s| s.chars().count() >= min),
    ]
}

fn tag_key() -> impl Strategy<Value = String> {
    text(1, 8).prop_filter("not a reserved name", |key| {
        ReservedField::from_name(key).is_none() && key != "tags"
    })
}

fn attribute_path() -> impl Strategy<Value = AttrPath> {
    proptest::collection::vec(
        text(1, 6).prop_filter("no leading quote", |s| !s.starts_with('"')),
        1..4,
    )
    .prop_map(|segments| AttrPath::new(segments).expect("non-empty segments"))
}

/// Fields a clause can name explicitly.
fn named_field() -> impl Strategy<Value = Field> {
    prop_oneof![
        1 => proptest::sample::select(ReservedField::ALL.to_vec()).prop_map(Field::Reserved),
        1 => Just(Field::Tags),
        1 => tag_key().prop_map(Field::TagKey),
        3 => attribute_path().prop_map(Field::Attribute),
    ]
}

fn any_field() -> impl Strategy<Value = Field> {
    prop_oneof![1 => Just(Field::FreeText), 1 => Just(Field::AnyField), 4 => named_field()]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        text(0, 8).prop_map(Literal::new),
        (-1000i64..1000).prop_map(|n| Literal::new(n.to_string())),
        (-1e6f64..1e6).prop_map(|f| Literal::new(format!("{f:.3}"))),
    ]
}

fn term() -> impl Strategy<Value = Literal> {
    prop_oneof![
        text(1, 8).prop_map(Literal::new),
        (-1000i64..1000).prop_map(|n| Literal::new(n.to_string())),
    ]
}

fn pattern() -> impl Strategy<Value = Pattern> {
    proptest::collection::vec(
        prop_oneof![
            3 => text(1, 4).prop_map(GlobPiece::Literal),
            1 => Just(GlobPiece::AnyRun),
            1 => Just(GlobPiece::AnyChar),
        ],
        1..5,
    )
    .prop_filter_map("a real wildcard", Pattern::new)
}

fn bound() -> impl Strategy<Value = Bound> {
    prop_oneof![
        Just(Bound::Unbounded),
        literal().prop_map(Bound::Inclusive),
        literal().prop_map(Bound::Exclusive),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => term().prop_map(Value::Term),
        1 => text(0, 8).prop_map(Value::Phrase),
        2 => pattern().prop_map(Value::Wildcard),
        1 => (
            proptest::sample::select(vec![
                CompareOp::Greater,
                CompareOp::GreaterOrEqual,
                CompareOp::Less,
                CompareOp::LessOrEqual,
            ]),
            literal()
        )
            .prop_map(|(op, literal)| Value::Compare(op, literal)),
        1 => (bound(), bound()).prop_map(|(lower, upper)| Value::Range(Range { lower, upper })),
    ]
}

fn cidr_block() -> impl Strategy<Value = CidrBlock> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(ip, prefix_len)| CidrBlock {
            address: IpAddr::V4(Ipv4Addr::from(ip)),
            prefix_len
        }),
        (any::<u128>(), 0u8..=128).prop_map(|(ip, prefix_len)| CidrBlock {
            address: IpAddr::V6(Ipv6Addr::from(ip)),
            prefix_len
        }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        1 => Just(Expr::All),
        2 => named_field().prop_map(Expr::Exists),
        8 => (any_field(), value()).prop_map(|(field, value)| Expr::Match { field, value }),
        1 => (named_field(), proptest::collection::vec(cidr_block(), 1..3))
            .prop_map(|(field, blocks)| Expr::Cidr { field, blocks }),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|operand| Expr::Not(Box::new(operand))),
        ]
    })
}

fn stats() -> impl Strategy<Value = Stats> {
    let aggregation = (
        proptest::sample::select(vec![
            AggregateFunction::Count,
            AggregateFunction::CountDistinct,
            AggregateFunction::Sum,
            AggregateFunction::Avg,
            AggregateFunction::Min,
            AggregateFunction::Max,
            AggregateFunction::Median,
            AggregateFunction::Percentile(95),
        ]),
        named_field(),
        proptest::option::of(
            proptest::string::string_regex("[a-z_][a-z0-9_]{0,5}").expect("regex"),
        ),
    )
        .prop_map(|(function, field, alias)| Aggregation {
            function,
            field: (function != AggregateFunction::Count).then_some(field),
            alias,
        });
    (
        proptest::collection::vec(aggregation, 1..3),
        proptest::collection::vec(named_field(), 0..3),
    )
        .prop_map(|(aggregations, group_by)| Stats {
            aggregations,
            group_by,
        })
}

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        (-1e9f64..1e9).prop_map(Json::from),
        text(0, 10).prop_map(Json::String),
        proptest::sample::select(vec!["10.1.2.3", "2001:db8::1", "200", "a", "hello world"])
            .prop_map(Json::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            proptest::collection::vec((text(1, 4), inner), 0..4)
                .prop_map(|entries| Json::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn event() -> impl Strategy<Value = Event> {
    let attributes = proptest::collection::vec((text(1, 4), json()), 0..5)
        .prop_map(|entries| entries.into_iter().collect::<Map<_, _>>());
    (
        proptest::option::of(text(0, 30)),
        proptest::option::of(text(0, 6)),
        proptest::option::of(text(0, 6)),
        proptest::option::of(-1_000_000_000_000i64..4_000_000_000_000),
        proptest::collection::vec(text(0, 8), 0..4),
        attributes,
    )
        .prop_map(
            |(message, service, status, millis, tags, attributes)| Event {
                timestamp: millis.and_then(evident_model::Timestamp::from_millis),
                message,
                service,
                status,
                tags,
                attributes,
                ..Event::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn printed_trees_parse_back_to_themselves(filter in expr(), stats in proptest::option::of(stats())) {
        let query = Query { filter, stats };
        let printed = query.to_string();
        let reparsed = evident_search::parse(&printed)
            .map_err(|error| TestCaseError::fail(format!("{printed:?} does not parse: {error}")))?;
        prop_assert_eq!(reparsed, query, "printed as {:?}", printed);
    }

    #[test]
    fn the_matcher_is_total_and_consistent(filter in expr(), event in event()) {
        let verdict = evident_search::matches(&filter, &event);
        let negated = Expr::Not(Box::new(filter.clone()));
        prop_assert_eq!(evident_search::matches(&negated, &event), !verdict);
        let reparsed = evident_search::parse_filter(&filter.to_string()).expect("printed trees parse");
        prop_assert_eq!(evident_search::matches(&reparsed, &event), verdict);
    }

    /// The index contract: a matching event holds every required term.
    #[test]
    fn required_terms_never_exclude_a_match(filter in expr(), event in event()) {
        if evident_search::matches(&filter, &event) {
            let have = evident_search::terms::event_terms(&event);
            let need = evident_search::terms::required_terms(&filter);
            prop_assert!(need.is_subset(&have), "missing {:?}", need.difference(&have).collect::<Vec<_>>());
        }
    }

    /// Queries decided by their terms: the terms say yes exactly when the
    /// matcher does.
    #[test]
    fn exact_terms_decide_like_the_matcher(filter in expr(), event in event()) {
        if let Some(terms) = evident_search::terms::exact_terms(&filter) {
            let have = evident_search::terms::event_terms(&event);
            prop_assert_eq!(evident_search::matches(&filter, &event), terms.is_subset(&have), "{}", filter);
        }
    }

    /// With alternatives: a matching event holds every term of one of them.
    #[test]
    fn required_alternatives_never_exclude_a_match(filter in expr(), event in event()) {
        if evident_search::matches(&filter, &event) {
            let have = evident_search::terms::event_terms(&event);
            let sets = evident_search::terms::required_alternatives(&filter);
            prop_assert!(sets.iter().any(|set| set.is_subset(&have)), "{} holds none of {:?}", filter, sets);
        }
    }

    /// Alternatives that decide: one held exactly when the matcher says yes.
    #[test]
    fn exact_alternatives_decide_like_the_matcher(filter in expr(), event in event()) {
        if let Some(sets) = evident_search::terms::exact_alternatives(&filter) {
            let have = evident_search::terms::event_terms(&event);
            prop_assert_eq!(evident_search::matches(&filter, &event), sets.iter().any(|set| set.is_subset(&have)), "{}", filter);
        }
    }

    /// Queries built from an event's own values match it, so the contract
    /// is exercised on matches, not only on misses.
    #[test]
    fn required_terms_of_queries_taken_from_the_event(event in event(), pick in any::<usize>()) {
        let mut queries: Vec<Expr> = Vec::new();
        fn leaves(prefix: &mut Vec<String>, value: &Json, out: &mut Vec<(Vec<String>, Json)>) {
            match value {
                Json::Object(object) => for (key, child) in object {
                    prefix.push(key.clone());
                    leaves(prefix, child, out);
                    prefix.pop();
                },
                Json::Array(items) => items.iter().for_each(|item| leaves(prefix, item, out)),
                scalar => out.push((prefix.clone(), scalar.clone())),
            }
        }
        let mut found = Vec::new();
        for (key, value) in &event.attributes {
            leaves(&mut vec![key.clone()], value, &mut found);
        }
        for (path, value) in found {
            let Some(path) = AttrPath::new(path) else { continue };
            let text = match value { Json::String(text) => text, Json::Bool(flag) => flag.to_string(), Json::Number(n) => n.to_string(), _ => continue };
            if text.is_empty() { continue }
            queries.push(Expr::Match { field: Field::Attribute(path.clone()), value: Value::Term(Literal::new(text.clone())) });
            queries.push(Expr::Match { field: Field::Attribute(path), value: Value::Phrase(text) });
        }
        for tag in &event.tags {
            queries.push(Expr::Match { field: Field::Tags, value: Value::Phrase(tag.clone()) });
            if let Some((key, value)) = tag.split_once(':') && !key.is_empty() {
                queries.push(Expr::Match { field: Field::TagKey(key.to_string()), value: Value::Phrase(value.to_string()) });
            }
        }
        if let Some(message) = &event.message {
            let words: Vec<&str> = message.split_whitespace().collect();
            if !words.is_empty() {
                let word = words[pick % words.len()];
                queries.push(Expr::Match { field: Field::FreeText, value: Value::Term(Literal::new(word)) });
                queries.push(Expr::Match { field: Field::FreeText, value: Value::Phrase(message.clone()) });
            }
        }
        let have = evident_search::terms::event_terms(&event);
        for query in queries {
            if let Some(terms) = evident_search::terms::exact_terms(&query) {
                prop_assert_eq!(evident_search::matches(&query, &event), terms.is_subset(&have), "exact terms of {}", query);
            }
            if evident_search::matches(&query, &event) {
                let need = evident_search::terms::required_terms(&query);
                prop_assert!(need.is_subset(&have), "{} lacks {:?}", query, need.difference(&have).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(query in "\\PC{0,40}") {
        if let Ok(parsed) = evident_search::parse(&query) {
            let reparsed = evident_search::parse(&parsed.to_string());
            prop_assert_eq!(reparsed.ok(), Some(parsed));
        }
    }
}

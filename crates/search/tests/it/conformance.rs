//! The public conformance corpus: every case must give the expected answer.

use evident_model::Event;
use serde::Deserialize;

use crate::support::shared_dir;

#[derive(Deserialize)]
struct Case {
    id: String,
    query: String,
    event: Event,
    #[serde(rename = "match")]
    expected: bool,
    confidence: String,
}

fn load_cases() -> Vec<Case> {
    let path = shared_dir().join("spec/search-conformance.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("corpus line {}: {error}", index + 1))
        })
        .collect()
}

#[test]
fn every_corpus_case_gives_the_expected_answer() {
    let cases = load_cases();
    assert_eq!(cases.len(), 250, "the corpus has 250 cases");
    let mut failures = Vec::new();
    for case in &cases {
        let verdict = match evident_search::parse(&case.query) {
            Ok(query) => {
                assert!(
                    query.stats.is_none(),
                    "{}: corpus queries have no pipe",
                    case.id
                );
                Ok(evident_search::matches(&query.filter, &case.event))
            }
            Err(error) => Err(error.to_string()),
        };
        if verdict != Ok(case.expected) {
            failures.push(format!(
                "{} [{}] {:?} expected {} got {:?}",
                case.id, case.confidence, case.query, case.expected, verdict
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_query_survives_a_print_round_trip() {
    for case in load_cases() {
        let parsed = evident_search::parse(&case.query).expect("corpus queries parse");
        let printed = parsed.to_string();
        let reparsed = evident_search::parse(&printed)
            .unwrap_or_else(|error| panic!("{}: {printed:?} does not parse: {error}", case.id));
        assert_eq!(
            reparsed, parsed,
            "{}: {:?} printed as {printed:?}",
            case.id, case.query
        );
        assert_eq!(
            evident_search::matches(&reparsed.filter, &case.event),
            case.expected,
            "{}: the printed query {printed:?} changes the answer",
            case.id
        );
    }
}

#[test]
fn exact_terms_decide_every_corpus_case_they_claim() {
    let mut decided = 0;
    for case in load_cases() {
        let filter = evident_search::parse_filter(&case.query).expect("corpus queries parse");
        if let Some(terms) = evident_search::terms::exact_terms(&filter) {
            decided += 1;
            let have = evident_search::terms::event_terms(&case.event);
            assert_eq!(
                evident_search::matches(&filter, &case.event),
                terms.is_subset(&have),
                "{}: {:?} with terms {terms:?}",
                case.id,
                case.query
            );
        }
    }
    println!("{decided} corpus cases decided by their terms");
    assert!(decided >= 40, "only {decided} cases exercise exact terms");
}

#[test]
fn alternatives_narrow_and_decide_every_corpus_case() {
    let mut decided = 0;
    for case in load_cases() {
        let filter = evident_search::parse_filter(&case.query).expect("corpus queries parse");
        let have = evident_search::terms::event_terms(&case.event);
        let held = |sets: &[std::collections::BTreeSet<String>]| {
            sets.iter().any(|set| set.is_subset(&have))
        };
        let matched = evident_search::matches(&filter, &case.event);
        if matched {
            let sets = evident_search::terms::required_alternatives(&filter);
            assert!(
                held(&sets),
                "{}: {:?} holds none of {sets:?}",
                case.id,
                case.query
            );
        }
        if let Some(sets) = evident_search::terms::exact_alternatives(&filter) {
            decided += 1;
            assert_eq!(
                matched,
                held(&sets),
                "{}: {:?} with {sets:?}",
                case.id,
                case.query
            );
        }
    }
    assert!(
        decided >= 40,
        "only {decided} cases exercise exact alternatives"
    );
}

#[test]
fn required_terms_hold_for_every_matching_corpus_case() {
    for case in load_cases() {
        let filter = evident_search::parse_filter(&case.query).expect("corpus queries parse");
        if evident_search::matches(&filter, &case.event) {
            let have = evident_search::terms::event_terms(&case.event);
            let need = evident_search::terms::required_terms(&filter);
            assert!(
                need.is_subset(&have),
                "{}: {:?} lacks {:?}",
                case.id,
                case.query,
                need.difference(&have).collect::<Vec<_>>()
            );
        }
    }
}

//! The percolator only narrows, and confirms only what matches: over every
//! query and event of the search conformance corpus, a monitor whose
//! filter matches an event is always among the event's candidates, and a
//! candidate it confirms without the matcher does match.

use std::path::PathBuf;

use evident_model::Event;
use evident_monitor::percolate::Percolator;
use serde::Deserialize;
use twox_hash::XxHash3_64;

#[derive(Deserialize)]
struct Case {
    query: String,
    event: Event,
}

fn shared_dir() -> PathBuf {
    std::env::var_os("EVIDENT_SHARED_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    )
}

#[test]
fn every_matching_monitor_is_a_candidate_across_the_conformance_corpus() {
    let path = shared_dir().join("spec/search-conformance.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let cases: Vec<Case> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("a corpus line"))
        .collect();
    let filters: Vec<_> = cases
        .iter()
        .filter_map(|case| evident_search::parse_filter(&case.query).ok())
        .collect();
    assert!(filters.len() > 200);
    let hash = |term: &str| XxHash3_64::oneshot(term.as_bytes());
    let percolator = Percolator::new(&filters, hash);
    let (mut found, mut marks) = (Vec::new(), Vec::new());
    let (mut matched, mut asked, mut confirmed) = (0, 0, 0);
    for case in &cases {
        let mut terms = Vec::new();
        evident_search::terms::visit_event_terms(&case.event, &mut |term| terms.push(hash(term)));
        terms.sort_unstable();
        terms.dedup();
        percolator.candidates(&terms, &mut found, &mut marks);
        asked += found.len();
        for (index, filter) in filters.iter().enumerate() {
            let matches = evident_search::matches(filter, &case.event);
            let candidate = found.iter().find(|candidate| candidate.index == index);
            if matches {
                matched += 1;
                assert!(
                    candidate.is_some(),
                    "{:?} matches the event of {:?} but is not a candidate",
                    filters[index].to_string(),
                    case.query
                );
            }
            if candidate.is_some_and(|candidate| candidate.confirmed) {
                confirmed += 1;
                assert!(
                    matches,
                    "{:?} is confirmed for the event of {:?} but does not match it",
                    filters[index].to_string(),
                    case.query
                );
            }
        }
    }
    // Exact filters (terms ANDed and ORed) are decided without the matcher.
    assert!(confirmed > 0);
    // And it narrows, though many corpus queries (negations, wildcards,
    // ranges) require no term and are asked always.
    assert!(matched > 0);
    assert!(
        asked < cases.len() * filters.len() * 3 / 4,
        "{asked} candidates"
    );
}

//! The percolator only narrows: over every query and event of the search
//! conformance corpus, a monitor whose filter matches an event is always
//! among the event's candidates.

use std::path::PathBuf;

use evident_model::Event;
use evident_monitor::percolate::Percolator;
use serde::Deserialize;

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
    let percolator = Percolator::new(&filters);
    let mut seen = Vec::new();
    let (mut matched, mut asked) = (0, 0);
    for case in &cases {
        let candidates = percolator.candidates(&case.event, &mut seen);
        asked += candidates.len();
        for (index, filter) in filters.iter().enumerate() {
            if evident_search::matches(filter, &case.event) {
                matched += 1;
                assert!(
                    candidates.binary_search(&index).is_ok(),
                    "{:?} matches the event of {:?} but is not a candidate",
                    filters[index].to_string(),
                    case.query
                );
            }
        }
    }
    // And it narrows, though many corpus queries (negations, wildcards,
    // ranges) require no term and are asked always.
    assert!(matched > 0);
    assert!(
        asked < cases.len() * filters.len() * 3 / 4,
        "{asked} candidates"
    );
}

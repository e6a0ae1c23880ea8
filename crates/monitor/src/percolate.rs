//! Which monitors an event may match, without asking every one: each
//! monitor is filed under one term of each of its required alternatives
//! (`evident_search::terms`), and an event's terms pick the monitors filed
//! under them; monitors that require no term are asked always. The
//! matcher then confirms each candidate, so this only narrows (the terms'
//! contract: a matching event holds every term of one alternative).

use std::collections::HashMap;

use evident_model::Event;
use evident_search::Expr;

/// Monitors filed by term, for one set of monitors.
#[derive(Debug, Default)]
pub struct Percolator {
    by_term: HashMap<String, Vec<usize>>,
    always: Vec<usize>,
    count: usize,
}

/// A term's selectivity guess: a whole attribute value narrows best, a
/// word of free text least.
fn rank(term: &str) -> u8 {
    match term.as_bytes().first() {
        Some(b'a') => 0,
        Some(b't') => 1,
        Some(b'r') => 2,
        Some(b'm') => 3,
        _ => 4,
    }
}

impl Percolator {
    /// Files `filters`, each known by its index in the slice.
    pub fn new<'a>(filters: impl IntoIterator<Item = &'a Expr>) -> Percolator {
        let mut percolator = Percolator::default();
        for (index, filter) in filters.into_iter().enumerate() {
            percolator.count += 1;
            let alternatives = evident_search::terms::required_alternatives(filter);
            if alternatives.is_empty() || alternatives.iter().any(|terms| terms.is_empty()) {
                percolator.always.push(index);
                continue;
            }
            for terms in alternatives {
                // The longest of the best-ranked terms: the likeliest rare.
                let anchor = terms
                    .iter()
                    .min_by_key(|term| (rank(term), std::cmp::Reverse(term.len())))
                    .cloned();
                if let Some(anchor) = anchor {
                    let filed = percolator.by_term.entry(anchor).or_default();
                    if filed.last() != Some(&index) {
                        filed.push(index);
                    }
                }
            }
        }
        percolator
    }

    /// The indexes of the monitors `event` may match, each once, in order.
    pub fn candidates(&self, event: &Event, seen: &mut Vec<bool>) -> Vec<usize> {
        seen.clear();
        seen.resize(self.count, false);
        let mut found: Vec<usize> = self.always.clone();
        for index in &self.always {
            seen[*index] = true;
        }
        if !self.by_term.is_empty() {
            evident_search::terms::visit_event_terms(event, &mut |term| {
                if let Some(filed) = self.by_term.get(term) {
                    for index in filed {
                        if !seen[*index] {
                            seen[*index] = true;
                            found.push(*index);
                        }
                    }
                }
            });
        }
        found.sort_unstable();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_monitors_whose_terms_an_event_holds_are_candidates()
    -> Result<(), Box<dyn std::error::Error>> {
        let filters = [
            "@aegis.decision:BLOCKED",
            "@aegis.destination:VENDOR @aegis.decision:BLOCKED",
            "-@aegis.decision:ALLOWED",
            "@evt.name:login OR @evt.name:logout",
            "*",
            "service:web",
        ]
        .map(|text| evident_search::parse_filter(text).expect(text));
        let percolator = Percolator::new(&filters);
        let event: Event = serde_json::from_str(
            r#"{"service": "api", "attributes": {"aegis": {"decision": "BLOCKED", "destination": "INTERNAL"}, "evt": {"name": "logout"}}}"#,
        )?;
        let mut seen = Vec::new();
        let candidates = percolator.candidates(&event, &mut seen);
        // 1 is filed under VENDOR, which the event lacks; 5 under service:web.
        assert_eq!(candidates, vec![0, 2, 3, 4]);
        let matching: Vec<usize> = candidates
            .into_iter()
            .filter(|index| evident_search::matches(&filters[*index], &event))
            .collect();
        assert_eq!(matching, vec![0, 2, 3, 4]);
        Ok(())
    }
}

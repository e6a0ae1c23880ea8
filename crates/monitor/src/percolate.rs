//! Which monitors an event may match, without asking every one, from the
//! event's term hashes alone (the ones the intake derived for the tail's
//! index, so that most events are not parsed again).
//!
//! Each monitor is filed under one term of each of its alternatives
//! (`evident_search::terms`): the anchor, with the alternative's other
//! terms beside it. An event's terms pick the anchors; an alternative
//! whose other terms the event also holds makes the monitor a candidate.
//! Monitors whose alternatives decide the filter (`exact_alternatives`)
//! come out confirmed: holding every term of one is matching. The others
//! (negations, wildcards, free text) are filed by their required terms
//! and confirmed by the matcher, so for them this only narrows (the
//! terms' contract: a matching event holds every term of one
//! alternative); monitors that require no term are candidates always.

use std::collections::BTreeSet;

use evident_model::prehashed::Prehashed;

use evident_search::Expr;

/// Filed by term hash (XXH3 already: used as it is).
type ByTerm<V> = Prehashed<u64, V>;

/// Alternatives filed under one anchor that share their other terms.
#[derive(Debug)]
struct Filed {
    /// The alternative's terms besides the anchor, sorted.
    rest: Box<[u64]>,
    /// The monitors (indexes) with this alternative, each once.
    monitors: Vec<usize>,
    /// Whether holding the terms decides the match.
    exact: bool,
}

/// A monitor an event may match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub index: usize,
    /// The event holds every term of an alternative that decides the
    /// monitor's filter: it matches without asking the matcher.
    pub confirmed: bool,
}

/// Monitors filed by term, for one set of monitors.
#[derive(Debug, Default)]
pub struct Percolator {
    by_anchor: ByTerm<Vec<Filed>>,
    /// Monitors with an alternative of no terms, and whether that decides.
    always: Vec<Candidate>,
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
    /// Files `filters`, each known by its index in the slice; `hash` is
    /// the hash the event term hashes given to [`Percolator::candidates`]
    /// were made with.
    pub fn new<'a>(
        filters: impl IntoIterator<Item = &'a Expr>,
        hash: impl Fn(&str) -> u64,
    ) -> Percolator {
        let mut percolator = Percolator::default();
        for (index, filter) in filters.into_iter().enumerate() {
            percolator.count += 1;
            let (alternatives, exact) = match evident_search::terms::exact_alternatives(filter) {
                Some(sets) => (sets, true),
                None => (evident_search::terms::required_alternatives(filter), false),
            };
            if alternatives.is_empty() || alternatives.iter().any(BTreeSet::is_empty) {
                percolator.always.push(Candidate {
                    index,
                    confirmed: exact && !alternatives.is_empty(),
                });
                continue;
            }
            for terms in alternatives {
                percolator.file(index, &terms, exact, &hash);
            }
        }
        percolator
    }

    fn file(
        &mut self,
        index: usize,
        terms: &BTreeSet<String>,
        exact: bool,
        hash: impl Fn(&str) -> u64,
    ) {
        // The longest of the best-ranked terms: the likeliest rare.
        let Some(anchor) = terms
            .iter()
            .min_by_key(|term| (rank(term), std::cmp::Reverse(term.len())))
        else {
            return;
        };
        let mut rest: Vec<u64> = terms
            .iter()
            .filter(|term| *term != anchor)
            .map(|term| hash(term))
            .collect();
        rest.sort_unstable();
        rest.dedup();
        let filed = self.by_anchor.entry(hash(anchor)).or_default();
        match filed
            .iter_mut()
            .find(|filed| *filed.rest == *rest && filed.exact == exact)
        {
            Some(filed) => {
                if filed.monitors.last() != Some(&index) {
                    filed.monitors.push(index);
                }
            }
            None => filed.push(Filed {
                rest: rest.into_boxed_slice(),
                monitors: vec![index],
                exact,
            }),
        }
    }

    /// Whether no monitor is filed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The monitors an event holding `terms` (its term hashes, sorted and
    /// distinct) may match, each once, in index order, into `found`.
    /// `marks` is scratch space kept between calls.
    pub fn candidates(&self, terms: &[u64], found: &mut Vec<Candidate>, marks: &mut Vec<u8>) {
        const CANDIDATE: u8 = 1;
        const CONFIRMED: u8 = 2;
        found.clear();
        // Left all zero by the call before: only what it touched is reset.
        marks.resize(self.count, 0);
        let mut touched: Vec<usize> = Vec::new();
        let mut mark = |index: usize, confirmed: bool| {
            if marks[index] == 0 {
                touched.push(index);
            }
            let value = if confirmed { CONFIRMED } else { CANDIDATE };
            marks[index] = marks[index].max(value);
        };
        for candidate in &self.always {
            mark(candidate.index, candidate.confirmed);
        }
        if !self.by_anchor.is_empty() {
            for term in terms {
                let Some(filed) = self.by_anchor.get(term) else {
                    continue;
                };
                for filed in filed {
                    if filed
                        .rest
                        .iter()
                        .all(|other| terms.binary_search(other).is_ok())
                    {
                        for index in &filed.monitors {
                            mark(*index, filed.exact);
                        }
                    }
                }
            }
        }
        touched.sort_unstable();
        for index in touched {
            found.push(Candidate {
                index,
                confirmed: marks[index] == CONFIRMED,
            });
            marks[index] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_model::Event;

    fn hash(term: &str) -> u64 {
        twox_hash::XxHash3_64::oneshot(term.as_bytes())
    }

    fn terms(event: &Event) -> Vec<u64> {
        let mut hashes = Vec::new();
        evident_search::terms::visit_event_terms(event, &mut |term| hashes.push(hash(term)));
        hashes.sort_unstable();
        hashes.dedup();
        hashes
    }

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
            "@aegis.decision:BLOCKED @aegis.actor_id:*",
        ]
        .map(|text| evident_search::parse_filter(text).expect(text));
        let percolator = Percolator::new(&filters, hash);
        let event: Event = serde_json::from_str(
            r#"{"service": "api", "attributes": {"aegis": {"decision": "BLOCKED", "destination": "INTERNAL"}, "evt": {"name": "logout"}}}"#,
        )?;
        let (mut found, mut seen) = (Vec::new(), Vec::new());
        percolator.candidates(&terms(&event), &mut found, &mut seen);
        // 1 lacks VENDOR, 5 service:web; 2 (a negation) and 6 (an
        // existence) need the matcher.
        let candidate = |index, confirmed| Candidate { index, confirmed };
        assert_eq!(
            found,
            vec![
                candidate(0, true),
                candidate(2, false),
                candidate(3, true),
                candidate(4, true),
                candidate(6, false),
            ]
        );
        let matching: Vec<usize> = found
            .iter()
            .map(|candidate| candidate.index)
            .filter(|index| evident_search::matches(&filters[*index], &event))
            .collect();
        assert_eq!(matching, vec![0, 2, 3, 4]);
        Ok(())
    }
}

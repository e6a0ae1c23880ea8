//! Postings of index terms (`evident_search::terms`) for a sealed run of
//! events: a needle or a rare word becomes a short list of positions
//! instead of a scan. Built in memory when a segment is sealed or loaded;
//! lookups only narrow the candidates, the matcher still decides.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use evident_model::StoredEvent;

/// A term's 64-bit hash; a collision only adds candidates.
pub fn term_hash(term: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    term.hash(&mut hasher);
    hasher.finish()
}

#[derive(Debug)]
pub struct TermIndex {
    pub first_sequence: u64,
    pub end_sequence: u64,
    /// Offsets from `first_sequence`, ascending, per term hash.
    postings: HashMap<u64, Vec<u32>>,
}

impl TermIndex {
    pub fn build(first_sequence: u64, events: &[Arc<StoredEvent>]) -> TermIndex {
        let mut postings: HashMap<u64, Vec<u32>> = HashMap::new();
        for (offset, stored) in events.iter().enumerate() {
            for term in evident_search::terms::event_terms(&stored.event) {
                let list = postings.entry(term_hash(&term)).or_default();
                // Offsets arrive in order; a term repeats within one event only once.
                list.push(offset as u32);
            }
        }
        postings.shrink_to_fit();
        TermIndex {
            first_sequence,
            end_sequence: first_sequence + events.len() as u64,
            postings,
        }
    }

    /// Sequence numbers of the events holding every one of `required`
    /// (term hashes), ascending.
    pub fn candidates(&self, required: &[u64]) -> Vec<u64> {
        let mut lists: Vec<&Vec<u32>> = Vec::with_capacity(required.len());
        for hash in required {
            match self.postings.get(hash) {
                Some(list) => lists.push(list),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|list| list.len());
        let Some((shortest, rest)) = lists.split_first() else {
            return Vec::new();
        };
        shortest
            .iter()
            .filter(|offset| rest.iter().all(|list| list.binary_search(offset).is_ok()))
            .map(|&offset| self.first_sequence + u64::from(offset))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_model::Timestamp;

    fn stored(email: &str, message: &str) -> Arc<StoredEvent> {
        Arc::new(StoredEvent {
            id: format!("{email}-{message}"),
            discovery_timestamp: Timestamp::from_nanos(0),
            tiebreaker: 0,
            random_draw: 0.0,
            ingest_size_in_bytes: 0,
            truncated: false,
            event: serde_json::from_value(
                serde_json::json!({"message": message, "attributes": {"usr": {"email": email}}}),
            )
            .expect("event"),
        })
    }

    #[test]
    fn intersects_postings() {
        let events = vec![
            stored("a@x", "hello world"),
            stored("b@x", "hello there"),
            stored("a@x", "bye world"),
        ];
        let index = TermIndex::build(100, &events);
        let terms = |query: &str| -> Vec<u64> {
            evident_search::terms::required_terms(
                &evident_search::parse_filter(query).expect("valid"),
            )
            .iter()
            .map(|term| term_hash(term))
            .collect()
        };
        assert_eq!(index.candidates(&terms("@usr.email:a@x")), [100, 102]);
        assert_eq!(index.candidates(&terms("@usr.email:a@x world")), [100, 102]);
        assert_eq!(index.candidates(&terms("hello @usr.email:b@x")), [101]);
        assert!(index.candidates(&terms("nowhere")).is_empty());
    }
}

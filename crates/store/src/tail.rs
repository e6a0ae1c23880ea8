//! The unsealed tail: events durable in the log and not yet in a segment.
//!
//! Each is kept as its exact bytes plus what a query needs before parsing
//! it: its sort key and its term hashes. Parsed events cost about ten
//! times their bytes in small allocations; a tail of half a million of
//! them would crowd out everything else, so events are parsed only when a
//! query confirms a candidate or the seal encodes them.
//!
//! The tail grows in chunks: every `chunk_rows` events freeze into a
//! [`Chunk`] with postings of its own, shared by every snapshot taken
//! after; only the open chunk is copied into a snapshot, and it is small.

use std::sync::Arc;

use evident_model::StoredEvent;

use crate::term_index::{Prehashed, event_term_hashes, intersect};

/// Largest frozen chunk: the open chunk a snapshot copies stays below it.
const MAX_CHUNK_ROWS: usize = 4096;

/// What the tail keeps of an event besides its bytes, derived at intake
/// from the parsed event (so that the commit thread parses nothing).
#[derive(Debug, Clone)]
pub struct TailFacts {
    /// Event time (ns), the discovery time when the event has none.
    pub time: i64,
    pub tiebreaker: i64,
    /// Hash of the id: the tail's id lookup without a string per event.
    pub id_key: u128,
    /// Term hashes, sorted, each once.
    pub terms: Box<[u64]>,
}

impl TailFacts {
    pub fn of(stored: &StoredEvent) -> TailFacts {
        let mut terms = Vec::new();
        event_term_hashes(&stored.event, &mut terms);
        TailFacts {
            time: stored.time_nanos(),
            tiebreaker: stored.tiebreaker,
            id_key: id_key(&stored.id),
            terms: terms.into_boxed_slice(),
        }
    }
}

/// The key the tail finds an id by.
pub fn id_key(id: &str) -> u128 {
    twox_hash::XxHash3_128::oneshot(id.as_bytes())
}

/// One unsealed event.
#[derive(Debug)]
pub struct TailEvent {
    /// The exact bytes the ledger hashed.
    pub payload: Arc<[u8]>,
    pub facts: TailFacts,
}

impl TailEvent {
    pub fn parse(&self) -> Result<StoredEvent, serde_json::Error> {
        StoredEvent::from_bytes(&self.payload)
    }

    fn holds(&self, hashes: &[u64]) -> bool {
        hashes
            .iter()
            .all(|hash| self.facts.terms.binary_search(hash).is_ok())
    }
}

/// `chunk_rows` consecutive events with their postings.
#[derive(Debug)]
struct Chunk {
    events: Vec<Arc<TailEvent>>,
    postings: Prehashed<u64, Vec<u32>>,
}

impl Chunk {
    fn freeze(events: Vec<Arc<TailEvent>>) -> Chunk {
        let mut postings: Prehashed<u64, Vec<u32>> = Prehashed::default();
        for (offset, event) in events.iter().enumerate() {
            for hash in &event.facts.terms {
                postings.entry(*hash).or_default().push(offset as u32);
            }
        }
        Chunk { events, postings }
    }

    fn candidates(&self, hashes: &[u64]) -> Vec<u32> {
        let mut lists = Vec::with_capacity(hashes.len());
        for hash in hashes {
            match self.postings.get(hash) {
                Some(list) => lists.push(list.as_slice()),
                None => return Vec::new(),
            }
        }
        intersect(lists)
    }
}

/// The unsealed events in log order; cheap to clone into a snapshot.
#[derive(Debug, Clone, Default)]
pub struct Tail {
    /// Sequence number of the first event.
    start: u64,
    chunk_rows: usize,
    chunks: Vec<Arc<Chunk>>,
    open: Vec<Arc<TailEvent>>,
}

impl Tail {
    /// An empty tail starting at `start`, sealed `seal_rows` at a time:
    /// chunks divide a segment evenly, so a seal takes whole chunks.
    pub fn new(start: u64, seal_rows: usize) -> Tail {
        let chunk_rows = (1..=MAX_CHUNK_ROWS.min(seal_rows.max(1)))
            .rev()
            .find(|rows| seal_rows.is_multiple_of(*rows))
            .unwrap_or(1);
        Tail {
            start,
            chunk_rows,
            chunks: Vec::new(),
            open: Vec::new(),
        }
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn len(&self) -> usize {
        self.chunks.len() * self.chunk_rows + self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One past the last sequence number.
    pub fn end(&self) -> u64 {
        self.start + self.len() as u64
    }

    pub fn push(&mut self, event: Arc<TailEvent>) {
        self.open.push(event);
        if self.open.len() == self.chunk_rows {
            let events = std::mem::take(&mut self.open);
            self.chunks.push(Arc::new(Chunk::freeze(events)));
        }
    }

    pub fn get(&self, sequence: u64) -> Option<&Arc<TailEvent>> {
        let offset = usize::try_from(sequence.checked_sub(self.start)?).ok()?;
        let (chunk, row) = (offset / self.chunk_rows, offset % self.chunk_rows);
        match self.chunks.get(chunk) {
            Some(chunk) => chunk.events.get(row),
            None if chunk == self.chunks.len() => self.open.get(row),
            None => None,
        }
    }

    /// Every event with its sequence number, in log order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Arc<TailEvent>)> {
        self.chunks
            .iter()
            .flat_map(|chunk| chunk.events.iter())
            .chain(self.open.iter())
            .zip(self.start..)
            .map(|(event, sequence)| (sequence, event))
    }

    /// The events holding every term of `hashes` (all of them when it is
    /// empty), with their sequence numbers, in log order.
    pub fn candidates(&self, hashes: &[u64]) -> Vec<(u64, &Arc<TailEvent>)> {
        if hashes.is_empty() {
            return self.iter().collect();
        }
        let mut found = Vec::new();
        let mut first = self.start;
        for chunk in &self.chunks {
            for row in chunk.candidates(hashes) {
                if let Some(event) = chunk.events.get(row as usize) {
                    found.push((first + u64::from(row), event));
                }
            }
            first += self.chunk_rows as u64;
        }
        for (event, sequence) in self.open.iter().zip(first..) {
            if event.holds(hashes) {
                found.push((sequence, event));
            }
        }
        found
    }

    /// The first `count` events, handed over to a segment; `count` is a
    /// multiple of the seal size the tail was made for.
    pub fn drop_front(&mut self, count: usize) -> Vec<Arc<TailEvent>> {
        debug_assert!(
            count.is_multiple_of(self.chunk_rows),
            "seals take whole chunks"
        );
        let chunks = (count / self.chunk_rows).min(self.chunks.len());
        self.start += (chunks * self.chunk_rows) as u64;
        self.chunks
            .drain(..chunks)
            .flat_map(|chunk| chunk.events.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(terms: &[u64]) -> Arc<TailEvent> {
        Arc::new(TailEvent {
            payload: Arc::from(&b"{}"[..]),
            facts: TailFacts {
                time: 0,
                tiebreaker: 0,
                id_key: 0,
                terms: terms.into(),
            },
        })
    }

    #[test]
    fn chunks_divide_the_seal_size() {
        assert_eq!(Tail::new(0, 100_000).chunk_rows, 4000);
        assert_eq!(Tail::new(0, 64).chunk_rows, 64);
        assert_eq!(Tail::new(0, 7).chunk_rows, 7);
        // A prime seal size leaves chunks of one event: correct, if slow.
        assert_eq!(Tail::new(0, 8191).chunk_rows, 1);
    }

    #[test]
    fn candidates_come_from_frozen_and_open_chunks_in_log_order() {
        let mut tail = Tail::new(10, 4);
        for index in 0..11u64 {
            tail.push(event(&[index % 3, 100]));
        }
        assert_eq!(tail.len(), 11);
        assert_eq!(tail.end(), 21);
        let found: Vec<u64> = tail.candidates(&[1, 100]).iter().map(|(s, _)| *s).collect();
        assert_eq!(found, vec![11, 14, 17, 20]);
        assert!(tail.candidates(&[7]).is_empty());
        assert_eq!(tail.candidates(&[]).len(), 11);
        assert!(tail.get(20).is_some() && tail.get(21).is_none() && tail.get(9).is_none());

        let sealed = tail.drop_front(8);
        assert_eq!(sealed.len(), 8);
        assert_eq!(tail.start(), 18);
        let found: Vec<u64> = tail.candidates(&[2]).iter().map(|(s, _)| *s).collect();
        assert_eq!(found, vec![18]);
        assert_eq!(
            tail.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            vec![18, 19, 20]
        );
    }
}

//! The unsealed tail: events durable in the log and not yet in a segment.
//!
//! Each is kept as its exact bytes plus what a query needs before parsing
//! it: its sort key and its term hashes. Parsed events cost about ten
//! times their bytes in small allocations; a tail of half a million of
//! them would crowd out everything else, so events are parsed only when a
//! query confirms a candidate or the seal encodes them. A query's parse is
//! kept for the next while a fixed budget allows ([`ParsedBudget`]): the
//! newest events are the ones dashboards, monitors and tails ask about
//! again and again (and each recorded read adds one).
//!
//! The tail grows in chunks: every `small_rows` events (about 64) freeze
//! into a small [`Chunk`] with postings of its own, and every `chunk_rows`
//! (about 4000) of those merge into a large one, shared by every snapshot
//! taken after. A snapshot copies a few dozen chunk handles and fewer than
//! `small_rows` open events, and a query scans no more than those one by
//! one: a tail that grows by one event between two queries (each read's
//! record) costs them next to nothing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use evident_model::StoredEvent;

use crate::term_index::{Prehashed, event_term_hashes, intersect};

/// Largest frozen chunk.
const MAX_CHUNK_ROWS: usize = 4096;

/// Largest small chunk: the open events a snapshot copies and a query scans
/// stay below it.
const MAX_SMALL_ROWS: usize = 64;

/// The largest divisor of `rows` up to `most`.
fn divisor_up_to(rows: usize, most: usize) -> usize {
    (1..=most.min(rows.max(1)))
        .rev()
        .find(|divisor| rows.is_multiple_of(*divisor))
        .unwrap_or(1)
}

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

/// A parsed event is reckoned at this many times its bytes.
const PARSED_COST_FACTOR: usize = 10;

/// One unsealed event.
#[derive(Debug)]
pub struct TailEvent {
    /// The exact bytes the ledger hashed.
    pub payload: Arc<[u8]>,
    pub facts: TailFacts,
    /// Its parsed form, once a query parsed it with room in the budget.
    parsed: OnceLock<Arc<StoredEvent>>,
    /// What `parsed` holds of the budget, until given back (exactly once:
    /// whoever swaps it to 0 returns it).
    held: AtomicUsize,
    /// Sealed: out of the live tail (snapshots may still hold it).
    sealed: AtomicBool,
}

impl TailEvent {
    pub fn new(payload: Arc<[u8]>, facts: TailFacts) -> TailEvent {
        TailEvent {
            payload,
            facts,
            parsed: OnceLock::new(),
            held: AtomicUsize::new(0),
            sealed: AtomicBool::new(false),
        }
    }

    pub fn parse(&self) -> Result<StoredEvent, serde_json::Error> {
        StoredEvent::from_bytes(&self.payload)
    }

    fn give_back(&self, budget: &ParsedBudget) {
        budget.release(self.held.swap(0, Ordering::SeqCst));
    }

    fn holds(&self, hashes: &[u64]) -> bool {
        hashes
            .iter()
            .all(|hash| self.facts.terms.binary_search(hash).is_ok())
    }
}

/// How much memory the tail's kept parses may take.
#[derive(Debug, Default)]
pub struct ParsedBudget {
    limit: usize,
    used: AtomicUsize,
}

impl ParsedBudget {
    pub fn new(limit: usize) -> ParsedBudget {
        ParsedBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// What kept parses take now (reckoned, not measured).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    fn reserve(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                let next = used.checked_add(bytes)?;
                (next <= self.limit).then_some(next)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.used.fetch_sub(bytes, Ordering::SeqCst);
        }
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
    /// Divides `chunk_rows`.
    small_rows: usize,
    /// Large chunks, `chunk_rows` events each.
    chunks: Vec<Arc<Chunk>>,
    /// Small chunks after them, `small_rows` events each, together fewer
    /// than `chunk_rows`.
    small: Vec<Arc<Chunk>>,
    /// Fewer than `small_rows` events after them.
    open: Vec<Arc<TailEvent>>,
    parsed: Arc<ParsedBudget>,
}

impl Tail {
    /// An empty tail starting at `start`, sealed `seal_rows` at a time:
    /// chunks divide a segment evenly, so a seal takes whole chunks. Up to
    /// `parsed_bytes` of parsed events are kept for the queries after.
    pub fn new(start: u64, seal_rows: usize, parsed_bytes: usize) -> Tail {
        let chunk_rows = divisor_up_to(seal_rows, MAX_CHUNK_ROWS);
        Tail {
            start,
            chunk_rows,
            small_rows: divisor_up_to(chunk_rows, MAX_SMALL_ROWS),
            chunks: Vec::new(),
            small: Vec::new(),
            open: Vec::new(),
            parsed: Arc::new(ParsedBudget::new(parsed_bytes)),
        }
    }

    /// `event` parsed: the kept parse, or a new one (kept when the budget
    /// has room for it).
    pub fn parsed(&self, event: &TailEvent) -> Result<Arc<StoredEvent>, serde_json::Error> {
        if let Some(parsed) = event.parsed.get() {
            return Ok(Arc::clone(parsed));
        }
        let parsed = Arc::new(event.parse()?);
        let cost = event.payload.len().saturating_mul(PARSED_COST_FACTOR);
        if !event.sealed.load(Ordering::SeqCst) && self.parsed.reserve(cost) {
            if event.parsed.set(Arc::clone(&parsed)).is_ok() {
                event.held.store(cost, Ordering::SeqCst);
                // Sealed meanwhile: the seal may have missed what it held.
                if event.sealed.load(Ordering::SeqCst) {
                    event.give_back(&self.parsed);
                }
            } else {
                self.parsed.release(cost);
            }
        }
        Ok(parsed)
    }

    /// The budget of kept parses.
    pub fn parsed_budget(&self) -> &ParsedBudget {
        &self.parsed
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn len(&self) -> usize {
        self.chunks.len() * self.chunk_rows + self.small.len() * self.small_rows + self.open.len()
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
        if self.open.len() == self.small_rows {
            let events = std::mem::take(&mut self.open);
            self.small.push(Arc::new(Chunk::freeze(events)));
            if self.small.len() * self.small_rows == self.chunk_rows {
                let events = self
                    .small
                    .drain(..)
                    .flat_map(|chunk| chunk.events.clone())
                    .collect();
                self.chunks.push(Arc::new(Chunk::freeze(events)));
            }
        }
    }

    pub fn get(&self, sequence: u64) -> Option<&Arc<TailEvent>> {
        let offset = usize::try_from(sequence.checked_sub(self.start)?).ok()?;
        let (chunk, row) = (offset / self.chunk_rows, offset % self.chunk_rows);
        if let Some(chunk) = self.chunks.get(chunk) {
            return chunk.events.get(row);
        }
        if chunk > self.chunks.len() {
            return None;
        }
        let (small, row) = (row / self.small_rows, row % self.small_rows);
        match self.small.get(small) {
            Some(chunk) => chunk.events.get(row),
            None if small == self.small.len() => self.open.get(row),
            None => None,
        }
    }

    /// Every event with its sequence number, in log order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Arc<TailEvent>)> {
        self.chunks
            .iter()
            .chain(self.small.iter())
            .flat_map(|chunk| chunk.events.iter())
            .chain(self.open.iter())
            .zip(self.start..)
            .map(|(event, sequence)| (sequence, event))
    }

    /// The events holding every term of `hashes` (all of them when it is
    /// empty), with their sequence numbers, in log order.
    pub fn candidates(&self, hashes: &[u64]) -> Vec<(u64, &Arc<TailEvent>)> {
        self.candidates_from(hashes, self.start)
    }

    /// [`Tail::candidates`] at sequence numbers `from` and later: chunks
    /// wholly before it are skipped, so that following the log costs what
    /// arrived since, not the whole tail.
    pub fn candidates_from(&self, hashes: &[u64], from: u64) -> Vec<(u64, &Arc<TailEvent>)> {
        let mut found = Vec::new();
        let mut first = self.start;
        for chunk in self.chunks.iter().chain(self.small.iter()) {
            let end = first + chunk.events.len() as u64;
            if end > from {
                if hashes.is_empty() {
                    found.extend((first..end).zip(&chunk.events));
                } else {
                    for row in chunk.candidates(hashes) {
                        if let Some(event) = chunk.events.get(row as usize) {
                            found.push((first + u64::from(row), event));
                        }
                    }
                }
            }
            first = end;
        }
        for (event, sequence) in self.open.iter().zip(first..) {
            if event.holds(hashes) {
                found.push((sequence, event));
            }
        }
        found.retain(|(sequence, _)| *sequence >= from);
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
        let sealed: Vec<Arc<TailEvent>> = self
            .chunks
            .drain(..chunks)
            .flat_map(|chunk| chunk.events.clone())
            .collect();
        for event in &sealed {
            event.sealed.store(true, Ordering::SeqCst);
            event.give_back(&self.parsed);
        }
        sealed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(terms: &[u64]) -> Arc<TailEvent> {
        Arc::new(TailEvent::new(
            Arc::from(&b"{}"[..]),
            TailFacts {
                time: 0,
                tiebreaker: 0,
                id_key: 0,
                terms: terms.into(),
            },
        ))
    }

    #[test]
    fn chunks_divide_the_seal_size() {
        assert_eq!(Tail::new(0, 100_000, 0).chunk_rows, 4000);
        assert_eq!(Tail::new(0, 100_000, 0).small_rows, 50);
        assert_eq!(Tail::new(0, 64, 0).chunk_rows, 64);
        assert_eq!(Tail::new(0, 7, 0).chunk_rows, 7);
        // A prime seal size leaves chunks of one event: correct, if slow.
        assert_eq!(Tail::new(0, 8191, 0).chunk_rows, 1);
    }

    fn stored(id: &str) -> Arc<TailEvent> {
        let event = StoredEvent {
            id: id.to_owned(),
            // Fixed, so that every event serializes to as many bytes.
            discovery_timestamp: evident_model::Timestamp::from_millis(1_700_000_000_000)
                .unwrap_or_else(evident_model::Timestamp::now),
            tiebreaker: 0,
            random_draw: 0.5,
            ingest_size_in_bytes: 0,
            truncated: false,
            event: evident_model::Event::default(),
        };
        let facts = TailFacts::of(&event);
        Arc::new(TailEvent::new(Arc::from(event.to_bytes()), facts))
    }

    #[test]
    fn parses_are_kept_within_the_budget_and_given_back_at_the_seal()
    -> Result<(), serde_json::Error> {
        let events: Vec<Arc<TailEvent>> = (0..4).map(|i| stored(&format!("e{i}"))).collect();
        let cost = events[0].payload.len() * PARSED_COST_FACTOR;
        // Room for two.
        let mut tail = Tail::new(0, 2, 2 * cost + cost / 2);
        for event in &events {
            tail.push(Arc::clone(event));
        }
        let first = tail.parsed(&events[0])?;
        assert_eq!(first.id, "e0");
        assert!(Arc::ptr_eq(&first, &tail.parsed(&events[0])?), "kept");
        tail.parsed(&events[1])?;
        let third = tail.parsed(&events[2])?;
        assert!(!Arc::ptr_eq(&third, &tail.parsed(&events[2])?), "no room");
        assert_eq!(tail.parsed_budget().used(), 2 * cost);
        // The first chunk is sealed: its parses leave the budget.
        tail.drop_front(2);
        assert_eq!(tail.parsed_budget().used(), 0);
        let again = tail.parsed(&events[2])?;
        assert!(Arc::ptr_eq(&again, &tail.parsed(&events[2])?), "room again");
        // A sealed event a snapshot still holds is parsed, never kept.
        tail.parsed(&events[0])?;
        let sealed = stored("sealed");
        sealed.sealed.store(true, Ordering::SeqCst);
        tail.parsed(&sealed)?;
        assert_eq!(tail.parsed_budget().used(), cost);
        Ok(())
    }

    /// Large, small and open events together answer as one list would.
    #[test]
    fn large_small_and_open_chunks_answer_as_one_list() {
        let mut tail = Tail::new(1000, 200, 0);
        assert_eq!((tail.chunk_rows, tail.small_rows), (200, 50));
        let terms = |index: u64| vec![index % 7, 100 + index % 3];
        let mut reference: Vec<(u64, Vec<u64>)> = Vec::new();
        let check = |tail: &Tail, reference: &[(u64, Vec<u64>)]| {
            assert_eq!(tail.len(), reference.len());
            for wanted in [vec![3], vec![3, 101], vec![100], vec![]] {
                let mut sorted = wanted.clone();
                sorted.sort_unstable();
                let found: Vec<u64> = tail.candidates(&sorted).iter().map(|(s, _)| *s).collect();
                let expected: Vec<u64> = reference
                    .iter()
                    .filter(|(_, terms)| sorted.iter().all(|term| terms.contains(term)))
                    .map(|(sequence, _)| *sequence)
                    .collect();
                assert_eq!(found, expected, "terms {sorted:?}");
            }
            for (sequence, terms) in reference {
                assert_eq!(
                    &*tail.get(*sequence).expect("there").facts.terms,
                    terms.as_slice()
                );
            }
            assert!(tail.get(tail.end()).is_none());
        };
        for index in 0..537u64 {
            let mut own = terms(index);
            own.sort_unstable();
            tail.push(event(&own));
            reference.push((1000 + index, own));
            if index % 61 == 0 || index == 536 {
                check(&tail, &reference);
            }
        }
        assert_eq!(
            (tail.chunks.len(), tail.small.len(), tail.open.len()),
            (2, 2, 37)
        );
        assert_eq!(tail.drop_front(200).len(), 200);
        reference.drain(..200);
        check(&tail, &reference);
        assert!(tail.get(1199).is_none() && tail.get(1200).is_some());
    }

    #[test]
    fn candidates_come_from_frozen_and_open_chunks_in_log_order() {
        let mut tail = Tail::new(10, 4, 0);
        for index in 0..11u64 {
            tail.push(event(&[index % 3, 100]));
        }
        assert_eq!(tail.len(), 11);
        assert_eq!(tail.end(), 21);
        let found: Vec<u64> = tail.candidates(&[1, 100]).iter().map(|(s, _)| *s).collect();
        assert_eq!(found, vec![11, 14, 17, 20]);
        assert!(tail.candidates(&[7]).is_empty());
        assert_eq!(tail.candidates(&[]).len(), 11);
        // From a position: inside a frozen chunk, inside the open events.
        let from = |hashes: &[u64], from| -> Vec<u64> {
            tail.candidates_from(hashes, from)
                .iter()
                .map(|(s, _)| *s)
                .collect()
        };
        assert_eq!(from(&[1, 100], 12), vec![14, 17, 20]);
        assert_eq!(from(&[], 19), vec![19, 20]);
        assert_eq!(from(&[], 21), Vec::<u64>::new());
        assert_eq!(from(&[100], 5).len(), 11);
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

//! Candidates: the events of a snapshot that can match a query in a time
//! window, found through the term index and the sort-key columns, and
//! their confirmation by the reference matcher.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::{Int64Type, TimestampNanosecondType};
use evident_model::StoredEvent;
use evident_search::Expr;
use evident_search::terms::{exact_alternatives, required_alternatives};
use evident_store::tail::{Tail, TailEvent};
use evident_store::term_index::{TermIndex, term_hash};
use evident_store::{Sealed, Snapshot, Store};

use crate::QueryError;

/// Where an event sorts: event time (ns), tiebreaker, then its position in
/// the log, which makes the order total (fields compare in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SortKey {
    pub time: i64,
    pub tiebreaker: i64,
    /// The event's position in the log (its leaf index).
    pub position: u64,
}

impl SortKey {
    pub fn new(time: i64, tiebreaker: i64, position: u64) -> SortKey {
        SortKey {
            time,
            tiebreaker,
            position,
        }
    }
}

/// A half-open range of event times, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    pub fn contains(&self, time: i64) -> bool {
        self.from <= time && time < self.to
    }

    /// Whether events timed in `[min, max]` can fall in the window.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        min < self.to && max >= self.from
    }

    /// Whether every event timed in `[min, max]` falls in the window.
    pub fn covers(&self, min: i64, max: i64) -> bool {
        self.from <= min && max < self.to
    }
}

/// What the term index makes of a filter.
#[derive(Debug, Clone)]
pub(crate) struct Plan<'q> {
    pub filter: &'q Expr,
    /// Hashes of term sets: every match holds all the terms of one of
    /// them (`a OR b` gives two). A set with no terms: every event is a
    /// candidate.
    pub alternatives: Vec<Vec<u64>>,
    /// The terms decide: every candidate matches.
    pub exact: bool,
}

impl<'q> Plan<'q> {
    pub fn new(filter: &'q Expr) -> Plan<'q> {
        let (sets, exact) = match exact_alternatives(filter) {
            Some(sets) => (sets, true),
            None => (required_alternatives(filter), false),
        };
        // An alternative with no terms admits every event: the others add
        // nothing to it.
        let alternatives = if sets.iter().any(BTreeSet::is_empty) {
            vec![Vec::new()]
        } else {
            sets.iter()
                .map(|terms| terms.iter().map(|term| term_hash(term)).collect())
                .collect()
        };
        Plan {
            filter,
            alternatives,
            exact,
        }
    }

    /// Whether every event is a candidate.
    pub fn every_row(&self) -> bool {
        matches!(self.alternatives.as_slice(), [only] if only.is_empty())
    }

    /// A segment's candidate rows, ascending: the union over the
    /// alternatives of the rows holding all their terms.
    pub fn segment_rows(&self, index: &TermIndex) -> Vec<u32> {
        match self.alternatives.as_slice() {
            [one] => index.candidates(one),
            sets => {
                let mut rows: Vec<u32> =
                    sets.iter().flat_map(|set| index.candidates(set)).collect();
                rows.sort_unstable();
                rows.dedup();
                rows
            }
        }
    }

    /// The tail's candidates, in log order.
    pub fn tail_rows<'s>(&self, tail: &'s Tail) -> Vec<(u64, &'s Arc<TailEvent>)> {
        self.tail_rows_from(tail, tail.start())
    }

    /// The tail's candidates at positions `from` and later, in log order.
    pub fn tail_rows_from<'s>(&self, tail: &'s Tail, from: u64) -> Vec<(u64, &'s Arc<TailEvent>)> {
        match self.alternatives.as_slice() {
            [one] => tail.candidates_from(one, from),
            sets => {
                let mut rows: Vec<(u64, &Arc<TailEvent>)> = sets
                    .iter()
                    .flat_map(|set| tail.candidates_from(set, from))
                    .collect();
                rows.sort_unstable_by_key(|(sequence, _)| *sequence);
                rows.dedup_by_key(|(sequence, _)| *sequence);
                rows
            }
        }
    }

    /// Whether a candidate the index returned matches.
    pub fn matches(&self, stored: &StoredEvent) -> bool {
        self.exact || evident_search::matches(self.filter, &stored.event)
    }
}

pub(crate) fn event_key(stored: &StoredEvent, sequence: u64) -> SortKey {
    SortKey::new(stored.time_nanos(), stored.tiebreaker, sequence)
}

/// The candidate rows of a sealed segment inside the window (ascending)
/// with their sort keys.
pub(crate) fn segment_candidates(
    store: &Store,
    sealed: &Sealed,
    plan: &Plan<'_>,
    window: Window,
) -> Result<(Vec<u32>, Vec<SortKey>), QueryError> {
    let meta = &sealed.meta;
    if !window.overlaps(meta.min_time, meta.max_time) {
        return Ok((Vec::new(), Vec::new()));
    }
    let rows = plan.segment_rows(&sealed.index);
    if rows.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let every_row = rows.len() as u64 == meta.rows();
    let batch = store.read_sealed(
        sealed,
        &["timestamp", "tiebreaker"],
        (!every_row).then_some(rows.as_slice()),
    )?;
    let damaged = |reason: &str| QueryError::Damaged {
        path: meta.path.clone(),
        reason: reason.to_string(),
    };
    let times = batch
        .column_by_name("timestamp")
        .and_then(|column| column.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| damaged("timestamp is not a nanosecond timestamp"))?;
    let tiebreakers = batch
        .column_by_name("tiebreaker")
        .and_then(|column| column.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| damaged("tiebreaker is not an integer"))?;
    if times.len() != rows.len() {
        return Err(damaged("fewer rows than the index names"));
    }
    let mut kept_rows = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for (position, &row) in rows.iter().enumerate() {
        let time = times.value(position);
        if window.contains(time) {
            kept_rows.push(row);
            keys.push(SortKey::new(
                time,
                tiebreakers.value(position),
                meta.first_sequence + u64::from(row),
            ));
        }
    }
    Ok((kept_rows, keys))
}

/// Hands every matching event of a sealed segment in the window to
/// `found`, in log order, reading candidates in chunks so that memory
/// stays bounded by what matches.
pub(crate) fn segment_matches(
    store: &Store,
    sealed: &Sealed,
    plan: &Plan<'_>,
    window: Window,
    found: impl FnMut(StoredEvent),
) -> Result<(), QueryError> {
    let rows = candidate_rows(store, sealed, plan, window)?;
    candidate_matches(store, sealed, plan, &rows, found)
}

/// The candidate rows of a sealed segment inside the window (ascending),
/// without sort keys: when the window covers the segment, straight from
/// the index.
pub(crate) fn candidate_rows(
    store: &Store,
    sealed: &Sealed,
    plan: &Plan<'_>,
    window: Window,
) -> Result<Vec<u32>, QueryError> {
    let meta = &sealed.meta;
    if window.covers(meta.min_time, meta.max_time) {
        return Ok(plan.segment_rows(&sealed.index));
    }
    Ok(segment_candidates(store, sealed, plan, window)?.0)
}

/// [`segment_matches`] over candidate rows found already.
pub(crate) fn candidate_matches(
    store: &Store,
    sealed: &Sealed,
    plan: &Plan<'_>,
    rows: &[u32],
    mut found: impl FnMut(StoredEvent),
) -> Result<(), QueryError> {
    for chunk in rows.chunks(4096) {
        for (_, _, stored) in store.sealed_events(sealed, chunk)? {
            if plan.matches(&stored) {
                found(stored);
            }
        }
    }
    Ok(())
}

/// The tail's candidates in the window, with their sort keys, in log
/// order; nothing is parsed.
pub(crate) fn tail_candidates<'s>(
    snapshot: &'s Snapshot,
    plan: &Plan<'_>,
    window: Window,
) -> Vec<(SortKey, &'s Arc<TailEvent>)> {
    plan.tail_rows(&snapshot.tail)
        .into_iter()
        .filter(|(_, event)| window.contains(event.facts.time))
        .map(|(sequence, event)| {
            let key = SortKey::new(event.facts.time, event.facts.tiebreaker, sequence);
            (key, event)
        })
        .collect()
}

/// A tail event parsed (or its kept parse), for the matcher or a result.
pub(crate) fn parse_tail_event(
    tail: &Tail,
    sequence: u64,
    event: &TailEvent,
) -> Result<Arc<StoredEvent>, QueryError> {
    tail.parsed(event).map_err(|error| QueryError::Damaged {
        path: "write-ahead log".into(),
        reason: format!("event {sequence} does not parse: {error}"),
    })
}

/// Hands every event of the unsealed tail in the window that the plan
/// accepts to `found`, in log order.
pub(crate) fn tail_matches(
    snapshot: &Snapshot,
    plan: &Plan<'_>,
    window: Window,
    mut found: impl FnMut(Arc<StoredEvent>),
) -> Result<(), QueryError> {
    for (key, event) in tail_candidates(snapshot, plan, window) {
        let stored = parse_tail_event(&snapshot.tail, key.position, event)?;
        if plan.matches(&stored) {
            found(stored);
        }
    }
    Ok(())
}

/// Every event in `window` that `filter` accepts, in log order.
pub fn matching_events(
    store: &Store,
    filter: &Expr,
    window: Window,
) -> Result<Vec<Arc<StoredEvent>>, QueryError> {
    let snapshot = store.snapshot();
    let plan = Plan::new(filter);
    let mut events = Vec::new();
    for sealed in &snapshot.sealed {
        segment_matches(store, sealed, &plan, window, |stored| {
            events.push(Arc::new(stored));
        })?;
    }
    tail_matches(&snapshot, &plan, window, |stored| events.push(stored))?;
    Ok(events)
}

/// `work` over every segment on all cores, results in segment order.
pub(crate) fn in_parallel<T: Send>(
    segments: &[&std::sync::Arc<Sealed>],
    work: impl Fn(&Sealed) -> Result<T, QueryError> + Sync,
) -> Result<Vec<T>, QueryError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(segments.len());
    if threads <= 1 {
        return segments.iter().map(|sealed| work(sealed)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<T, QueryError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(sealed) = segments.get(index) else {
                            return done;
                        };
                        done.push((index, work(sealed)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_default())
            .collect()
    });
    if results.len() != segments.len() {
        return Err(QueryError::Damaged {
            path: "segments".into(),
            reason: "a query thread panicked".into(),
        });
    }
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

//! Events in the order they arrived, from a position in the log: what
//! live tail follows. Unlike a search, no time window applies: an event
//! stamped an hour (or a year) ago shows when it arrives.

use std::sync::Arc;

use evident_search::Expr;
use evident_store::Store;
use evident_store::tail::TailEvent;

use crate::QueryError;
use crate::candidates::{Plan, parse_tail_event};

/// An event at its position in the log.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub position: u64,
    /// Its exact stored bytes.
    pub payload: Arc<[u8]>,
    /// Still in the unsealed tail: what the tail knows of it (its time and
    /// term hashes) without parsing.
    pub unsealed: Option<Arc<TailEvent>>,
}

/// Matching events from a position on, oldest first.
#[derive(Debug)]
pub struct Arrivals {
    pub events: Vec<Arrival>,
    /// Where to continue: one past the last position looked at.
    pub next: u64,
}

/// One past the newest event now: where following starts.
pub fn log_end(store: &Store) -> u64 {
    store.snapshot().tail.end()
}

/// The first `limit` events at positions `from` and later that `filter`
/// accepts. Positions sealed since the caller last asked are read from
/// their segments; positions that expired are skipped.
pub fn arrivals(
    store: &Store,
    filter: &Expr,
    from: u64,
    limit: usize,
) -> Result<Arrivals, QueryError> {
    let snapshot = store.snapshot();
    let plan = Plan::new(filter);
    let mut events = Vec::new();
    let full = |events: &Vec<Arrival>| events.len() >= limit;
    for sealed in &snapshot.sealed {
        let meta = &sealed.meta;
        if meta.end_sequence <= from {
            continue;
        }
        let first_row = u32::try_from(from.saturating_sub(meta.first_sequence)).unwrap_or(u32::MAX);
        let rows: Vec<u32> = plan
            .segment_rows(&sealed.index)
            .into_iter()
            .filter(|row| *row >= first_row)
            .collect();
        for chunk in rows.chunks(1024) {
            // The index decides an exact plan: nothing to parse.
            let read: Vec<(u64, Arc<[u8]>)> = if plan.exact {
                store.sealed_payloads(sealed, chunk)?
            } else {
                store
                    .sealed_events(sealed, chunk)?
                    .into_iter()
                    .filter(|(_, _, stored)| plan.matches(stored))
                    .map(|(sequence, raw, _)| (sequence, raw))
                    .collect()
            };
            for (sequence, payload) in read {
                events.push(Arrival {
                    position: sequence,
                    payload,
                    unsealed: None,
                });
                if full(&events) {
                    return Ok(Arrivals {
                        events,
                        next: sequence + 1,
                    });
                }
            }
        }
    }
    for (sequence, event) in plan.tail_rows_from(&snapshot.tail, from) {
        let matched =
            plan.exact || plan.matches(&*parse_tail_event(&snapshot.tail, sequence, event)?);
        if matched {
            events.push(Arrival {
                position: sequence,
                payload: Arc::clone(&event.payload),
                unsealed: Some(Arc::clone(event)),
            });
            if full(&events) {
                return Ok(Arrivals {
                    events,
                    next: sequence + 1,
                });
            }
        }
    }
    Ok(Arrivals {
        events,
        next: snapshot.tail.end().max(from),
    })
}

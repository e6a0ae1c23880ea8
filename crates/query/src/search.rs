//! A page of search results: the first `limit` matching events in sort
//! order after a cursor.
//!
//! The tail is matched in memory. Sealed segments are visited from the one
//! that can hold the best event; within a segment, candidates are confirmed
//! in sort order in chunks, so a page of a frequent query reads only the
//! pages of its first hits, and segments that cannot beat a full page are
//! never read.

use std::sync::Arc;

use evident_model::StoredEvent;
use evident_search::Expr;
use evident_store::Store;

use crate::QueryError;
use crate::candidates::{Plan, SortKey, Window, event_key, segment_candidates};

/// Rows read and matched at a time when the matcher decides.
const CONFIRM_CHUNK: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

impl Order {
    /// Whether `a` comes before `b`.
    fn before(self, a: &SortKey, b: &SortKey) -> bool {
        match self {
            Order::NewestFirst => a > b,
            Order::OldestFirst => a < b,
        }
    }

    fn sort<T>(self, items: &mut [(SortKey, T)]) {
        match self {
            Order::NewestFirst => items.sort_unstable_by_key(|a| std::cmp::Reverse(a.0)),
            Order::OldestFirst => items.sort_unstable_by_key(|a| a.0),
        }
    }
}

/// One page: the hits in order, and whether more follow.
#[derive(Debug)]
pub struct Page {
    pub hits: Vec<(SortKey, Arc<StoredEvent>)>,
    pub more: bool,
}

/// The first `limit` events in `window` that `filter` accepts, in `order`,
/// strictly after `after` when given.
pub fn search(
    store: &Store,
    filter: &Expr,
    window: Window,
    order: Order,
    after: Option<SortKey>,
    limit: usize,
) -> Result<Page, QueryError> {
    let snapshot = store.snapshot();
    let plan = Plan::new(filter);
    let want = limit.saturating_add(1);
    let past_cursor = |key: &SortKey| after.is_none_or(|cursor| order.before(&cursor, key));
    let mut hits: Vec<(SortKey, Arc<StoredEvent>)> = Vec::new();
    let keep_best = |hits: &mut Vec<(SortKey, Arc<StoredEvent>)>| {
        order.sort(hits);
        hits.truncate(want);
    };

    for (offset, stored) in snapshot.tail.iter().enumerate() {
        let key = event_key(stored, snapshot.tail_start + offset as u64);
        if window.contains(key.0)
            && past_cursor(&key)
            && evident_search::matches(filter, &stored.event)
        {
            hits.push((key, Arc::clone(stored)));
        }
    }
    keep_best(&mut hits);

    let mut segments: Vec<_> = snapshot
        .sealed
        .iter()
        .filter(|sealed| window.overlaps(sealed.meta.min_time, sealed.meta.max_time))
        .collect();
    match order {
        Order::NewestFirst => {
            segments.sort_by_key(|sealed| std::cmp::Reverse(sealed.meta.max_time))
        }
        Order::OldestFirst => segments.sort_by_key(|sealed| sealed.meta.min_time),
    }
    for sealed in segments {
        // A full page beats every event of a segment whose best time is
        // worse than its last hit; the segments after it are worse still.
        if let Some((worst, _)) = hits.get(limit) {
            let out_of_reach = match order {
                Order::NewestFirst => sealed.meta.max_time < worst.0,
                Order::OldestFirst => sealed.meta.min_time > worst.0,
            };
            if out_of_reach {
                break;
            }
        }
        let (rows, keys) = segment_candidates(store, sealed, &plan, window)?;
        let mut candidates: Vec<(SortKey, u32)> = keys
            .into_iter()
            .zip(rows)
            .filter(|(key, _)| past_cursor(key))
            .collect();
        order.sort(&mut candidates);
        let chunk_size = if plan.exact {
            want
        } else {
            want.max(CONFIRM_CHUNK)
        };
        let mut found_here = 0;
        for chunk in candidates.chunks(chunk_size) {
            let full = hits.len() == want;
            if full
                && hits
                    .last()
                    .is_some_and(|(worst, _)| !order.before(&chunk[0].0, worst))
            {
                break;
            }
            let mut rows: Vec<u32> = chunk.iter().map(|(_, row)| *row).collect();
            rows.sort_unstable();
            for (sequence, _, stored) in store.sealed_events(sealed, &rows)? {
                if plan.matches(&stored) {
                    hits.push((event_key(&stored, sequence), Arc::new(stored)));
                    found_here += 1;
                }
            }
            keep_best(&mut hits);
            // Later candidates of this segment sort after these.
            if found_here >= want {
                break;
            }
        }
    }
    let more = hits.len() > limit;
    hits.truncate(limit);
    Ok(Page { hits, more })
}

//! A page of search results: the first `limit` matching events in sort
//! order after a cursor.
//!
//! The tail's candidates come from its postings and are confirmed best
//! first. Sealed segments are visited from the one
//! that can hold the best event; within a segment, candidates are confirmed
//! in sort order in chunks, so a page of a frequent query reads only the
//! pages of its first hits, and segments that cannot beat a full page are
//! never read.

use std::sync::Arc;

use evident_search::Expr;
use evident_store::{Sealed, Store};

use crate::QueryError;
use crate::candidates::{
    Plan, SortKey, Window, event_key, in_parallel, parse_tail_event, segment_candidates,
    tail_candidates,
};

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

/// A hit on its way into a page: read already, or a place to read it from.
type PageEntry<'s> = (SortKey, Option<Arc<[u8]>>, Option<(&'s Arc<Sealed>, u32)>);

/// One page: the hits in order, and whether more follow.
#[derive(Debug)]
pub struct Page {
    /// Each hit's exact stored bytes ([`evident_model::StoredEvent::from_bytes`] parses
    /// them); a response can be rendered from them without building the
    /// whole event.
    pub hits: Vec<(SortKey, Arc<[u8]>)>,
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
    // Nothing before the cursor's time can follow it: later pages skip the
    // segments (and candidates) the earlier ones went through.
    let window = match (after, order) {
        (Some(cursor), Order::NewestFirst) => Window {
            from: window.from,
            to: window.to.min(cursor.time.saturating_add(1)),
        },
        (Some(cursor), Order::OldestFirst) => Window {
            from: window.from.max(cursor.time),
            to: window.to,
        },
        (None, _) => window,
    };
    let past_cursor = |key: &SortKey| after.is_none_or(|cursor| order.before(&cursor, key));
    let mut hits: Vec<(SortKey, Arc<[u8]>)> = Vec::new();
    let keep_best = |hits: &mut Vec<(SortKey, Arc<[u8]>)>| {
        order.sort(hits);
        hits.truncate(want);
    };

    // The tail: candidates by their keys, confirmed best first until a
    // page is full.
    let mut tail: Vec<_> = tail_candidates(&snapshot, &plan, window)
        .into_iter()
        .filter(|(key, _)| past_cursor(key))
        .collect();
    order.sort(&mut tail);
    for (key, event) in tail {
        if plan.exact || plan.matches(&*parse_tail_event(&snapshot.tail, key.position, event)?) {
            hits.push((key, Arc::clone(&event.payload)));
            if hits.len() == want {
                break;
            }
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
    // Hits of an exact query found in segments, by key, not yet read.
    let mut exact: Vec<(SortKey, (&Arc<Sealed>, u32))> = Vec::new();
    // A needle's candidates are few: find them in every segment at once
    // rather than one segment after another.
    let mut found_early: Vec<Option<(Vec<u32>, Vec<SortKey>)>> = if plan.exact && !plan.every_row()
    {
        in_parallel(&segments, |sealed| {
            segment_candidates(store, sealed, &plan, window).map(Some)
        })?
    } else {
        segments.iter().map(|_| None).collect()
    };
    for (position, sealed) in segments.iter().copied().enumerate() {
        // A full page beats every event of a segment whose best time is
        // worse than its last hit; the segments after it are worse still.
        let mut keys: Vec<SortKey> = hits.iter().map(|(key, _)| *key).collect();
        keys.extend(exact.iter().map(|(key, _)| *key));
        keys.sort_unstable();
        if order == Order::NewestFirst {
            keys.reverse();
        }
        if let Some(worst) = keys.get(limit) {
            let out_of_reach = match order {
                Order::NewestFirst => sealed.meta.max_time < worst.time,
                Order::OldestFirst => sealed.meta.min_time > worst.time,
            };
            if out_of_reach {
                break;
            }
        }
        let (rows, keys) = match found_early[position].take() {
            Some(found) => found,
            None => segment_candidates(store, sealed, &plan, window)?,
        };
        let mut candidates: Vec<(SortKey, u32)> = keys
            .into_iter()
            .zip(rows)
            .filter(|(key, _)| past_cursor(key))
            .collect();
        order.sort(&mut candidates);
        if plan.exact {
            // Every candidate is a hit: keep keys only, read the winners' bytes last.
            candidates.truncate(want);
            exact.extend(
                candidates
                    .into_iter()
                    .map(|(key, row)| (key, (sealed, row))),
            );
            order.sort(&mut exact);
            exact.truncate(want);
            continue;
        }
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
            for (sequence, raw, stored) in store.sealed_events(sealed, &rows)? {
                if plan.matches(&stored) {
                    hits.push((event_key(&stored, sequence), raw));
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
    // The best exact hits, read segment by segment in row order.
    let mut best: Vec<PageEntry<'_>> = hits
        .into_iter()
        .map(|(key, event)| (key, Some(event), None))
        .chain(
            exact
                .into_iter()
                .map(|(key, place)| (key, None, Some(place))),
        )
        .collect();
    match order {
        Order::NewestFirst => best.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.0)),
        Order::OldestFirst => best.sort_unstable_by_key(|entry| entry.0),
    }
    best.truncate(want);
    let mut wanted: Vec<(&Arc<Sealed>, u32)> = best.iter().filter_map(|entry| entry.2).collect();
    wanted.sort_by_key(|(sealed, row)| (sealed.meta.first_sequence, *row));
    let groups: Vec<&[(&Arc<Sealed>, u32)]> =
        wanted.chunk_by(|a, b| Arc::ptr_eq(a.0, b.0)).collect();
    let segments: Vec<&Arc<Sealed>> = groups.iter().map(|group| group[0].0).collect();
    let read_back = in_parallel(&segments, |sealed| {
        let rows: Vec<u32> = groups
            .iter()
            .find(|group| std::ptr::eq(Arc::as_ptr(group[0].0), sealed))
            .map(|group| group.iter().map(|(_, row)| *row).collect())
            .unwrap_or_default();
        Ok(store.sealed_payloads(sealed, &rows)?)
    })?;
    let mut read: std::collections::HashMap<u64, Arc<[u8]>> =
        read_back.into_iter().flatten().collect();
    let mut hits = Vec::with_capacity(best.len());
    for (key, event, _) in best {
        let event = match event {
            Some(event) => event,
            None => read
                .remove(&key.position)
                .ok_or_else(|| QueryError::Damaged {
                    path: "segments".into(),
                    reason: format!("event {} was not read back", key.position),
                })?,
        };
        hits.push((key, event));
    }
    let more = hits.len() > limit;
    hits.truncate(limit);
    Ok(Page { hits, more })
}

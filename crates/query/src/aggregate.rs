//! `| stats` over the events a filter accepts in a window.
//!
//! Counting, grouped by nothing or by promoted columns, reads no event:
//! the term index gives the rows (all of them for `*`), the dictionary
//! keys of the group columns give the groups, and the `timestamp` column
//! is read only for segments the window cuts. A segment the window covers,
//! counted by one column with `*`, reads nothing at all: the value counts
//! kept in its footer at seal time answer. Everything else (other
//! aggregations, other fields, queries the index cannot decide, segments
//! where a group field holds several values in one event, the tail) goes
//! through the reference aggregator over the confirmed events. The two are
//! merged into the reference's row order.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, DictionaryArray};
use arrow::datatypes::{Int32Type, TimestampNanosecondType};
use evident_model::ReservedField;
use evident_search::ast::{AggregateFunction, Field};
use evident_search::{Aggregator, Expr, Stats, StatsRow};
use evident_store::segment::PROMOTED_ATTRIBUTES;
use evident_store::{Sealed, Store};
use serde_json::Value as Json;

use crate::QueryError;
use crate::candidates::{Plan, Window, in_parallel, segment_matches, tail_matches};

/// A group: one value (or none) per `by` field.
pub(crate) type Group = Vec<Option<String>>;

/// The rows of `stats` over the events in `window` that `filter` accepts,
/// exactly as [`Aggregator`] computes them over those events.
pub fn aggregate(
    store: &Store,
    filter: &Expr,
    window: Window,
    stats: &Stats,
) -> Result<Vec<StatsRow>, QueryError> {
    let snapshot = store.snapshot();
    let plan = Plan::new(filter);
    let columns: Option<Vec<(String, Option<String>)>> =
        stats.group_by.iter().map(group_column).collect();
    let counts_only = stats
        .aggregations
        .iter()
        .all(|aggregation| aggregation.function == AggregateFunction::Count);
    let columnar = match columns {
        Some(columns) if counts_only && plan.exact => columns,
        _ => return by_events(store, &snapshot, &plan, window, stats),
    };

    let mut counts: HashMap<Group, u64> = HashMap::new();
    let mut by_rows = Aggregator::new(stats);
    let (several, single): (Vec<_>, Vec<_>) = snapshot.sealed.iter().partition(|sealed| {
        columnar.iter().any(|(_, path)| {
            path.as_ref()
                .is_some_and(|path| sealed.meta.multi_valued.contains(path))
        })
    });
    for sealed in several {
        segment_matches(store, sealed, &plan, window, |stored| {
            by_rows.add(&stored.event);
        })?;
    }
    let per_segment = in_parallel(&single, |sealed| {
        let mut counts = HashMap::new();
        count_columns(store, sealed, &plan, window, &columnar, &mut counts)?;
        Ok(counts)
    })?;
    for segment_counts in per_segment {
        for (group, count) in segment_counts {
            *counts.entry(group).or_default() += count;
        }
    }
    tail_matches(&snapshot, &plan, window, |stored| {
        by_rows.add(&stored.event)
    })?;
    for row in by_rows.finish() {
        let group = row
            .group
            .iter()
            .map(|value| value.as_str().map(str::to_string))
            .collect();
        let count = row.values.first().and_then(Json::as_u64).unwrap_or(0);
        *counts.entry(group).or_default() += count;
    }
    Ok(count_rows(counts, stats.aggregations.len()))
}

/// The column holding a group field's single value, with the promoted
/// attribute path it stands for; `None` when no column does.
fn group_column(field: &Field) -> Option<(String, Option<String>)> {
    match field {
        Field::Reserved(ReservedField::Service) => Some(("service".into(), None)),
        Field::Reserved(ReservedField::Host) => Some(("host".into(), None)),
        Field::Reserved(ReservedField::Source) => Some(("source".into(), None)),
        Field::Attribute(path) => PROMOTED_ATTRIBUTES
            .iter()
            .find(|promoted| {
                promoted
                    .split('.')
                    .eq(path.segments().iter().map(String::as_str))
            })
            .map(|promoted| (format!("@{promoted}"), Some((*promoted).to_string()))),
        _ => None,
    }
}

/// Adds a segment's candidate rows to `counts` from its columns.
pub(crate) fn count_columns(
    store: &Store,
    sealed: &Sealed,
    plan: &Plan<'_>,
    window: Window,
    columns: &[(String, Option<String>)],
    counts: &mut HashMap<Group, u64>,
) -> Result<(), QueryError> {
    let meta = &sealed.meta;
    if !window.overlaps(meta.min_time, meta.max_time) {
        return Ok(());
    }
    // With nothing required every row is a candidate: no list to build.
    let rows = (!plan.hashes.is_empty()).then(|| sealed.index.candidates(&plan.hashes));
    let candidates = rows.as_ref().map_or(meta.rows(), |rows| rows.len() as u64);
    if candidates == 0 {
        return Ok(());
    }
    let cut = !window.covers(meta.min_time, meta.max_time);
    if columns.is_empty() && !cut {
        *counts.entry(Vec::new()).or_default() += candidates;
        return Ok(());
    }
    // Every row of a segment the window covers, by one column: the counts
    // taken when it was sealed, when it has them.
    if let [(name, _)] = columns
        && rows.is_none()
        && !cut
        && let Some(values) = store.value_counts(sealed)?.get(name)
    {
        for (value, count) in values {
            *counts.entry(vec![value.clone()]).or_default() += count;
        }
        return Ok(());
    }
    let mut names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    if cut {
        names.push("timestamp");
    }
    // Batch by batch: each has its own dictionaries, and merging them
    // would cost more than counting.
    for batch in store.read_sealed_batches(sealed, &names, rows.as_deref())? {
        let damaged = |reason: &str| QueryError::Damaged {
            path: meta.path.clone(),
            reason: reason.to_string(),
        };
        let in_window: Option<Vec<bool>> = if cut {
            let times = batch
                .column_by_name("timestamp")
                .and_then(|column| column.as_primitive_opt::<TimestampNanosecondType>())
                .ok_or_else(|| damaged("timestamp is not a nanosecond timestamp"))?;
            Some(
                times
                    .values()
                    .iter()
                    .map(|time| window.contains(*time))
                    .collect(),
            )
        } else {
            None
        };
        let kept = |row: usize| in_window.as_ref().is_none_or(|kept| kept[row]);
        // Columns come back in file order, so look them up by name.
        let groups: Vec<&DictionaryArray<Int32Type>> = columns
            .iter()
            .map(|(name, _)| {
                batch
                    .column_by_name(name)
                    .and_then(|column| column.as_dictionary_opt::<Int32Type>())
                    .ok_or_else(|| damaged("a keyword column is not dictionary encoded"))
            })
            .collect::<Result<_, _>>()?;
        // Count dictionary keys first, then name the groups: no string work
        // (and, for one column, no hashing) per row.
        let mut by_keys: HashMap<Vec<Option<i32>>, u64> = HashMap::new();
        if let [column] = groups.as_slice() {
            let mut per_key = vec![0u64; column.values().len()];
            let mut missing = 0u64;
            for row in (0..batch.num_rows()).filter(|row| kept(*row)) {
                match column.is_valid(row) {
                    true => {
                        let key = usize::try_from(column.keys().value(row)).unwrap_or(usize::MAX);
                        match per_key.get_mut(key) {
                            Some(count) => *count += 1,
                            None => return Err(damaged("a dictionary key out of range")),
                        }
                    }
                    false => missing += 1,
                }
            }
            for (key, count) in per_key.into_iter().enumerate() {
                if count > 0 {
                    by_keys.insert(vec![i32::try_from(key).ok()], count);
                }
            }
            if missing > 0 {
                by_keys.insert(vec![None], missing);
            }
        } else {
            for row in (0..batch.num_rows()).filter(|row| kept(*row)) {
                let key = groups
                    .iter()
                    .map(|column| column.is_valid(row).then(|| column.keys().value(row)))
                    .collect();
                *by_keys.entry(key).or_default() += 1;
            }
        }
        for (keys, count) in by_keys {
            let mut group = Vec::with_capacity(keys.len());
            for (column, key) in groups.iter().zip(keys) {
                let value = match key {
                    None => None,
                    Some(key) => {
                        let values = column
                            .values()
                            .as_string_opt::<i32>()
                            .ok_or_else(|| damaged("a keyword column does not hold text"))?;
                        let index = usize::try_from(key).map_err(|_| damaged("negative key"))?;
                        if index >= values.len() {
                            return Err(damaged("a dictionary key out of range"));
                        }
                        Some(values.value(index).to_string())
                    }
                };
                group.push(value);
            }
            *counts.entry(group).or_default() += count;
        }
    }
    Ok(())
}

/// Count rows in the reference order: largest first, then by group (the
/// missing value first).
fn count_rows(counts: HashMap<Group, u64>, aggregations: usize) -> Vec<StatsRow> {
    let mut rows: Vec<(Group, u64)> = counts.into_iter().filter(|(_, count)| *count > 0).collect();
    rows.sort_by(|(left_group, left), (right_group, right)| {
        right.cmp(left).then_with(|| left_group.cmp(right_group))
    });
    rows.into_iter()
        .map(|(group, count)| StatsRow {
            group: group
                .into_iter()
                .map(|value| value.map_or(Json::Null, Json::String))
                .collect(),
            values: vec![Json::from(count); aggregations],
        })
        .collect()
}

/// The reference aggregator over every confirmed event.
fn by_events(
    store: &Store,
    snapshot: &evident_store::Snapshot,
    plan: &Plan<'_>,
    window: Window,
    stats: &Stats,
) -> Result<Vec<StatsRow>, QueryError> {
    let mut aggregator = Aggregator::new(stats);
    for sealed in &snapshot.sealed {
        segment_matches(store, sealed, plan, window, |stored| {
            aggregator.add(&stored.event);
        })?;
    }
    tail_matches(snapshot, plan, window, |stored| {
        aggregator.add(&stored.event)
    })?;
    Ok(aggregator.finish())
}

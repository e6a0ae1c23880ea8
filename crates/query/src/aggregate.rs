//! `| stats` over the events a filter accepts in a window.
//!
//! Counting, grouped by nothing or by dictionary columns (`service`,
//! `host`, `source`, `status`, promoted attributes), reads no event:
//! the term index gives the rows (all of them for `*`), the dictionary
//! keys of the group columns give the groups, and the `timestamp` column
//! is read only for segments the window cuts. A segment the window covers,
//! counted by one column with `*`, reads nothing at all: the value counts
//! kept in its footer at seal time answer. Everything else (other
//! aggregations, other fields, queries the index cannot decide, segments
//! where a group field holds several values in one event, the tail) goes
//! through the reference aggregator over the confirmed events. The two are
//! merged into the reference's row order.
//!
//! A timeseries is the same count per time bucket: the `timestamp` column
//! places each row in its bucket.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, DictionaryArray};
use arrow::datatypes::{Int32Type, TimestampNanosecondType};
use evident_model::{ReservedField, StoredEvent};
use evident_search::ast::{AggregateFunction, Field};
use evident_search::{Aggregator, Expr, Stats, StatsRow};
use evident_store::segment::{PROMOTED_ATTRIBUTES, SegmentMeta};
use evident_store::{Sealed, Store};
use serde_json::Value as Json;

use crate::QueryError;
use crate::candidates::{Plan, Window, in_parallel, segment_matches, tail_matches};

/// A group: one value (or none) per `by` field.
pub(crate) type Group = Vec<Option<String>>;

/// Counts per time bucket (0 without buckets) and group.
pub(crate) type Counts = HashMap<(usize, Group), u64>;

/// The time buckets of a timeseries: `count` buckets of `step` ns, the
/// first starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub start: i64,
    pub step: i64,
    pub count: usize,
}

impl Buckets {
    /// The bucket an event timed `time` falls in.
    fn index(&self, time: i64) -> Option<usize> {
        if time < self.start || self.step <= 0 {
            return None;
        }
        let index = usize::try_from((time - self.start) / self.step).ok()?;
        (index < self.count).then_some(index)
    }
}

/// Where each counted event goes: one bucket, or a timeseries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slots {
    Total,
    Series(Buckets),
}

impl Slots {
    fn count(self) -> usize {
        match self {
            Slots::Total => 1,
            Slots::Series(buckets) => buckets.count,
        }
    }

    fn of(self, time: i64) -> Option<usize> {
        match self {
            Slots::Total => Some(0),
            Slots::Series(buckets) => buckets.index(time),
        }
    }
}

/// The rows of `stats` over the events in `window` that `filter` accepts,
/// exactly as [`Aggregator`] computes them over those events.
pub fn aggregate(
    store: &Store,
    filter: &Expr,
    window: Window,
    stats: &Stats,
) -> Result<Vec<StatsRow>, QueryError> {
    let mut totals = aggregate_slots(store, filter, window, stats, Slots::Total)?;
    Ok(totals.pop().unwrap_or_default())
}

/// The rows of `stats` in each time bucket (by event time), exactly as an
/// [`Aggregator`] per bucket computes them; events outside every bucket
/// are left out.
pub fn timeseries(
    store: &Store,
    filter: &Expr,
    window: Window,
    stats: &Stats,
    buckets: Buckets,
) -> Result<Vec<Vec<StatsRow>>, QueryError> {
    aggregate_slots(store, filter, window, stats, Slots::Series(buckets))
}

fn aggregate_slots(
    store: &Store,
    filter: &Expr,
    window: Window,
    stats: &Stats,
    slots: Slots,
) -> Result<Vec<Vec<StatsRow>>, QueryError> {
    let snapshot = store.snapshot();
    let plan = Plan::new(filter);
    let columns: Option<Vec<GroupColumn>> = stats.group_by.iter().map(group_column).collect();
    let counts_only = stats
        .aggregations
        .iter()
        .all(|aggregation| aggregation.function == AggregateFunction::Count);
    let columnar = match columns {
        Some(columns) if counts_only && plan.exact => columns,
        _ => return by_events(store, &snapshot, &plan, window, stats, slots),
    };

    let names: Vec<String> = columnar.iter().map(GroupColumn::name).collect();
    let mut counts = Counts::new();
    let mut by_rows: Vec<Aggregator<'_>> =
        (0..slots.count()).map(|_| Aggregator::new(stats)).collect();
    // Segments whose columns do not hold every grouped value whole are read.
    let (to_read, to_count): (Vec<_>, Vec<_>) = snapshot
        .sealed
        .iter()
        .partition(|sealed| !columnar.iter().all(|column| column.whole_in(&sealed.meta)));
    for sealed in to_read {
        segment_matches(store, sealed, &plan, window, |stored| {
            add_event(&mut by_rows, slots, &stored);
        })?;
    }
    let per_segment = in_parallel(&to_count, |sealed| {
        let mut counts = Counts::new();
        count_columns(store, sealed, &plan, window, &names, slots, &mut counts)?;
        Ok(counts)
    })?;
    for segment_counts in per_segment {
        for (key, count) in segment_counts {
            *counts.entry(key).or_default() += count;
        }
    }
    tail_matches(&snapshot, &plan, window, |stored| {
        add_event(&mut by_rows, slots, &stored)
    })?;
    for (slot, aggregator) in by_rows.into_iter().enumerate() {
        for row in aggregator.finish()? {
            let group = row
                .group
                .iter()
                .map(|value| value.as_str().map(str::to_string))
                .collect();
            let count = row.values.first().and_then(Json::as_u64).unwrap_or(0);
            *counts.entry((slot, group)).or_default() += count;
        }
    }
    let mut per_slot: Vec<HashMap<Group, u64>> = vec![HashMap::new(); slots.count()];
    for ((slot, group), count) in counts {
        if let Some(groups) = per_slot.get_mut(slot) {
            *groups.entry(group).or_default() += count;
        }
    }
    if per_slot
        .iter()
        .any(|groups| groups.len() > evident_search::stats::MAX_GROUPS)
    {
        return Err(evident_search::TooManyGroups::Total.into());
    }
    Ok(per_slot
        .into_iter()
        .map(|groups| count_rows(groups, stats.aggregations.len()))
        .collect())
}

fn add_event(aggregators: &mut [Aggregator<'_>], slots: Slots, stored: &StoredEvent) {
    if let Some(aggregator) = slots
        .of(stored.time_nanos())
        .and_then(|slot| aggregators.get_mut(slot))
    {
        aggregator.add(&stored.event);
    }
}

/// A segment column that can hold a group field's single value.
#[derive(Debug, Clone)]
enum GroupColumn {
    /// `service`, `host`, `source`: always the field itself.
    Keyword(&'static str),
    /// `status`, where a segment says no event kept it as an attribute.
    Status,
    /// A promoted attribute, where a segment holds it whole.
    Promoted(&'static str),
}

impl GroupColumn {
    fn name(&self) -> String {
        match self {
            GroupColumn::Keyword(name) => (*name).to_string(),
            GroupColumn::Status => "status".into(),
            GroupColumn::Promoted(path) => format!("@{path}"),
        }
    }

    /// Whether the column of `segment` holds, in every row, exactly the
    /// value the reference aggregator groups that row on.
    fn whole_in(&self, segment: &SegmentMeta) -> bool {
        match self {
            GroupColumn::Keyword(_) => true,
            GroupColumn::Status => segment.status_whole,
            GroupColumn::Promoted(path) => segment.whole_column(path).is_some(),
        }
    }
}

/// The column holding a group field's single value; `None` when no column
/// does.
fn group_column(field: &Field) -> Option<GroupColumn> {
    match field {
        Field::Reserved(ReservedField::Service) => Some(GroupColumn::Keyword("service")),
        Field::Reserved(ReservedField::Host) => Some(GroupColumn::Keyword("host")),
        Field::Reserved(ReservedField::Source) => Some(GroupColumn::Keyword("source")),
        Field::Reserved(ReservedField::Status) => Some(GroupColumn::Status),
        Field::Attribute(path) => PROMOTED_ATTRIBUTES
            .iter()
            .find(|promoted| {
                promoted
                    .split('.')
                    .eq(path.segments().iter().map(String::as_str))
            })
            .map(|promoted| GroupColumn::Promoted(promoted)),
        _ => None,
    }
}

/// Above this many (bucket, value) slots a batch counts in a hash map
/// rather than an array.
const DENSE_SLOTS: usize = 1 << 16;

/// Adds a segment's candidate rows to `counts` from its dictionary
/// columns `names` (which must hold the grouped values whole).
pub(crate) fn count_columns(
    store: &Store,
    sealed: &Sealed,
    plan: &Plan<'_>,
    window: Window,
    names: &[String],
    slots: Slots,
    counts: &mut Counts,
) -> Result<(), QueryError> {
    let meta = &sealed.meta;
    if !window.overlaps(meta.min_time, meta.max_time) {
        return Ok(());
    }
    // With nothing required every row is a candidate: no list to build.
    let rows = (!plan.every_row()).then(|| plan.segment_rows(&sealed.index));
    let candidates = rows.as_ref().map_or(meta.rows(), |rows| rows.len() as u64);
    if candidates == 0 {
        return Ok(());
    }
    let cut = !window.covers(meta.min_time, meta.max_time);
    let series = matches!(slots, Slots::Series(_));
    if names.is_empty() && !cut && !series {
        *counts.entry((0, Vec::new())).or_default() += candidates;
        return Ok(());
    }
    // Every row of a segment the window covers, by one column: the counts
    // taken when it was sealed, when it has them.
    if let [name] = names
        && rows.is_none()
        && !cut
        && !series
        && let Some(values) = store.value_counts(sealed)?.get(name)
    {
        for (value, count) in values {
            *counts.entry((0, vec![value.clone()])).or_default() += count;
        }
        return Ok(());
    }
    let mut read: Vec<&str> = names.iter().map(String::as_str).collect();
    if cut || series {
        read.push("timestamp");
    }
    // Batch by batch: each has its own dictionaries, and merging them
    // would cost more than counting.
    for batch in store.read_sealed_batches(sealed, &read, rows.as_deref())? {
        let damaged = |reason: &str| QueryError::Damaged {
            path: meta.path.clone(),
            reason: reason.to_string(),
        };
        // Each row's slot; `None`: outside the window or every bucket.
        let row_slots: Vec<Option<usize>> = if cut || series {
            let times = batch
                .column_by_name("timestamp")
                .and_then(|column| column.as_primitive_opt::<TimestampNanosecondType>())
                .ok_or_else(|| damaged("timestamp is not a nanosecond timestamp"))?;
            times
                .values()
                .iter()
                .map(|time| window.contains(*time).then(|| slots.of(*time)).flatten())
                .collect()
        } else {
            vec![Some(0); batch.num_rows()]
        };
        // Columns come back in file order, so look them up by name.
        let groups: Vec<&DictionaryArray<Int32Type>> = names
            .iter()
            .map(|name| {
                batch
                    .column_by_name(name)
                    .and_then(|column| column.as_dictionary_opt::<Int32Type>())
                    .ok_or_else(|| damaged("a keyword column is not dictionary encoded"))
            })
            .collect::<Result<_, _>>()?;
        // Count dictionary keys first, then name the groups: no string work
        // (and, for at most one column, no hashing) per row.
        let mut by_keys: HashMap<(usize, Vec<Option<i32>>), u64> = HashMap::new();
        let width = groups.first().map_or(1, |column| column.values().len() + 1);
        let dense = groups.len() <= 1 && slots.count().saturating_mul(width) <= DENSE_SLOTS;
        if dense {
            let missing_key = width - 1;
            let mut per_slot = vec![0u64; slots.count() * width];
            for (row, slot) in row_slots.iter().enumerate() {
                let Some(slot) = slot else { continue };
                let key = match groups.first() {
                    None => 0,
                    Some(column) if column.is_valid(row) => {
                        let key = usize::try_from(column.keys().value(row)).unwrap_or(usize::MAX);
                        if key >= missing_key {
                            return Err(damaged("a dictionary key out of range"));
                        }
                        key
                    }
                    Some(_) => missing_key,
                };
                per_slot[slot * width + key] += 1;
            }
            for (index, count) in per_slot.into_iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let (slot, key) = (index / width, index % width);
                let keys = match groups.first() {
                    None => Vec::new(),
                    Some(_) if key == missing_key => vec![None],
                    Some(_) => vec![i32::try_from(key).ok()],
                };
                by_keys.insert((slot, keys), count);
            }
        } else {
            for (row, slot) in row_slots.iter().enumerate() {
                let Some(slot) = slot else { continue };
                let key = groups
                    .iter()
                    .map(|column| column.is_valid(row).then(|| column.keys().value(row)))
                    .collect();
                *by_keys.entry((*slot, key)).or_default() += 1;
            }
        }
        for ((slot, keys), count) in by_keys {
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
            *counts.entry((slot, group)).or_default() += count;
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
    slots: Slots,
) -> Result<Vec<Vec<StatsRow>>, QueryError> {
    let mut aggregators: Vec<Aggregator<'_>> =
        (0..slots.count()).map(|_| Aggregator::new(stats)).collect();
    for sealed in &snapshot.sealed {
        segment_matches(store, sealed, plan, window, |stored| {
            add_event(&mut aggregators, slots, &stored);
        })?;
    }
    tail_matches(snapshot, plan, window, |stored| {
        add_event(&mut aggregators, slots, &stored)
    })?;
    Ok(aggregators
        .into_iter()
        .map(Aggregator::finish)
        .collect::<Result<_, _>>()?)
}

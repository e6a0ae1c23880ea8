//! The reference evaluation of `| stats`: what an aggregation means for a
//! stream of events. The store's columnar aggregation must agree with it.
//!
//! - An event counts in every group its `by` fields reach: a field holding
//!   an array puts the event in one group per distinct element, several
//!   `by` fields combine as a product. An event without the field goes to
//!   the `null` group of that field.
//! - `count` counts events; `count(@f)` / `cardinality(@f)` counts the
//!   distinct values of `@f` (through their JSON text, so `200` and `"200"`
//!   are one value).
//! - `sum`, `avg`, `min`, `max`, `median` and `pcNN` take the numeric values
//!   of the field: JSON numbers, and strings that read as numbers (audit
//!   events carry `@http.status_code` as `"200"`). A group with no numeric
//!   value gets `null`. Percentiles use the nearest-rank method (`median`
//!   is `pc50`).
//! - Rows come sorted by the first aggregation, largest first, then by the
//!   group values; there is no row limit here (the API applies one).
//! - Bounded: at most [`MAX_GROUP_BY`] `by` fields (the parser's rule), one
//!   event in at most [`MAX_GROUPS_PER_EVENT`] groups, at most
//!   [`MAX_GROUPS`] groups in all. Past a bound the aggregation stops and
//!   [`Aggregator::finish`] says which ([`TooManyGroups`]), instead of
//!   growing with what array values multiply.

use std::collections::{BTreeMap, BTreeSet};

use evident_model::{Event, ReservedField};
use serde_json::Value as Json;

use crate::ast::{AggregateFunction, Aggregation, Field, Number, Stats};

/// The most `by` fields of one `| stats`.
pub const MAX_GROUP_BY: usize = 4;
/// The most groups one event may count in (array values across `by`
/// fields multiply).
pub const MAX_GROUPS_PER_EVENT: usize = 1_000;
/// The most groups one aggregation may hold.
pub const MAX_GROUPS: usize = 100_000;

/// An aggregation that went past one of its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TooManyGroups {
    #[error(
        "an event falls into more than {MAX_GROUPS_PER_EVENT} groups (array values multiply across the 'by' fields): group by fewer fields"
    )]
    PerEvent,
    #[error(
        "the aggregation has more than {MAX_GROUPS} groups: narrow the query or group by fewer fields"
    )]
    Total,
}

/// One output row: the group's values (one per `by` field, `Json::Null` for
/// the missing group) and one value per aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRow {
    pub group: Vec<Json>,
    pub values: Vec<Json>,
}

/// Accumulates events, then produces rows.
#[derive(Debug)]
pub struct Aggregator<'q> {
    stats: &'q Stats,
    groups: BTreeMap<Vec<GroupKey>, Vec<Accumulator>>,
    /// Set when a bound was crossed; no event is added after it.
    overflow: Option<TooManyGroups>,
}

/// A group value with a total order, so that output is deterministic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey {
    Missing,
    Text(String),
}

impl GroupKey {
    fn to_json(&self) -> Json {
        match self {
            GroupKey::Missing => Json::Null,
            GroupKey::Text(text) => Json::String(text.clone()),
        }
    }
}

#[derive(Debug)]
enum Accumulator {
    Count(u64),
    Distinct(BTreeSet<String>),
    /// Every numeric value, for sums, extremes and ranks.
    Numbers(Vec<f64>),
}

impl<'q> Aggregator<'q> {
    pub fn new(stats: &'q Stats) -> Aggregator<'q> {
        Aggregator {
            stats,
            groups: BTreeMap::new(),
            overflow: None,
        }
    }

    /// Adds one event that matched the filter.
    pub fn add(&mut self, event: &Event) {
        if self.overflow.is_some() {
            return;
        }
        let mut per_field = Vec::with_capacity(self.stats.group_by.len());
        let mut fan_out: usize = 1;
        for field in &self.stats.group_by {
            let mut values: Vec<GroupKey> = field_texts(field, event)
                .into_iter()
                .map(GroupKey::Text)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if values.is_empty() {
                values.push(GroupKey::Missing);
            }
            fan_out = fan_out.saturating_mul(values.len());
            per_field.push(values);
        }
        // Checked before the product is built: it is what would grow.
        if fan_out > MAX_GROUPS_PER_EVENT {
            self.overflow = Some(TooManyGroups::PerEvent);
            return;
        }
        let mut keys: Vec<Vec<GroupKey>> = vec![Vec::new()];
        for values in &per_field {
            keys = keys
                .into_iter()
                .flat_map(|prefix| {
                    values.iter().map(move |value| {
                        let mut key = prefix.clone();
                        key.push(value.clone());
                        key
                    })
                })
                .collect();
        }
        for key in keys {
            if self.groups.len() >= MAX_GROUPS && !self.groups.contains_key(&key) {
                self.overflow = Some(TooManyGroups::Total);
                return;
            }
            let accumulators = self.groups.entry(key).or_insert_with(|| {
                self.stats
                    .aggregations
                    .iter()
                    .map(Accumulator::for_aggregation)
                    .collect()
            });
            for (accumulator, aggregation) in accumulators.iter_mut().zip(&self.stats.aggregations)
            {
                accumulator.add(aggregation, event);
            }
        }
    }

    /// The rows, or the bound the aggregation crossed.
    pub fn finish(self) -> Result<Vec<StatsRow>, TooManyGroups> {
        if let Some(overflow) = self.overflow {
            return Err(overflow);
        }
        let functions: Vec<AggregateFunction> = self
            .stats
            .aggregations
            .iter()
            .map(|aggregation| aggregation.function)
            .collect();
        let mut rows: Vec<(Vec<GroupKey>, Vec<Json>)> = self
            .groups
            .into_iter()
            .map(|(key, accumulators)| {
                let values = accumulators
                    .into_iter()
                    .zip(&functions)
                    .map(|(accumulator, function)| accumulator.finish(*function))
                    .collect();
                (key, values)
            })
            .collect();
        rows.sort_by(|(left_key, left), (right_key, right)| {
            let first = |values: &[Json]| values.first().and_then(Json::as_f64);
            first(right)
                .partial_cmp(&first(left))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| left_key.cmp(right_key))
        });
        Ok(rows
            .into_iter()
            .map(|(key, values)| StatsRow {
                group: key.iter().map(GroupKey::to_json).collect(),
                values,
            })
            .collect())
    }
}

impl Accumulator {
    fn for_aggregation(aggregation: &Aggregation) -> Accumulator {
        match aggregation.function {
            AggregateFunction::Count => Accumulator::Count(0),
            AggregateFunction::CountDistinct => Accumulator::Distinct(BTreeSet::new()),
            _ => Accumulator::Numbers(Vec::new()),
        }
    }

    fn add(&mut self, aggregation: &Aggregation, event: &Event) {
        let texts = || {
            aggregation
                .field
                .as_ref()
                .map(|field| field_texts(field, event))
                .unwrap_or_default()
        };
        match self {
            Accumulator::Count(count) => *count += 1,
            Accumulator::Distinct(seen) => seen.extend(texts()),
            Accumulator::Numbers(numbers) => numbers.extend(
                texts()
                    .iter()
                    .filter_map(|text| Number::parse(text))
                    .map(Number::as_f64),
            ),
        }
    }

    fn finish(self, function: AggregateFunction) -> Json {
        match self {
            Accumulator::Count(count) => Json::from(count),
            Accumulator::Distinct(seen) => Json::from(seen.len() as u64),
            Accumulator::Numbers(mut numbers) => {
                if numbers.is_empty() {
                    return Json::Null;
                }
                numbers.sort_by(f64::total_cmp);
                let count = numbers.len() as f64;
                let value = match function {
                    AggregateFunction::Sum => numbers.iter().sum(),
                    AggregateFunction::Avg => numbers.iter().sum::<f64>() / count,
                    AggregateFunction::Min => numbers[0],
                    AggregateFunction::Max => numbers[numbers.len() - 1],
                    AggregateFunction::Median => nearest_rank(&numbers, 50),
                    AggregateFunction::Percentile(percent) => nearest_rank(&numbers, percent),
                    AggregateFunction::Count | AggregateFunction::CountDistinct => count,
                };
                serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number)
            }
        }
    }
}

/// The smallest value with at least `percent`% of the values at or below it.
fn nearest_rank(sorted: &[f64], percent: u8) -> f64 {
    let rank = (f64::from(percent) / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The values a field holds, as text (numbers and booleans through their
/// JSON text; objects and nulls are left out).
pub fn field_texts(field: &Field, event: &Event) -> Vec<String> {
    let scalar_text = |json: &Json| match json {
        Json::String(text) => Some(text.clone()),
        Json::Number(number) => Some(number.to_string()),
        Json::Bool(flag) => Some(flag.to_string()),
        Json::Null | Json::Array(_) | Json::Object(_) => None,
    };
    match field {
        Field::Attribute(path) => {
            let values = path.resolve(&event.attributes);
            match (&event.status, path.segments()) {
                // `@status` falls back to the reserved status, as the
                // matcher and the SQL column do.
                (Some(status), [only]) if values.is_empty() && only == "status" => {
                    vec![status.clone()]
                }
                _ => values.into_iter().filter_map(scalar_text).collect(),
            }
        }
        Field::Reserved(ReservedField::Timestamp) => event
            .timestamp
            .map(|timestamp| timestamp.to_string())
            .into_iter()
            .collect(),
        Field::Reserved(ReservedField::Status) if event.status.is_none() => event
            .attributes
            .get("status")
            .and_then(scalar_text)
            .into_iter()
            .collect(),
        Field::Reserved(reserved) => event
            .reserved_text(*reserved)
            .map(str::to_string)
            .into_iter()
            .collect(),
        Field::Tags => event.tags.clone(),
        Field::TagKey(key) => event
            .tags
            .iter()
            .filter_map(|tag| {
                tag.split_once(':')
                    .filter(|(tag_key, _)| tag_key == key)
                    .map(|(_, value)| value.to_string())
            })
            .collect(),
        Field::FreeText | Field::AnyField => event.message.clone().into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aggregate(query: &str, events: &[&str]) -> Result<Vec<StatsRow>, TooManyGroups> {
        let query = crate::parse(query).expect("valid query");
        let stats = query.stats.as_ref().expect("a stats pipe");
        let mut aggregator = Aggregator::new(stats);
        for text in events {
            let event: Event = serde_json::from_str(text).expect("valid event");
            if crate::matches(&query.filter, &event) {
                aggregator.add(&event);
            }
        }
        aggregator.finish()
    }

    fn run(query: &str, events: &[&str]) -> Vec<StatsRow> {
        aggregate(query, events).expect("within the bounds")
    }

    #[test]
    fn array_fan_out_and_group_counts_are_bounded() {
        let values: Vec<String> = (0..200).map(|index| format!("\"v{index}\"")).collect();
        let event = format!(r#"{{"attributes":{{"arr":[{}]}}}}"#, values.join(","));
        // 200 groups of one field: fine; 200 x 200 from one event: refused.
        assert_eq!(run("* | stats count by @arr", &[&event]).len(), 200);
        assert_eq!(
            aggregate("* | stats count by @arr, @arr, @arr", &[&event]),
            Err(TooManyGroups::PerEvent)
        );
        let many: Vec<String> = (0..=MAX_GROUPS)
            .map(|index| format!(r#"{{"attributes":{{"u":"user-{index}"}}}}"#))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            aggregate("* | stats count by @u", &many),
            Err(TooManyGroups::Total)
        );
        assert_eq!(
            aggregate("* | stats count by @u", &many[..MAX_GROUPS]).map(|rows| rows.len()),
            Ok(MAX_GROUPS)
        );
        let error = crate::parse("* | stats count by @a, @b, @c, @d, @e").err();
        assert!(
            error.is_some_and(|error| error.message.contains("at most 4 fields")),
            "five group-by fields parse"
        );
    }

    #[test]
    fn counts_by_field_with_a_null_group() {
        let rows = run(
            "@aegis.decision:BLOCKED | stats count by @aegis.actor_id",
            &[
                r#"{"attributes":{"aegis":{"decision":"BLOCKED","actor_id":"u1"}}}"#,
                r#"{"attributes":{"aegis":{"decision":"BLOCKED","actor_id":"u1"}}}"#,
                r#"{"attributes":{"aegis":{"decision":"ALLOWED","actor_id":"u2"}}}"#,
                r#"{"attributes":{"aegis":{"decision":"BLOCKED"}}}"#,
            ],
        );
        assert_eq!(
            rows,
            vec![
                StatsRow {
                    group: vec![Json::from("u1")],
                    values: vec![Json::from(2)]
                },
                StatsRow {
                    group: vec![Json::Null],
                    values: vec![Json::from(1)]
                },
            ]
        );
    }

    #[test]
    fn numeric_and_distinct_aggregations() {
        let rows = run(
            "| stats count, count(@usr.id), sum(@n), avg(@n), min(@n), max(@n), median(@n), pc90(@n)",
            &[
                r#"{"attributes":{"usr":{"id":1},"n":10}}"#,
                r#"{"attributes":{"usr":{"id":"1"},"n":"20"}}"#,
                r#"{"attributes":{"usr":{"id":2},"n":30}}"#,
                r#"{"attributes":{"n":"not a number"}}"#,
            ],
        );
        let values: Vec<f64> = rows[0]
            .values
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        assert_eq!(values, [4.0, 2.0, 60.0, 20.0, 10.0, 30.0, 20.0, 30.0]);
    }

    #[test]
    fn arrays_put_an_event_in_each_group() {
        let rows = run(
            "| stats count by @users, env",
            &[r#"{"tags":["env:prod"],"attributes":{"users":["a","b","a"]}}"#],
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].group, vec![Json::from("a"), Json::from("prod")]);
        assert_eq!(rows[1].group, vec![Json::from("b"), Json::from("prod")]);
    }
}

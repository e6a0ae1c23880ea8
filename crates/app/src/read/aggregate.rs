//! `POST /api/v2/logs/analytics/aggregate`: counts and measures, grouped by
//! facets, as totals or timeseries, in Datadog's request and response
//! shapes. A `| stats ...` pipe in `filter.query` is the same request
//! written in the search syntax, and goes through the same path.

use std::collections::HashMap;

use evident_model::Timestamp;
use evident_search::ast::{AggregateFunction, Aggregation};
use evident_search::{Stats, StatsRow};
use evident_store::Store;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::search::{format_time, resolve_window, window};
use crate::error::AppError;

const DEFAULT_GROUP_LIMIT: usize = 10;
const MAX_BUCKETS: usize = 10_000;
/// Timeseries without an interval get about this many points.
const DEFAULT_POINTS: i64 = 150;

#[derive(Debug, Default, Deserialize)]
pub struct AggregateBody {
    #[serde(default)]
    filter: Filter,
    #[serde(default)]
    compute: Vec<Compute>,
    #[serde(default)]
    group_by: Vec<GroupBy>,
}

#[derive(Debug, Default, Deserialize)]
struct Filter {
    query: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl AggregateBody {
    pub(crate) fn query(&self) -> &str {
        self.filter.query.as_deref().unwrap_or_default()
    }

    pub(crate) fn from(&self) -> Option<&str> {
        self.filter.from.as_deref()
    }

    pub(crate) fn to(&self) -> Option<&str> {
        self.filter.to.as_deref()
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Compute {
    aggregation: String,
    metric: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    interval: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
struct GroupBy {
    facet: String,
    limit: Option<i64>,
    missing: Option<Value>,
}

/// `5m`, `1h`, `30s`, `1d` or a number of milliseconds.
fn parse_interval(value: &Value) -> Result<i64, AppError> {
    let invalid = || {
        AppError::invalid(format!(
            "invalid interval {value}: use 30s, 5m, 1h, 1d or milliseconds"
        ))
    };
    let millis = match value {
        Value::Number(number) => number.as_i64().ok_or_else(invalid)?,
        Value::String(text) => {
            let digits_end = text
                .find(|ch: char| !ch.is_ascii_digit())
                .unwrap_or(text.len());
            let (number, unit) = text.split_at(digits_end);
            let number: i64 = number.parse().map_err(|_| invalid())?;
            let unit_millis = match unit {
                "" | "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 7 * 86_400_000,
                _ => return Err(invalid()),
            };
            number.checked_mul(unit_millis).ok_or_else(invalid)?
        }
        _ => return Err(invalid()),
    };
    if millis <= 0 {
        return Err(invalid());
    }
    Ok(millis)
}

/// The answer to an aggregation request. Blocks (it reads segments).
pub(crate) fn aggregate(store: &Store, body: AggregateBody) -> Result<Value, AppError> {
    let query_text = body.filter.query.clone().unwrap_or_default();
    let query = evident_search::parse(&query_text)
        .map_err(|error| AppError::invalid(format!("invalid query: {error}")))?;
    let (computes, group_by) = match &query.stats {
        Some(_) if !body.compute.is_empty() || !body.group_by.is_empty() => {
            return Err(AppError::invalid(
                "use either a '| stats' pipe or compute/group_by, not both",
            ));
        }
        Some(stats) => from_pipe(stats),
        None if body.compute.is_empty() => (
            vec![Compute {
                aggregation: "count".into(),
                metric: None,
                kind: None,
                interval: None,
            }],
            body.group_by.clone(),
        ),
        None => (body.compute.clone(), body.group_by.clone()),
    };

    let mut aggregations = Vec::new();
    for compute in &computes {
        let Some(function) = AggregateFunction::from_name(&compute.aggregation) else {
            return Err(AppError::invalid(format!(
                "unknown aggregation {:?}",
                compute.aggregation
            )));
        };
        let field = compute
            .metric
            .as_deref()
            .map(|metric| {
                evident_search::parse_field(metric).map_err(|error| {
                    AppError::invalid(format!("invalid metric {metric:?}: {error}"))
                })
            })
            .transpose()?;
        // `count` counts events, with or without a metric.
        let field = if function == AggregateFunction::Count {
            None
        } else {
            field
        };
        if function != AggregateFunction::Count && field.is_none() {
            return Err(AppError::invalid(format!(
                "{} needs a metric",
                compute.aggregation
            )));
        }
        aggregations.push(Aggregation {
            function,
            field,
            alias: None,
        });
    }
    if group_by.len() > evident_search::stats::MAX_GROUP_BY {
        return Err(AppError::invalid(format!(
            "group_by has at most {} facets",
            evident_search::stats::MAX_GROUP_BY
        )));
    }
    let mut fields = Vec::new();
    for group in &group_by {
        fields.push(evident_search::parse_field(&group.facet).map_err(|error| {
            AppError::invalid(format!("invalid facet {:?}: {error}", group.facet))
        })?);
    }
    let stats = Stats {
        aggregations,
        group_by: fields,
    };

    let (from, to) = resolve_window(
        body.filter.from.as_deref().unwrap_or("now-15m"),
        body.filter.to.as_deref().unwrap_or("now"),
    )?;
    let failed = |error: evident_query::QueryError| match error {
        evident_query::QueryError::TooManyGroups(bound) => AppError::invalid(bound.to_string()),
        other => AppError::internal(format!("aggregation failed: {other}")),
    };
    let rows =
        evident_query::aggregate(store, &query.filter, window(from, to), &stats).map_err(failed)?;
    let rows = limit_groups(rows, &group_by)?;

    let timeseries: Vec<Option<i64>> = computes
        .iter()
        .map(|compute| match compute.kind.as_deref() {
            Some("timeseries") => Some(match &compute.interval {
                Some(interval) => parse_interval(interval),
                None => {
                    Ok(((to.as_nanos() - from.as_nanos()) / 1_000_000 / DEFAULT_POINTS).max(1_000))
                }
            }),
            _ => None,
        })
        .map(Option::transpose)
        .collect::<Result<_, _>>()?;
    let series: HashMap<i64, Vec<(i64, Vec<StatsRow>)>> = timeseries
        .iter()
        .flatten()
        .map(|&interval| {
            let buckets = buckets(from, to, interval);
            let rows =
                evident_query::timeseries(store, &query.filter, window(from, to), &stats, buckets)
                    .map_err(failed)?;
            let starts = (0..).map(|index: i64| buckets.start + index * buckets.step);
            Ok((interval, starts.zip(rows).collect()))
        })
        .collect::<Result<_, AppError>>()?;
    let buckets: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut by = Map::new();
            for (group, value) in group_by.iter().zip(&row.group) {
                let value = match (value, &group.missing) {
                    (Value::Null, Some(missing)) => missing.clone(),
                    (value, _) => value.clone(),
                };
                by.insert(group.facet.clone(), value);
            }
            let mut computes_out = Map::new();
            for (index, value) in row.values.iter().enumerate() {
                let computed = match timeseries[index] {
                    None => value.clone(),
                    Some(interval) => {
                        let points: Vec<Value> = series[&interval]
                            .iter()
                            .map(|(start, rows)| {
                                let point = rows
                                    .iter()
                                    .find(|candidate| candidate.group == row.group)
                                    .map(|candidate| candidate.values[index].clone())
                                    .unwrap_or_else(|| empty_value(stats.aggregations[index].function));
                                json!({"time": format_time(Timestamp::from_nanos(*start)), "value": point})
                            })
                            .collect();
                        Value::Array(points)
                    }
                };
                computes_out.insert(format!("c{index}"), computed);
            }
            json!({"by": by, "computes": computes_out})
        })
        .collect();
    Ok(json!({"data": {"buckets": buckets}, "meta": {"status": "done"}}))
}

/// The pipe `| stats count, sum(@x) by @a` as compute and group_by.
fn from_pipe(stats: &Stats) -> (Vec<Compute>, Vec<GroupBy>) {
    let computes = stats
        .aggregations
        .iter()
        .map(|aggregation| Compute {
            aggregation: aggregation.function.api_name(),
            metric: aggregation.field.as_ref().map(ToString::to_string),
            kind: None,
            interval: None,
        })
        .collect();
    let group_by = stats
        .group_by
        .iter()
        .map(|field| GroupBy {
            facet: field.to_string(),
            limit: None,
            missing: None,
        })
        .collect();
    (computes, group_by)
}

fn empty_value(function: AggregateFunction) -> Value {
    match function {
        AggregateFunction::Count | AggregateFunction::CountDistinct => json!(0),
        _ => Value::Null,
    }
}

/// Keeps, level by level, the first `limit` values of each facet (rows
/// come sorted by the first compute, largest first).
fn limit_groups(rows: Vec<StatsRow>, group_by: &[GroupBy]) -> Result<Vec<StatsRow>, AppError> {
    let mut kept = rows;
    let mut product = 1usize;
    for (level, group) in group_by.iter().enumerate() {
        let limit = match group.limit {
            None => DEFAULT_GROUP_LIMIT,
            Some(limit) if limit >= 1 => limit as usize,
            Some(_) => {
                return Err(AppError::invalid(format!(
                    "the limit of facet {:?} must be at least 1",
                    group.facet
                )));
            }
        };
        product = product.saturating_mul(limit);
        if product > MAX_BUCKETS {
            return Err(AppError::invalid(format!(
                "group_by limits multiply to more than {MAX_BUCKETS} buckets"
            )));
        }
        let mut allowed: Vec<Value> = Vec::new();
        for row in &kept {
            let value = &row.group[level];
            if !allowed.contains(value) && allowed.len() < limit {
                allowed.push(value.clone());
            }
        }
        kept.retain(|row| allowed.contains(&row.group[level]));
    }
    Ok(kept)
}

/// The buckets of `interval` milliseconds from the one holding `from` to
/// the one holding `to` (at most [`MAX_BUCKETS`]).
fn buckets(from: Timestamp, to: Timestamp, interval: i64) -> evident_query::Buckets {
    let step = interval.saturating_mul(1_000_000);
    let start = from.as_nanos() - from.as_nanos().rem_euclid(step);
    let count = ((to.as_nanos() - start) / step + 1).clamp(1, MAX_BUCKETS as i64) as usize;
    evident_query::Buckets { start, step, count }
}

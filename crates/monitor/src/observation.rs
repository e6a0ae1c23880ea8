//! What one event brings to one monitor, taken from the event once: its
//! time, the groups it falls in, what it adds to a window, a new-value
//! monitor's values. Judging an observation needs no event, so it can be
//! taken where the event is parsed anyway (the intake, in parallel) and
//! judged later, in log order, by the one evaluator.

use std::collections::BTreeMap;

use evident_model::Event;
use twox_hash::XxHash3_64;

use crate::evaluator::{Definition, MISSING};
use crate::query::{Kind, MonitorQuery, Rollup};
use crate::window::Contribution;

/// A group an event falls in: its key (`usr.email:a@b.c,…`) and values by
/// field name without `@`.
pub type Group = (String, BTreeMap<String, String>);

/// One event as one monitor sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Event time (ns since the epoch).
    pub time: i64,
    /// The groups of a monitor with `.by`; empty without (the whole group).
    pub groups: Vec<Group>,
    /// What it adds to a threshold monitor's windows.
    pub contribution: Contribution,
    /// A new-value monitor's field values.
    pub values: Vec<String>,
}

impl Observation {
    /// `event`, stamped `time`, as `definition` sees it (the caller has
    /// matched it against the monitor's filter).
    pub fn of(definition: &Definition, event: &Event, time: i64) -> Observation {
        let query = &definition.query;
        let (contribution, values) = match &query.kind {
            Kind::Threshold { rollup, .. } => (contribution(rollup, event), Vec::new()),
            Kind::NewValue { field, .. } => (
                Contribution::default(),
                evident_search::field_texts(&field.1, event),
            ),
        };
        Observation {
            time,
            groups: groups_of(query, event),
            contribution,
            values,
        }
    }

    /// An event that brings only its time, for a monitor that reads
    /// nothing else ([`reads_only_time`]).
    pub fn at(time: i64) -> Observation {
        Observation {
            time,
            groups: Vec::new(),
            contribution: Contribution::default(),
            values: Vec::new(),
        }
    }
}

/// Whether `definition` reads nothing of an event but its time: a count
/// without groups. Such a monitor, with a filter its terms decide, needs
/// no parsed event at all.
pub fn reads_only_time(definition: &Definition) -> bool {
    definition.query.group_by.is_empty()
        && matches!(
            definition.query.kind,
            Kind::Threshold {
                rollup: Rollup::Count,
                ..
            }
        )
}

/// The groups (key and values) an event falls in: none without `.by`,
/// at most 100 when a `.by` field multiplies past reason.
fn groups_of(query: &MonitorQuery, event: &Event) -> Vec<Group> {
    if query.group_by.is_empty() {
        return Vec::new();
    }
    let mut groups = vec![(String::new(), BTreeMap::new())];
    for (name, field) in &query.group_by {
        let mut texts = evident_search::field_texts(field, event);
        texts.sort();
        texts.dedup();
        if texts.is_empty() {
            texts.push(MISSING.to_owned());
        }
        let label = name.strip_prefix('@').unwrap_or(name).to_owned();
        groups = groups
            .into_iter()
            .flat_map(|(key, values)| {
                let label = label.clone();
                texts
                    .iter()
                    .map(move |text| {
                        let mut values = values.clone();
                        values.insert(label.clone(), text.clone());
                        let key = if key.is_empty() {
                            format!("{label}:{text}")
                        } else {
                            format!("{key},{label}:{text}")
                        };
                        (key, values)
                    })
                    .collect::<Vec<_>>()
            })
            .take(100)
            .collect();
    }
    groups
}

/// A stable hash of `parts` (values a new-value monitor learned, distinct
/// values of a cardinality): persisted, so not the standard hasher.
pub(crate) fn hash(parts: &[&str]) -> u64 {
    let mut bytes = Vec::with_capacity(parts.iter().map(|part| part.len() + 1).sum());
    for part in parts {
        bytes.extend_from_slice(part.as_bytes());
        bytes.push(0xff);
    }
    XxHash3_64::oneshot(&bytes)
}

fn contribution(rollup: &Rollup, event: &Event) -> Contribution {
    match rollup {
        Rollup::Count => Contribution::default(),
        Rollup::Cardinality(_, field) => Contribution {
            numbers: Vec::new(),
            distinct: evident_search::field_texts(field, event)
                .iter()
                .map(|text| hash(&[text]))
                .collect(),
        },
        Rollup::Sum(_, field) | Rollup::Avg(_, field) => Contribution {
            numbers: evident_search::field_texts(field, event)
                .iter()
                .filter_map(|text| evident_search::ast::Number::parse(text))
                .map(evident_search::ast::Number::as_f64)
                .collect(),
            distinct: Vec::new(),
        },
    }
}

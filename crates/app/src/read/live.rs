//! Live tail (`POST /api/v1/live`). `{"query": "...", "position": N}`
//! answers the matching events that arrived at position N or later,
//! oldest first, in the search API's hit shape, with the position to ask
//! from next; without a position, no events and the log's end, where
//! following starts. Positions are the log's: an event shows when it
//! arrives, whatever its timestamp.

use evident_store::Store;
use serde::Deserialize;
use serde_json::{Value, json};

use super::search::Flavor;
use crate::error::AppError;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveBody {
    #[serde(default)]
    query: String,
    position: Option<u64>,
    limit: Option<usize>,
}

impl LiveBody {
    /// A tail's first request: no position yet.
    pub(crate) fn starts(&self) -> bool {
        self.position.is_none()
    }

    pub(crate) fn query(&self) -> &str {
        &self.query
    }
}

/// The events matching `body.query` from `body.position` on, and where
/// to ask from next. Blocks (it may read segments).
pub(crate) fn live(store: &Store, body: LiveBody) -> Result<(Value, usize), AppError> {
    let query = evident_search::parse(if body.query.trim().is_empty() {
        "*"
    } else {
        &body.query
    })
    .map_err(|error| AppError::invalid(format!("invalid query: {error}")))?;
    if query.stats.is_some() {
        return Err(AppError::invalid(
            "a '| stats' pipe aggregates: live tail follows events",
        ));
    }
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let arrivals = match body.position {
        None => Ok(evident_query::Arrivals {
            events: Vec::new(),
            next: evident_query::log_end(store),
        }),
        Some(position) => evident_query::arrivals(store, &query.filter, position, limit),
    }
    .map_err(|error| AppError::internal(format!("live tail failed: {error}")))?;
    let hits = arrivals
        .events
        .iter()
        .map(|arrival| super::hit::render(&arrival.payload, Flavor::Logs))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| AppError::internal(format!("a stored event does not render: {error}")))?;
    let count = hits.len();
    Ok((
        json!({"data": hits, "meta": {"position": arrivals.next}}),
        count,
    ))
}

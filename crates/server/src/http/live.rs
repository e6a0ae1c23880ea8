//! `POST /api/v1/live`: live tail. `{"query": "...", "position": N}`
//! answers the matching events that arrived at position N or later,
//! oldest first, in the search API's hit shape, with the position to ask
//! from next; without a position, no events and the log's end, where
//! following starts. Positions are the log's: an event shows when it
//! arrives, whatever its timestamp.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::search::Flavor;
use super::{JsonBody, QueryError, SharedState};

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

pub async fn live(
    State(state): State<SharedState>,
    body: Option<JsonBody<LiveBody>>,
) -> Result<Response, QueryError> {
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    let query = evident_search::parse(if body.query.trim().is_empty() {
        "*"
    } else {
        &body.query
    })
    .map_err(|error| QueryError::bad_request(format!("invalid query: {error}")))?;
    if query.stats.is_some() {
        return Err(QueryError::bad_request(
            "a '| stats' pipe aggregates: live tail follows events",
        ));
    }
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(QueryError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let store = Arc::clone(&state.store);
    let arrivals = tokio::task::spawn_blocking(move || match body.position {
        None => Ok(evident_query::Arrivals {
            events: Vec::new(),
            next: evident_query::log_end(&store),
        }),
        Some(position) => evident_query::arrivals(&store, &query.filter, position, limit),
    })
    .await
    .map_err(|error| QueryError::internal(format!("live tail task failed: {error}")))?
    .map_err(|error| QueryError::internal(format!("live tail failed: {error}")))?;
    let hits = arrivals
        .events
        .iter()
        .map(|(_, raw)| super::hit::render(raw, Flavor::Logs))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            QueryError::internal(format!("a stored event does not render: {error}"))
        })?;
    Ok(Json(json!({"data": hits, "meta": {"position": arrivals.next}})).into_response())
}

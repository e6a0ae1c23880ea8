//! `POST /api/v2/{logs,audit}/events/search` and `GET /api/v2/{logs,audit}/events`
//! in Datadog's request and response shapes, with cursor pagination.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use evident_app::Actor;
use evident_app::read::{Flavor, SearchBody, SearchRequest};

use super::{JsonBody, QueryError, SharedState};

/// `POST .../events/search`; `AUDIT` picks the Audit Trail shape over Logs.
pub async fn search_post<const AUDIT: bool>(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<SearchBody>>,
) -> Response {
    let request = body.map(|JsonBody(body)| body).unwrap_or_default().into();
    respond(state, &actor, Ok(request), Flavor::of(AUDIT)).await
}

/// `GET .../events`, the query-string form.
pub async fn search_get<const AUDIT: bool>(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(state, &actor, from_query(&params), Flavor::of(AUDIT)).await
}

async fn respond(
    state: SharedState,
    actor: &Actor,
    request: Result<SearchRequest, QueryError>,
    flavor: Flavor,
) -> Response {
    let request = match request {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    match state.evident.search_page(actor, request, flavor).await {
        Ok(page) => Json(page).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

/// The search request of `GET .../events?filter[query]=...`.
fn from_query(params: &HashMap<String, String>) -> Result<SearchRequest, QueryError> {
    let limit = params
        .get("page[limit]")
        .map(|limit| {
            limit
                .parse::<i64>()
                .map_err(|_| QueryError::bad_request("page[limit] must be a number"))
        })
        .transpose()?;
    let text = |name: &str, default: &str| {
        params
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    Ok(SearchRequest {
        query: text("filter[query]", ""),
        from: text("filter[from]", "now-15m"),
        to: text("filter[to]", "now"),
        sort: text("sort", "-timestamp"),
        cursor: params.get("page[cursor]").cloned(),
        limit,
    })
}

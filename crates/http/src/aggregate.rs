//! `POST /api/v2/logs/analytics/aggregate`: counts and measures, grouped by
//! facets, as totals or timeseries, in Datadog's request and response
//! shapes (a `| stats ...` pipe in `filter.query` is the same request).

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use evident_app::read::AggregateBody;

use evident_app::Actor;

use super::{JsonBody, QueryError, SharedState};

pub async fn aggregate(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<AggregateBody>>,
) -> Response {
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    match state.evident.aggregate(&actor, body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

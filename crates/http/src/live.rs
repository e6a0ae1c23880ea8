//! `POST /api/v1/live`: live tail. `{"query": "...", "position": N}`
//! answers the matching events that arrived at position N or later,
//! oldest first, with the position to ask from next.

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use evident_app::read::LiveBody;

use evident_app::Actor;

use super::{JsonBody, QueryError, SharedState};

pub async fn live(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<LiveBody>>,
) -> Response {
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    match state.evident.live(&actor, body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

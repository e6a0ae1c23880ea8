//! Retention: `GET /api/v1/settings/retention` (anyone signed in) and
//! `PUT /api/v1/settings/retention` (`org_management`), the whole setting
//! at once: `{"days": 90, "sources": {"github": 30}}`. A change is
//! recorded as evident's own audit event before it is answered (by the
//! service).

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use evident_app::Actor;
use evident_app::retention::Retention;

use super::{JsonBody, QueryError, SharedState};

pub async fn get(State(state): State<SharedState>) -> Response {
    Json(state.evident.retention()).into_response()
}

pub async fn put(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<Retention>>,
) -> Response {
    let Some(JsonBody(retention)) = body else {
        return QueryError::bad_request(
            "expected the retention as JSON: {\"days\": 90, \"sources\": {\"github\": 30}}",
        )
        .into_response();
    };
    match state.evident.set_retention(&actor, retention).await {
        Ok(retention) => Json(retention).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

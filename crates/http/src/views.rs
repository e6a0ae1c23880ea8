//! Saved views: `GET /api/v1/views`, `POST /api/v1/views`,
//! `PATCH /api/v1/views/{id}`, `DELETE /api/v1/views/{id}`. Each change is
//! recorded as evident's own audit event before it is answered (by the
//! service).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use evident_app::Actor;
use evident_app::views::ViewBody;
use serde_json::json;

use super::{JsonBody, QueryError, SharedState};

pub async fn list(State(state): State<SharedState>) -> Response {
    Json(json!({ "data": state.evident.list_views() })).into_response()
}

pub async fn create(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<ViewBody>>,
) -> Response {
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request(
            "expected a JSON view: {\"name\", \"query\", \"from\", \"to\", \"columns\"}",
        )
        .into_response();
    };
    match state.evident.create_view(&actor, body).await {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

pub async fn update(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<ViewBody>>,
) -> Response {
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request("expected the fields to change as JSON").into_response();
    };
    match state.evident.update_view(&actor, &id, body).await {
        Ok(view) => Json(view).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

pub async fn delete(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Response {
    match state.evident.delete_view(&actor, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

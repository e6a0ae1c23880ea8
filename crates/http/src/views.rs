//! Saved views: `GET /api/v1/views`, `POST /api/v1/views`,
//! `PATCH /api/v1/views/{id}`, `DELETE /api/v1/views/{id}`. Each change is
//! recorded as evident's own audit event before it is answered (by the
//! service).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use evident_app::activity::key_actor;
use evident_app::views::ViewBody;
use serde_json::json;

use super::{JsonBody, QueryError, SharedState, header, ui_session};

/// Who is acting: the UI session's holder, or the application key's
/// fingerprint.
fn actor(state: &SharedState, headers: &HeaderMap) -> String {
    ui_session::cookie_token(headers)
        .and_then(|token| state.ui_sessions.actor(token))
        .or_else(|| header(headers, "dd-application-key").map(key_actor))
        .unwrap_or_else(|| "unknown".to_owned())
}

pub async fn list(State(state): State<SharedState>) -> Response {
    Json(json!({ "data": state.evident.list_views() })).into_response()
}

pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Option<JsonBody<ViewBody>>,
) -> Response {
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request(
            "expected a JSON view: {\"name\", \"query\", \"from\", \"to\", \"columns\"}",
        )
        .into_response();
    };
    match state
        .evident
        .create_view(&actor(&state, &headers), body)
        .await
    {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

pub async fn update(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<JsonBody<ViewBody>>,
) -> Response {
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request("expected the fields to change as JSON").into_response();
    };
    match state
        .evident
        .update_view(&actor(&state, &headers), &id, body)
        .await
    {
        Ok(view) => Json(view).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

pub async fn delete(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match state
        .evident
        .delete_view(&actor(&state, &headers), &id)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

//! Saved views: `GET /api/v1/views`, `POST /api/v1/views`,
//! `PATCH /api/v1/views/{id}`, `DELETE /api/v1/views/{id}`. Each change is
//! recorded as evident's own audit event (`@evt.name:saved_view`) before
//! it is answered.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use evident_model::{Timestamp, parse_time};
use serde::Deserialize;
use serde_json::json;

use super::{JsonBody, QueryError, SharedState, header, ui_session};
use crate::activity::{self, key_actor};
use crate::views::View;

const MAX_NAME: usize = 200;
const MAX_COLUMNS: usize = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewBody {
    name: Option<String>,
    query: Option<String>,
    from: Option<String>,
    to: Option<String>,
    columns: Option<Vec<String>>,
}

/// Who is acting: the UI session's holder, or the application key's
/// fingerprint.
fn actor(state: &SharedState, headers: &HeaderMap) -> String {
    ui_session::cookie_token(headers)
        .and_then(|token| state.ui_sessions.actor(token))
        .or_else(|| header(headers, "dd-application-key").map(key_actor))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn find_view(state: &SharedState, id: &str) -> Result<View, QueryError> {
    state
        .views
        .list()
        .into_iter()
        .find(|view| view.id == id)
        .ok_or_else(|| QueryError::not_found(format!("no saved view {id:?}")))
}

fn now_millis() -> i64 {
    Timestamp::now().as_nanos() / 1_000_000
}

/// Checks the fields given and writes them into `view`.
fn apply(body: ViewBody, view: &mut View) -> Result<(), QueryError> {
    if let Some(name) = body.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(QueryError::bad_request(format!(
                "a view's name has 1 to {MAX_NAME} characters"
            )));
        }
        view.name = name.to_owned();
    }
    if let Some(query) = body.query {
        evident_search::parse(&query)
            .map_err(|error| QueryError::bad_request(format!("invalid query: {error}")))?;
        view.query = query;
    }
    let now = Timestamp::now();
    for (text, slot, name) in [
        (body.from, &mut view.from, "from"),
        (body.to, &mut view.to, "to"),
    ] {
        if let Some(text) = text {
            parse_time(&text, now)
                .map_err(|error| QueryError::bad_request(format!("invalid {name}: {error}")))?;
            *slot = text;
        }
    }
    if let Some(columns) = body.columns {
        if columns.len() > MAX_COLUMNS
            || columns
                .iter()
                .any(|column| column.is_empty() || column.len() > MAX_NAME)
        {
            return Err(QueryError::bad_request(format!(
                "at most {MAX_COLUMNS} columns, each a field name"
            )));
        }
        view.columns = columns;
    }
    Ok(())
}

async fn saved(
    state: &SharedState,
    headers: &HeaderMap,
    action: &str,
    view: &View,
) -> Result<(), QueryError> {
    let event = activity::change_event(
        &actor(state, headers),
        "saved_view",
        action,
        json!({"type": "saved_view", "id": view.id, "name": view.name}),
    );
    activity::record(&state.store, event)
        .await
        .map_err(|error| QueryError::internal(error.to_string()))
}

async fn write<T: Send + 'static>(
    state: &SharedState,
    change: impl FnOnce(&mut Vec<View>) -> T + Send + 'static,
) -> Result<T, QueryError> {
    let state = std::sync::Arc::clone(state);
    tokio::task::spawn_blocking(move || state.views.update(change))
        .await
        .map_err(|error| QueryError::internal(error.to_string()))?
        .map_err(|error| QueryError::internal(error.to_string()))
}

pub async fn list(State(state): State<SharedState>) -> Response {
    let mut views = state.views.list();
    views.sort_by_key(|view| view.name.to_lowercase());
    Json(json!({ "data": views })).into_response()
}

pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Option<JsonBody<ViewBody>>,
) -> Response {
    let result = async {
        let Some(JsonBody(body)) = body else {
            return Err(QueryError::bad_request(
                "expected a JSON view: {\"name\", \"query\", \"from\", \"to\", \"columns\"}",
            ));
        };
        if body.name.is_none() {
            return Err(QueryError::bad_request("a view needs a name"));
        }
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|error| QueryError::internal(error.to_string()))?;
        let now = now_millis();
        let mut view = View {
            id: bytes.iter().map(|byte| format!("{byte:02x}")).collect(),
            name: String::new(),
            query: String::new(),
            from: "now-15m".into(),
            to: "now".into(),
            columns: Vec::new(),
            created: now,
            updated: now,
        };
        apply(body, &mut view)?;
        saved(&state, &headers, "created", &view).await?;
        let stored = view.clone();
        write(&state, move |views| views.push(stored)).await?;
        Ok(view)
    }
    .await;
    match result {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn update(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<JsonBody<ViewBody>>,
) -> Response {
    let result = async {
        let Some(JsonBody(body)) = body else {
            return Err(QueryError::bad_request(
                "expected the fields to change as JSON",
            ));
        };
        let mut view = find_view(&state, &id)?;
        apply(body, &mut view)?;
        view.updated = now_millis();
        saved(&state, &headers, "modified", &view).await?;
        let stored = view.clone();
        write(&state, move |views| {
            if let Some(slot) = views.iter_mut().find(|slot| slot.id == stored.id) {
                *slot = stored;
            }
        })
        .await?;
        Ok(view)
    }
    .await;
    match result {
        Ok(view) => Json(view).into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn delete(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let view = find_view(&state, &id)?;
        saved(&state, &headers, "deleted", &view).await?;
        write(&state, move |views| views.retain(|slot| slot.id != id)).await?;
        Ok::<(), QueryError>(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

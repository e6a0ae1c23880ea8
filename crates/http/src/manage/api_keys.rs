//! Intake keys: `GET/POST /api/v2/api_keys`,
//! `GET/PATCH/DELETE /api/v2/api_keys/{id}`. A key's text is in the answer
//! to its creation only; it is kept as a hash.

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use evident_app::access::manage::KeyScope;
use evident_app::access::{Access, KeyKind, StoredKey};
use evident_app::{Actor, Evident};
use serde::Deserialize;
use serde_json::{Value, json};

use super::documents::{Document, answer, attributes, document, matches_filter, page, reference};
use crate::{JsonBody, QueryError, SharedState};

#[derive(Debug, Deserialize)]
pub struct KeyAttributes {
    pub name: Option<String>,
}

/// An API key as Datadog shows it, with its text when just created.
fn resource(access: &Access, key: &StoredKey, text: Option<&str>) -> Value {
    let created_by = key.created_by.as_deref().unwrap_or("unknown");
    let mut attributes = json!({
        "name": key.name,
        "last4": key.last4,
        "created_at": key.created,
        "modified_at": key.modified.as_deref().unwrap_or(&key.created),
        "date_last_used": access.last_used(&key.id),
        "category": "default",
        "remote_config_read_enabled": false,
    });
    if let Some(text) = text {
        attributes["key"] = json!(text);
    }
    json!({
        "type": "api_keys",
        "id": key.id,
        "attributes": attributes,
        "relationships": {
            "created_by": {"data": reference("users", created_by)},
            "modified_by": {"data": reference("users", created_by)},
        },
    })
}

fn api_key(evident: &Evident, id: &str) -> Result<StoredKey, evident_app::AppError> {
    evident
        .key(id, KeyScope::Any)
        .and_then(|key| match key.kind {
            KeyKind::Api => Ok(key),
            KeyKind::Application => Err(evident_app::AppError::not_found(format!(
                "no API key with id {id:?}"
            ))),
        })
}

pub async fn list(
    State(state): State<SharedState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let access = state.evident.access();
    let keys = access.keys();
    let total = keys.iter().filter(|key| key.kind == KeyKind::Api).count();
    let items = keys
        .iter()
        .filter(|key| key.kind == KeyKind::Api)
        .filter(|key| matches_filter(&query, &[&key.name, &key.id]))
        .map(|key| resource(access, key, None))
        .collect();
    page(items, &query, total)
}

pub async fn create(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<Document<KeyAttributes>>>,
) -> Response {
    let name = match document(body, "api_keys").and_then(|data| attributes(data, "api key")) {
        Ok(KeyAttributes { name: Some(name) }) => name,
        Ok(_) => return QueryError::bad_request("an API key needs a name").into_response(),
        Err(error) => return error.into_response(),
    };
    let owner = actor
        .user_id()
        .unwrap_or(evident_app::access::BOOTSTRAP_ADMIN);
    let created = state
        .evident
        .create_key(&actor, KeyKind::Api, &name, owner, None)
        .await
        .map(|(stored, text)| resource(state.evident.access(), &stored, Some(&text)));
    answer(StatusCode::CREATED, created)
}

pub async fn get(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    let found =
        api_key(&state.evident, &id).map(|key| resource(state.evident.access(), &key, None));
    answer(StatusCode::OK, found)
}

pub async fn update(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<Document<KeyAttributes>>>,
) -> Response {
    let data = match document(body, "api_keys") {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = data.expect_id(&id) {
        return error.into_response();
    }
    let name = match attributes(data, "api key") {
        Ok(attributes) => attributes.name,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = api_key(&state.evident, &id) {
        return QueryError::from(error).into_response();
    }
    let updated = state
        .evident
        .update_key(&actor, &id, KeyScope::Any, name.as_deref(), None)
        .await
        .map(|key| resource(state.evident.access(), &key, None));
    answer(StatusCode::OK, updated)
}

pub async fn delete(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Response {
    if let Err(error) = api_key(&state.evident, &id) {
        return QueryError::from(error).into_response();
    }
    match state.evident.revoke_key(&actor, &id, KeyScope::Any).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

//! Application keys: one's own under `/api/v2/current_user/application_keys`
//! (any signed-in user), everyone's under `/api/v2/application_keys`. An
//! application key acts as its owner, narrowed to its `scopes` (permission
//! names) when it has some. A key can never make a key that may do more
//! than itself.
//!
//! `POST /api/v2/application_keys` with `relationships.owned_by` (a key
//! for another user, e.g. a service's) is evident's own addition.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use evident_app::access::manage::KeyScope;
use evident_app::access::{Access, KeyKind, Permission, StoredKey};
use evident_app::{Actor, AppError};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::documents::{Document, answer, attributes, document, matches_filter, page, reference};
use crate::{Granted, JsonBody, QueryError, SharedState};

/// `Some(value)` for a field that is present, even as `null`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
pub struct KeyAttributes {
    pub name: Option<String>,
    /// Absent: unchanged; `null`: none (the owner's permissions).
    #[serde(default, deserialize_with = "present")]
    pub scopes: Option<Option<Vec<String>>>,
}

/// An application key as Datadog shows it, with its text when just made.
fn resource(access: &Access, key: &StoredKey, text: Option<&str>) -> Value {
    let scopes = key
        .scopes
        .as_ref()
        .map(|scopes| scopes.iter().map(|p| p.name()).collect::<Vec<_>>());
    let mut attributes = json!({
        "name": key.name,
        "last4": key.last4,
        "created_at": key.created,
        "last_used_at": access.last_used(&key.id),
        "scopes": scopes,
    });
    if let Some(text) = text {
        attributes["key"] = json!(text);
    }
    json!({
        "type": "application_keys",
        "id": key.id,
        "attributes": attributes,
        "relationships": {
            "owned_by": {"data": reference("users", key.owner.as_deref().unwrap_or(""))},
        },
    })
}

/// The signed-in user, who owns the keys of `/current_user`.
fn current_user(actor: &Actor) -> Result<&str, QueryError> {
    actor.user_id().ok_or_else(|| {
        QueryError::bad_request("only a user with an application key has application keys")
    })
}

fn list_of(access: &Access, query: &HashMap<String, String>, owner: Option<&str>) -> Response {
    let keys: Vec<StoredKey> = access
        .keys()
        .into_iter()
        .filter(|key| key.kind == KeyKind::Application)
        .filter(|key| owner.is_none() || key.owner.as_deref() == owner)
        .collect();
    let total = keys.len();
    let items = keys
        .iter()
        .filter(|key| matches_filter(query, &[&key.name, &key.id]))
        .map(|key| resource(access, key, None))
        .collect();
    page(items, query, total)
}

pub async fn list_own(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match current_user(&actor) {
        Ok(user) => list_of(state.evident.access(), &query, Some(user)),
        Err(error) => error.into_response(),
    }
}

pub async fn list_all(
    State(state): State<SharedState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    list_of(state.evident.access(), &query, None)
}

/// The scopes a new key gets: those asked for, within what the creating
/// key may do (a narrowed key makes keys no wider than itself).
fn scopes_within(
    asked: Option<Vec<String>>,
    granted: &BTreeSet<Permission>,
    owners: &BTreeSet<Permission>,
) -> Result<Option<Vec<String>>, QueryError> {
    if let Some(asked) = &asked {
        let beyond: Vec<&str> = asked
            .iter()
            .filter(|name| Permission::parse(name.trim()).is_some_and(|p| !granted.contains(&p)))
            .map(String::as_str)
            .collect();
        if !beyond.is_empty() {
            return Err(QueryError::forbidden(format!(
                "this key may not grant what it may not do itself: {}",
                beyond.join(", ")
            )));
        }
    }
    Ok(match asked {
        Some(asked) => Some(asked),
        None if granted.is_superset(owners) => None,
        None => Some(granted.iter().map(|p| p.name().to_owned()).collect()),
    })
}

async fn create_for(
    state: &SharedState,
    actor: &Actor,
    granted: &BTreeSet<Permission>,
    owner: &str,
    data: KeyAttributes,
) -> Response {
    let Some(name) = data.name else {
        return QueryError::bad_request("an application key needs a name").into_response();
    };
    let owners = match state.evident.user_permissions(owner) {
        Ok(permissions) => permissions,
        Err(error) => return QueryError::from(error).into_response(),
    };
    let scopes = match scopes_within(data.scopes.flatten(), granted, &owners) {
        Ok(scopes) => scopes,
        Err(error) => return error.into_response(),
    };
    let created = state
        .evident
        .create_key(actor, KeyKind::Application, &name, owner, scopes.as_deref())
        .await
        .map(|(stored, text)| resource(state.evident.access(), &stored, Some(&text)));
    answer(StatusCode::CREATED, created)
}

pub async fn create_own(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Extension(Granted(granted)): Extension<Granted>,
    body: Option<JsonBody<Document<KeyAttributes>>>,
) -> Response {
    let data = match document(body, "application_keys")
        .and_then(|data| attributes(data, "application key"))
    {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    let owner = match current_user(&actor) {
        Ok(owner) => owner.to_owned(),
        Err(error) => return error.into_response(),
    };
    create_for(&state, &actor, &granted, &owner, data).await
}

/// evident's addition: a key for the user `relationships.owned_by`.
pub async fn create_for_user(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Extension(Granted(granted)): Extension<Granted>,
    body: Option<JsonBody<Document<KeyAttributes>>>,
) -> Response {
    let data = match document(body, "application_keys") {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    let Some(owner) = data
        .relationships
        .owned_by
        .as_ref()
        .map(|to| to.data.id.clone())
    else {
        return QueryError::bad_request(
            "expected relationships.owned_by.data.id: the user the key acts as",
        )
        .into_response();
    };
    let data = match attributes(data, "application key") {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    create_for(&state, &actor, &granted, &owner, data).await
}

fn scope_of(actor: &Actor, own: bool) -> Result<KeyScope<'_>, QueryError> {
    if own {
        current_user(actor).map(KeyScope::OwnedBy)
    } else {
        Ok(KeyScope::Any)
    }
}

fn application_key(
    state: &SharedState,
    id: &str,
    scope: KeyScope<'_>,
) -> Result<StoredKey, AppError> {
    state.evident.key(id, scope).and_then(|key| match key.kind {
        KeyKind::Application => Ok(key),
        KeyKind::Api => Err(AppError::not_found(format!(
            "no application key with id {id:?}"
        ))),
    })
}

/// `GET .../application_keys/{id}`: one's own (`OWN`) or anyone's.
pub async fn get<const OWN: bool>(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Response {
    let own = OWN;
    let found = scope_of(&actor, own)
        .map_err(|error| AppError::invalid(error.message))
        .and_then(|scope| application_key(&state, &id, scope))
        .map(|key| resource(state.evident.access(), &key, None));
    answer(StatusCode::OK, found)
}

/// `PATCH .../application_keys/{id}`: one's own (`OWN`) or anyone's.
pub async fn update<const OWN: bool>(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Extension(Granted(granted)): Extension<Granted>,
    Path(id): Path<String>,
    body: Option<JsonBody<Document<KeyAttributes>>>,
) -> Response {
    let own = OWN;
    let data = match document(body, "application_keys") {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = data.expect_id(&id) {
        return error.into_response();
    }
    let data = match attributes(data, "application key") {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    let scope = match scope_of(&actor, own) {
        Ok(scope) => scope,
        Err(error) => return error.into_response(),
    };
    let key = match application_key(&state, &id, scope) {
        Ok(key) => key,
        Err(error) => return QueryError::from(error).into_response(),
    };
    let scopes = match data.scopes {
        Some(asked) => {
            let owner = key.owner.clone().unwrap_or_default();
            let owners = match state.evident.user_permissions(&owner) {
                Ok(permissions) => permissions,
                Err(error) => return QueryError::from(error).into_response(),
            };
            match scopes_within(asked, &granted, &owners) {
                Ok(scopes) => Some(scopes),
                Err(error) => return error.into_response(),
            }
        }
        None => None,
    };
    let updated = state
        .evident
        .update_key(
            &actor,
            &id,
            scope,
            data.name.as_deref(),
            scopes.as_ref().map(|scopes| scopes.as_deref()),
        )
        .await
        .map(|key| resource(state.evident.access(), &key, None));
    answer(StatusCode::OK, updated)
}

/// `DELETE .../application_keys/{id}`: one's own (`OWN`) or anyone's.
pub async fn delete<const OWN: bool>(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Response {
    let own = OWN;
    let scope = match scope_of(&actor, own) {
        Ok(scope) => scope,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = application_key(&state, &id, scope) {
        return QueryError::from(error).into_response();
    }
    match state.evident.revoke_key(&actor, &id, scope).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

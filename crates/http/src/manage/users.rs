//! Users: `GET/POST /api/v2/users`, `GET/PATCH/DELETE /api/v2/users/{id}`
//! (delete disables: the user's events and keys keep naming them),
//! `GET /api/v2/users/{id}/permissions`.

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use evident_app::access::{User, UserChange, UserStatus};
use evident_app::{Actor, AppError, Evident};
use serde::Deserialize;
use serde_json::{Value, json};

use super::documents::{Document, answer, attributes, document, matches_filter, page, reference};
use super::roles::permission_resource;
use crate::{JsonBody, QueryError, SharedState};

#[derive(Debug, Deserialize)]
pub struct UserAttributes {
    pub email: Option<String>,
    pub name: Option<String>,
    pub disabled: Option<bool>,
    /// evident's addition: a local password for the web UI (never shown).
    pub password: Option<String>,
}

/// `PUT /api/v1/current_user/password`.
#[derive(Debug, Deserialize)]
pub struct PasswordChange {
    pub current_password: Option<String>,
    pub new_password: String,
}

/// A user as Datadog shows one.
pub fn resource(user: &User) -> Value {
    let disabled = user.status == UserStatus::Disabled;
    let roles: Vec<Value> = user.roles.iter().map(|id| reference("roles", id)).collect();
    json!({
        "type": "users",
        "id": user.id,
        "attributes": {
            "email": user.email,
            "handle": user.email,
            "name": user.name,
            "status": if disabled { "Disabled" } else { "Active" },
            "disabled": disabled,
            "created_at": user.created,
            "modified_at": user.modified.as_deref().unwrap_or(&user.created),
            "service_account": false,
            "verified": true,
            "title": null,
        },
        "relationships": {"roles": {"data": roles}},
    })
}

fn find(evident: &Evident, id: &str) -> Result<User, AppError> {
    evident
        .access()
        .users()
        .into_iter()
        .find(|user| user.id == id)
        .ok_or_else(|| AppError::not_found(format!("no user {id:?}")))
}

pub async fn list(
    State(state): State<SharedState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut users = state.evident.access().users();
    users.sort_by(|left, right| left.email.cmp(&right.email));
    let total = users.len();
    let status_filter = query
        .get("filter[status]")
        .map(|status| status.to_lowercase());
    let items = users
        .iter()
        .filter(|user| matches_filter(&query, &[&user.email, &user.name, &user.id]))
        .filter(|user| {
            status_filter
                .as_deref()
                .is_none_or(|wanted| wanted.split(',').any(|s| s.trim() == user.status.name()))
        })
        .map(resource)
        .collect();
    page(items, &query, total)
}

pub async fn create(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<Document<UserAttributes>>>,
) -> Response {
    let data = match document(body, "users") {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    let roles: Vec<String> = data
        .relationships
        .roles
        .as_ref()
        .map(|roles| roles.data.iter().map(|role| role.id.clone()).collect())
        .unwrap_or_default();
    let attributes = match attributes(data, "user") {
        Ok(attributes) => attributes,
        Err(error) => return error.into_response(),
    };
    let Some(email) = attributes.email else {
        return QueryError::bad_request("a user needs an email").into_response();
    };
    let name = attributes.name.unwrap_or_default();
    if let Some(password) = &attributes.password
        && let Err(error) = evident_app::access::password::check_length(password)
    {
        return QueryError::bad_request(error.to_string()).into_response();
    }
    let mut created = state
        .evident
        .create_user(&actor, &email, &name, &roles)
        .await;
    if let (Ok(user), Some(password)) = (&created, &attributes.password) {
        created = state
            .evident
            .set_password(&actor, &user.id, Some(password))
            .await;
    }
    answer(StatusCode::CREATED, created.map(|user| resource(&user)))
}

pub async fn get(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    answer(
        StatusCode::OK,
        find(&state.evident, &id).map(|user| resource(&user)),
    )
}

pub async fn update(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<Document<UserAttributes>>>,
) -> Response {
    let data = match document(body, "users") {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = data.expect_id(&id) {
        return error.into_response();
    }
    let attributes = match attributes(data, "user") {
        Ok(attributes) => attributes,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = find(&state.evident, &id) {
        return QueryError::from(error).into_response();
    }
    if let Some(password) = &attributes.password
        && let Err(error) = state
            .evident
            .set_password(&actor, &id, Some(password))
            .await
    {
        return QueryError::from(error).into_response();
    }
    let change = UserChange {
        email: attributes.email,
        name: attributes.name,
        status: attributes.disabled.map(|disabled| {
            if disabled {
                UserStatus::Disabled
            } else {
                UserStatus::Active
            }
        }),
    };
    let updated = state
        .evident
        .update_user(&actor, &id, change)
        .await
        .map(|user| resource(&user));
    answer(StatusCode::OK, updated)
}

/// Disables the user, as Datadog's `DELETE` does.
pub async fn disable(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Response {
    if let Err(error) = find(&state.evident, &id) {
        return QueryError::from(error).into_response();
    }
    let change = UserChange {
        status: Some(UserStatus::Disabled),
        ..UserChange::default()
    };
    match state.evident.update_user(&actor, &id, change).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

pub async fn permissions(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    match find(&state.evident, &id).and_then(|user| state.evident.user_permissions(&user.id)) {
        Ok(permissions) => {
            let data: Vec<Value> = permissions.into_iter().map(permission_resource).collect();
            axum::Json(json!({ "data": data })).into_response()
        }
        Err(error) => QueryError::from(error).into_response(),
    }
}

/// `PUT /api/v1/current_user/password`: one's own password, with the
/// current one when there is one. A narrowed key cannot set a first
/// password (that would sign its owner in with all their permissions).
pub async fn change_own_password(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Extension(crate::Granted(granted)): Extension<crate::Granted>,
    body: Option<JsonBody<PasswordChange>>,
) -> Response {
    let Some(JsonBody(change)) = body else {
        return QueryError::bad_request(
            "expected {\"current_password\": \"...\", \"new_password\": \"...\"}",
        )
        .into_response();
    };
    let Some(user) = actor.user_id() else {
        return QueryError::bad_request("only a user has a password").into_response();
    };
    let full = state.evident.user_permissions(user).unwrap_or_default();
    let has_password = find(&state.evident, user).is_ok_and(|user| user.password.is_some());
    if !has_password && !granted.is_superset(&full) {
        return QueryError::forbidden(
            "a key narrowed by scopes cannot set its owner's first password",
        )
        .into_response();
    }
    match state
        .evident
        .change_own_password(
            &actor,
            change.current_password.as_deref(),
            &change.new_password,
        )
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

//! Roles and permissions: `GET/POST /api/v2/roles`,
//! `GET/PATCH/DELETE /api/v2/roles/{id}`, a role's permissions and users
//! (`GET/POST/DELETE /api/v2/roles/{id}/permissions`, `.../users`, the
//! body naming one: `{"data": {"type", "id"}}`), and
//! `GET /api/v2/permissions`. Permission ids are their names
//! (`audit_logs_read`); the managed roles (Admin, Standard, Read Only)
//! cannot be changed.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use evident_app::access::{Permission, Role};
use evident_app::{Actor, AppError, Evident};
use serde::Deserialize;
use serde_json::{Value, json};

use super::documents::{Document, ToOne, answer, document, matches_filter, page, reference};
use super::users;
use crate::{JsonBody, QueryError, SharedState};

#[derive(Debug, Deserialize)]
pub struct RoleAttributes {
    pub name: Option<String>,
}

/// A permission as Datadog lists one; its id is its name.
pub fn permission_resource(permission: Permission) -> Value {
    json!({
        "type": "permissions",
        "id": permission.name(),
        "attributes": {
            "name": permission.name(),
            "display_name": permission.name().replace('_', " "),
            "description": permission.description(),
            "group_name": permission.group(),
            "display_type": if permission.writes() { "write" } else { "read" },
            "restricted": false,
        },
    })
}

fn resource(role: &Role, evident: &Evident) -> Value {
    let user_count = evident
        .access()
        .users()
        .iter()
        .filter(|user| user.roles.contains(&role.id))
        .count();
    let permissions: Vec<Value> = role
        .permissions
        .iter()
        .map(|permission| reference("permissions", permission.name()))
        .collect();
    let created = role.created.as_deref().unwrap_or("1970-01-01T00:00:00Z");
    json!({
        "type": "roles",
        "id": role.id,
        "attributes": {
            "name": role.name,
            "created_at": created,
            "modified_at": role.modified.as_deref().unwrap_or(created),
            "user_count": user_count,
        },
        "relationships": {"permissions": {"data": permissions}},
    })
}

fn find(evident: &Evident, id: &str) -> Result<Role, AppError> {
    evident
        .access()
        .roles()
        .into_iter()
        .find(|role| role.id == id)
        .ok_or_else(|| AppError::not_found(format!("no role {id:?}")))
}

pub async fn list(
    State(state): State<SharedState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let roles = state.evident.access().roles();
    let total = roles.len();
    let items = roles
        .iter()
        .filter(|role| matches_filter(&query, &[&role.name, &role.id]))
        .map(|role| resource(role, &state.evident))
        .collect();
    page(items, &query, total)
}

fn permission_names(data: &super::documents::Resource<RoleAttributes>) -> Option<Vec<String>> {
    data.relationships
        .permissions
        .as_ref()
        .map(|permissions| permissions.data.iter().map(|p| p.id.clone()).collect())
}

pub async fn create(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<Document<RoleAttributes>>>,
) -> Response {
    let data = match document(body, "roles") {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    let permissions = permission_names(&data).unwrap_or_default();
    let Some(name) = data.attributes.and_then(|attributes| attributes.name) else {
        return QueryError::bad_request("a role needs data.attributes.name").into_response();
    };
    let created = state
        .evident
        .create_role(&actor, &name, &permissions)
        .await
        .map(|role| resource(&role, &state.evident));
    answer(StatusCode::OK, created)
}

pub async fn get(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    answer(
        StatusCode::OK,
        find(&state.evident, &id).map(|role| resource(&role, &state.evident)),
    )
}

pub async fn update(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<Document<RoleAttributes>>>,
) -> Response {
    let data = match document(body, "roles") {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = data.expect_id(&id) {
        return error.into_response();
    }
    if let Err(error) = find(&state.evident, &id) {
        return QueryError::from(error).into_response();
    }
    let permissions = permission_names(&data);
    let name = data.attributes.and_then(|attributes| attributes.name);
    let updated = state
        .evident
        .update_role(&actor, &id, name.as_deref(), permissions.as_deref())
        .await
        .map(|role| resource(&role, &state.evident));
    answer(StatusCode::OK, updated)
}

pub async fn delete(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Response {
    if let Err(error) = find(&state.evident, &id) {
        return QueryError::from(error).into_response();
    }
    match state.evident.delete_role(&actor, &id).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

fn permissions_of(role: &Role) -> Response {
    let data: Vec<Value> = role
        .permissions
        .iter()
        .copied()
        .map(permission_resource)
        .collect();
    Json(json!({ "data": data })).into_response()
}

/// Every permission there is.
pub async fn all_permissions() -> Response {
    let data: Vec<Value> = Permission::ALL
        .into_iter()
        .map(permission_resource)
        .collect();
    Json(json!({ "data": data })).into_response()
}

pub async fn list_permissions(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Response {
    match find(&state.evident, &id) {
        Ok(role) => permissions_of(&role),
        Err(error) => QueryError::from(error).into_response(),
    }
}

/// The one resource a relationship request names.
fn named(body: Option<JsonBody<ToOne>>, expected: &str) -> Result<String, QueryError> {
    let Some(JsonBody(ToOne { data })) = body else {
        return Err(QueryError::bad_request(format!(
            "expected {{\"data\": {{\"type\": \"{expected}\", \"id\": ...}}}}"
        )));
    };
    match data.kind.as_deref() {
        Some(kind) if kind != expected => Err(QueryError::bad_request(format!(
            "expected data of type {expected:?}, not {kind:?}"
        ))),
        _ => Ok(data.id),
    }
}

async fn change_permission(
    state: SharedState,
    actor: Actor,
    id: String,
    body: Option<JsonBody<ToOne>>,
    grant: bool,
) -> Response {
    let permission = match named(body, "permissions") {
        Ok(permission) => permission,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = find(&state.evident, &id) {
        return QueryError::from(error).into_response();
    }
    match state
        .evident
        .set_role_permission(&actor, &id, &permission, grant)
        .await
    {
        Ok(role) => permissions_of(&role),
        Err(error) => QueryError::from(error).into_response(),
    }
}

pub async fn add_permission(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<ToOne>>,
) -> Response {
    change_permission(state, actor, id, body, true).await
}

pub async fn remove_permission(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<ToOne>>,
) -> Response {
    change_permission(state, actor, id, body, false).await
}

fn users_of(evident: &Evident, role: &str, query: &HashMap<String, String>) -> Response {
    let members: Vec<Value> = evident
        .access()
        .users()
        .iter()
        .filter(|user| user.roles.iter().any(|held| held == role))
        .map(users::resource)
        .collect();
    let total = members.len();
    page(members, query, total)
}

pub async fn list_users(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match find(&state.evident, &id) {
        Ok(role) => users_of(&state.evident, &role.id, &query),
        Err(error) => QueryError::from(error).into_response(),
    }
}

async fn change_member(
    state: SharedState,
    actor: Actor,
    id: String,
    body: Option<JsonBody<ToOne>>,
    grant: bool,
) -> Response {
    let user = match named(body, "users") {
        Ok(user) => user,
        Err(error) => return error.into_response(),
    };
    let role = match find(&state.evident, &id) {
        Ok(role) => role,
        Err(error) => return QueryError::from(error).into_response(),
    };
    match state
        .evident
        .set_user_role(&actor, &user, &role.id, grant)
        .await
    {
        Ok(_) => users_of(&state.evident, &role.id, &HashMap::new()),
        Err(error) => QueryError::from(error).into_response(),
    }
}

pub async fn add_user(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<ToOne>>,
) -> Response {
    change_member(state, actor, id, body, true).await
}

pub async fn remove_user(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<ToOne>>,
) -> Response {
    change_member(state, actor, id, body, false).await
}

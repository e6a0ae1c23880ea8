//! JSON:API documents as Datadog's v2 management endpoints read and write
//! them, and the pages of a list.

use std::collections::HashMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use evident_app::AppError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::QueryError;

/// `{"data": {...}}` as a request carries it.
#[derive(Debug, Deserialize)]
pub struct Document<A> {
    pub data: Resource<A>,
}

/// One resource of a request.
#[derive(Debug, Deserialize)]
pub struct Resource<A> {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub attributes: Option<A>,
    #[serde(default)]
    pub relationships: Relationships,
}

/// The relationships a request may name.
#[derive(Debug, Default, Deserialize)]
pub struct Relationships {
    pub roles: Option<ToMany>,
    pub permissions: Option<ToMany>,
    pub owned_by: Option<ToOne>,
}

#[derive(Debug, Deserialize)]
pub struct ToMany {
    pub data: Vec<Reference>,
}

#[derive(Debug, Deserialize)]
pub struct ToOne {
    pub data: Reference,
}

/// `{"type", "id"}`.
#[derive(Debug, Deserialize)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: String,
}

impl<A> Resource<A> {
    /// Refuses a resource of another type than `expected`.
    pub fn expect_type(&self, expected: &str) -> Result<(), QueryError> {
        match &self.kind {
            Some(kind) if kind != expected => Err(QueryError::bad_request(format!(
                "expected data of type {expected:?}, not {kind:?}"
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses a resource whose id is not the one in the path.
    pub fn expect_id(&self, path_id: &str) -> Result<(), QueryError> {
        match &self.id {
            Some(id) if id != path_id => Err(QueryError::bad_request(format!(
                "the id in the body ({id:?}) is not the one in the path ({path_id:?})"
            ))),
            _ => Ok(()),
        }
    }
}

/// A reference to a resource, as responses write it.
pub fn reference(kind: &str, id: &str) -> Value {
    json!({"type": kind, "id": id})
}

/// The body as a document, or a 400 saying what was expected.
pub fn document<A>(
    body: Option<crate::JsonBody<Document<A>>>,
    expected: &str,
) -> Result<Resource<A>, QueryError> {
    let Some(crate::JsonBody(document)) = body else {
        return Err(QueryError::bad_request(format!(
            "expected a JSON document: {{\"data\": {{\"type\": \"{expected}\", ...}}}}"
        )));
    };
    document.data.expect_type(expected)?;
    Ok(document.data)
}

/// The attributes of a document, which this request needs.
pub fn attributes<A>(resource: Resource<A>, expected: &str) -> Result<A, QueryError> {
    resource.attributes.ok_or_else(|| {
        QueryError::bad_request(format!("expected data.attributes of the {expected}"))
    })
}

/// One page of `items` by `page[size]` (default: all) and `page[number]`
/// (from 0), with Datadog's `meta.page` counts.
pub fn page(items: Vec<Value>, query: &HashMap<String, String>, total: usize) -> Response {
    let filtered = items.len();
    let size = query
        .get("page[size]")
        .and_then(|size| size.parse::<usize>().ok())
        .filter(|size| *size > 0);
    let number = query
        .get("page[number]")
        .and_then(|number| number.parse::<usize>().ok())
        .unwrap_or(0);
    let data: Vec<Value> = match size {
        Some(size) => items
            .into_iter()
            .skip(number.saturating_mul(size))
            .take(size)
            .collect(),
        None => items,
    };
    Json(json!({
        "data": data,
        "meta": {"page": {"total_count": total, "total_filtered_count": filtered}},
    }))
    .into_response()
}

/// `filter=` of a list: the items whose `text` contains it, ignoring case.
pub fn matches_filter(query: &HashMap<String, String>, texts: &[&str]) -> bool {
    match query
        .get("filter")
        .map(|filter| filter.trim().to_lowercase())
    {
        Some(filter) if !filter.is_empty() => texts
            .iter()
            .any(|text| text.to_lowercase().contains(&filter)),
        _ => true,
    }
}

/// `{"data": resource}` with `status`, or the error's status.
pub fn answer(status: StatusCode, result: Result<Value, AppError>) -> Response {
    match result {
        Ok(data) => (status, Json(json!({ "data": data }))).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

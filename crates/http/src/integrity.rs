//! `GET /api/v1/integrity/checkpoint`, `.../proof/inclusion?id=`,
//! `.../proof/consistency?from=&to=`: the evidence a third party needs to
//! check an event or the log's history without trusting this server.
//! Reading them never writes.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use evident_app::Actor;

use super::{QueryError, SharedState};

/// The latest signed checkpoint; `Accept: text/plain` gets the bare note.
pub async fn checkpoint(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let (signed, last_verify) = state.evident.checkpoint().await?;
    let wants_text = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/plain"));
    if wants_text {
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            signed.note,
        )
            .into_response());
    }
    Ok(Json(json!({
        "last_verify": last_verify,
        "origin": signed.checkpoint.origin,
        "tree_size": signed.checkpoint.size,
        "root_hash": signed.checkpoint.root.to_base64(),
        "checkpoint": signed.note,
        "public_key": state.evident.public_key(),
    }))
    .into_response())
}

pub async fn inclusion(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, QueryError> {
    let id = params
        .get("id")
        .cloned()
        .ok_or_else(|| QueryError::bad_request("missing the id parameter"))?;
    Ok(Json(state.evident.inclusion_proof(&actor, id).await?).into_response())
}

pub async fn consistency(
    State(state): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, QueryError> {
    let size = |name: &str| -> Result<u64, QueryError> {
        params
            .get(name)
            .ok_or_else(|| QueryError::bad_request(format!("missing the {name} parameter")))?
            .parse()
            .map_err(|_| QueryError::bad_request(format!("{name} must be a tree size")))
    };
    let (from, to) = (size("from")?, size("to")?);
    Ok(Json(state.evident.consistency_proof(from, to).await?).into_response())
}

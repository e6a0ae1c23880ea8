//! `GET /api/v1/integrity/checkpoint`, `.../proof/inclusion?id=`,
//! `.../proof/consistency?from=&to=`: the evidence a third party needs to
//! check an event or the log's history without trusting this server.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use evident_ledger::{Hash, leaf_hash};
use evident_store::verify::LastVerify;
use evident_store::{Store, StoreError};
use serde_json::json;

use super::{QueryError, SharedState};

fn store_error(error: StoreError) -> QueryError {
    match error {
        StoreError::UnknownEvent(id) => QueryError::not_found(format!("no event with id {id:?}")),
        StoreError::Ledger(error) => QueryError::bad_request(error.to_string()),
        other => QueryError::internal(other.to_string()),
    }
}

fn base64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_base64).collect()
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(
    state: &SharedState,
    work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, QueryError> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|error| QueryError::internal(error.to_string()))?
        .map_err(store_error)
}

/// The latest signed checkpoint; `Accept: text/plain` gets the bare note.
pub async fn checkpoint(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let signed = blocking(&state, Store::checkpoint).await?;
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
    let root = state.store.paths().root.clone();
    let last_verify = tokio::task::spawn_blocking(move || LastVerify::load(&root))
        .await
        .ok()
        .flatten();
    Ok(Json(json!({
        "last_verify": last_verify,
        "origin": signed.checkpoint.origin,
        "tree_size": signed.checkpoint.size,
        "root_hash": signed.checkpoint.root.to_base64(),
        "checkpoint": signed.note,
        "public_key": state.store.verifier().to_string(),
    }))
    .into_response())
}

pub async fn inclusion(
    State(state): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, QueryError> {
    let id = params
        .get("id")
        .cloned()
        .ok_or_else(|| QueryError::bad_request("missing the id parameter"))?;
    let (proven, bytes) = blocking(&state, move |store| {
        let proven = store.inclusion_proof(&id)?;
        let bytes = store.event_bytes(proven.leaf_index)?;
        Ok((proven, bytes))
    })
    .await?;
    let signed = proven.checkpoint;
    Ok(Json(json!({
        "id": proven.event.id,
        "leaf_index": proven.leaf_index,
        "tree_size": signed.checkpoint.size,
        "leaf_hash": leaf_hash(&bytes).to_base64(),
        // The exact stored bytes: hash them (with a 0x00 prefix) to get the leaf.
        "event": String::from_utf8_lossy(&bytes),
        "proof": base64_hashes(&proven.path),
        "root_hash": signed.checkpoint.root.to_base64(),
        "checkpoint": signed.note,
        "public_key": state.store.verifier().to_string(),
    }))
    .into_response())
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
    let (from_root, to_root, proof) =
        blocking(&state, move |store| store.consistency_proof(from, to)).await?;
    Ok(Json(json!({
        "from": from,
        "to": to,
        "from_root": from_root.to_base64(),
        "to_root": to_root.to_base64(),
        "proof": base64_hashes(&proof),
    }))
    .into_response())
}

//! `POST /api/v2/logs`, `POST /v1/input[/<key>]`, `GET /api/v1/validate`.
//!
//! The key is checked and the load looked at before the body is read; the
//! answer comes only once the batch is durable (`Evident::ingest`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use evident_app::intake::decode::{DecodeError, MAX_PAYLOAD_BYTES};
use evident_app::intake::{IntakeBatch, decode_error};
use serde_json::json;

use super::{IntakeError, SharedState, header};

pub async fn submit_v2(
    State(state): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    submit(state, params, headers, None, body, StatusCode::ACCEPTED).await
}

pub async fn submit_v1(
    State(state): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    submit(state, params, headers, None, body, StatusCode::OK).await
}

pub async fn submit_v1_with_key(
    State(state): State<SharedState>,
    Path(key): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    submit(state, params, headers, Some(key), body, StatusCode::OK).await
}

pub async fn validate(
    State(state): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match check_api_key(&state, &params, &headers, None) {
        Ok(()) => (StatusCode::OK, Json(json!({"valid": true}))).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The API key, from the header, the path or the query string.
pub(crate) fn check_api_key(
    state: &SharedState,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    path_key: Option<&str>,
) -> Result<(), IntakeError> {
    let key = header(headers, "dd-api-key")
        .or(path_key)
        .or_else(|| params.get("dd-api-key").map(String::as_str))
        .or_else(|| params.get("api_key").map(String::as_str));
    Ok(state.evident.check_api_key(key)?)
}

async fn submit(
    state: SharedState,
    params: HashMap<String, String>,
    headers: HeaderMap,
    path_key: Option<String>,
    body: Body,
    success: StatusCode,
) -> Response {
    let accepted = async {
        check_api_key(&state, &params, &headers, path_key.as_deref())?;
        state.evident.check_load()?;
        // A compressed body may legitimately be small; an uncompressed one
        // above the cap is refused before it is even read whole.
        let body = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES + 1)
            .await
            .map_err(|_| IntakeError::from(decode_error(DecodeError::TooLarge)))?;
        let batch = IntakeBatch {
            body: body.to_vec(),
            content_encoding: header(&headers, "content-encoding").map(str::to_string),
            content_type: header(&headers, "content-type").map(str::to_string),
            params,
        };
        Ok::<_, IntakeError>(state.evident.ingest(batch).await?)
    }
    .await;
    match accepted {
        Ok(_) => (success, Json(json!({}))).into_response(),
        Err(error) => error.into_response(),
    }
}

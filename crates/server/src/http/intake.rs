//! `POST /api/v2/logs`, `POST /v1/input[/<key>]`, `GET /api/v1/validate`.
//!
//! The answer comes only once the batch is durable: the handler waits for
//! the group commit that covers it.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use evident_model::{StoredEvent, Timestamp};
use evident_store::tail::TailFacts;
use serde_json::json;

use super::{IntakeError, SharedState, header};
use crate::intake::budget::{AMPLIFICATION, BudgetError};
use crate::intake::decode::{DecodeError, MAX_PAYLOAD_BYTES, decompress, parse_items};
use crate::intake::ids;
use crate::intake::normalize::{RequestContext, normalize, normalize_tags};
use crate::keys::KeyKind;

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
    match key {
        None => Err(IntakeError::new(
            StatusCode::UNAUTHORIZED,
            "missing API key: send it in the DD-API-KEY header",
        )),
        Some(key) if state.keys.accepts(KeyKind::Api, key) => Ok(()),
        Some(_) => Err(IntakeError::new(StatusCode::FORBIDDEN, "invalid API key")),
    }
}

async fn submit(
    state: SharedState,
    params: HashMap<String, String>,
    headers: HeaderMap,
    path_key: Option<String>,
    body: Body,
    success: StatusCode,
) -> Response {
    match accept(state, params, headers, path_key, body).await {
        Ok(count) => {
            tracing::debug!(events = count, "batch durable");
            (success, Json(json!({}))).into_response()
        }
        Err(error) => {
            tracing::info!(status = %error.status, detail = %error.detail, "intake request rejected");
            error.into_response()
        }
    }
}

async fn accept(
    state: SharedState,
    params: HashMap<String, String>,
    headers: HeaderMap,
    path_key: Option<String>,
    body: Body,
) -> Result<usize, IntakeError> {
    check_api_key(&state, &params, &headers, path_key.as_deref())?;
    check_load(&state)?;
    // A compressed body may legitimately be small; an uncompressed one above
    // the cap is refused before it is even read whole.
    let raw = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES + 1)
        .await
        .map_err(|_| decode_error(DecodeError::TooLarge))?;
    let content_encoding = header(&headers, "content-encoding").map(str::to_string);
    // Room to decode in, shared with the import API: a compressed body may
    // decode to the whole cap.
    let identity = content_encoding
        .as_deref()
        .is_none_or(|encoding| encoding.trim().eq_ignore_ascii_case("identity"));
    let decoded = if identity {
        raw.len()
    } else {
        MAX_PAYLOAD_BYTES
    };
    let _room = state
        .decode_budget
        .reserve(decoded.saturating_mul(AMPLIFICATION))
        .await
        .map_err(budget_error)?;
    let content_type = header(&headers, "content-type").map(str::to_string);
    let received = Timestamp::from_nanos(jiff::Timestamp::now().as_nanosecond() as i64);
    let context = RequestContext {
        received: Some(received),
        tags: params
            .get("ddtags")
            .map(|tags| normalize_tags(tags.split(',').map(str::to_string).collect()))
            .unwrap_or_default(),
        source: params.get("ddsource").cloned(),
        service: params.get("service").cloned(),
        host: params
            .get("host")
            .or_else(|| params.get("hostname"))
            .cloned(),
    };

    // Decompressing and parsing up to 5 MB is CPU work: off the async threads.
    // Each event leaves as its bytes and its tail facts; the parsed form
    // is dropped here, while it is still in the cache.
    type Encoded = (Vec<Vec<u8>>, Vec<TailFacts>, usize);
    let geoip = state.geoip.clone();
    let (payloads, facts, truncated) =
        tokio::task::spawn_blocking(move || -> Result<Encoded, DecodeError> {
            let bytes = decompress(&raw, content_encoding.as_deref())?;
            let items = parse_items(&bytes, content_type.as_deref())?;
            let events: Vec<StoredEvent> = items
                .into_iter()
                .map(|item| {
                    let mut normalized = normalize(item.fields, item.size, &context);
                    // After the size cap: the location adds a few hundred bytes.
                    if let Some(geoip) = &geoip {
                        geoip.enrich(&mut normalized.event);
                    }
                    StoredEvent {
                        id: ids::event_id(received),
                        discovery_timestamp: received,
                        tiebreaker: ids::tiebreaker(),
                        random_draw: ids::random_draw(),
                        ingest_size_in_bytes: item.size as u64,
                        truncated: normalized.truncated,
                        event: normalized.event,
                    }
                })
                .collect();
            let truncated = events.iter().filter(|event| event.truncated).count();
            let payloads = events.iter().map(StoredEvent::to_bytes).collect();
            let facts = events.iter().map(TailFacts::of).collect();
            Ok((payloads, facts, truncated))
        })
        .await
        .map_err(|error| {
            IntakeError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("intake task failed: {error}"),
            )
        })?
        .map_err(decode_error)?;

    if payloads.is_empty() {
        return Ok(0);
    }
    if truncated > 0 {
        tracing::info!(truncated, "events above 1 MB were truncated");
    }
    let count = payloads.len();
    store_durably(&state, payloads, facts).await?;
    Ok(count)
}

/// Refuses new events while the store is behind (senders retry 503).
pub(crate) fn check_load(state: &SharedState) -> Result<(), IntakeError> {
    if state.store.unsealed() > state.max_unsealed_events {
        return Err(IntakeError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded: sealing is behind ingest; retry shortly",
        ));
    }
    if state.store.pending_bytes() > state.max_pending_bytes {
        // Senders retry 503 after Retry-After; queueing more only adds latency.
        return Err(IntakeError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded: too much data is waiting to be written; retry shortly",
        ));
    }
    Ok(())
}

/// Appends encoded events and waits until they are durable, mapping the
/// store's failures to the answers senders retry on.
pub(crate) async fn store_durably(
    state: &SharedState,
    payloads: Vec<Vec<u8>>,
    facts: Vec<TailFacts>,
) -> Result<(), IntakeError> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    state.store.append_encoded(
        payloads,
        facts,
        Box::new(move |result| {
            let _ = sender.send(result);
        }),
    );
    match receiver.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) if error.is_disk_full() => Err(IntakeError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "the disk is full; nothing of this batch was stored",
        )),
        Ok(Err(error)) => {
            tracing::error!(%error, "could not store a batch");
            Err(IntakeError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("storage unavailable: {error}"),
            ))
        }
        Err(_) => Err(IntakeError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage is shutting down",
        )),
    }
}

pub(crate) fn budget_error(error: BudgetError) -> IntakeError {
    let status = match error {
        BudgetError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BudgetError::Busy => StatusCode::SERVICE_UNAVAILABLE,
    };
    IntakeError::new(status, error.to_string())
}

fn decode_error(error: DecodeError) -> IntakeError {
    let status = match &error {
        DecodeError::TooLarge | DecodeError::TooManyItems => StatusCode::PAYLOAD_TOO_LARGE,
        DecodeError::UnsupportedEncoding(_) | DecodeError::UnsupportedContentType(_) => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        DecodeError::BadCompression { .. } | DecodeError::Malformed(_) => StatusCode::BAD_REQUEST,
    };
    IntakeError::new(status, error.to_string())
}

//! `POST /api/v1/import/{source}?file=<name>`: one audit log file (its
//! bytes as delivered, gzip or not) with the intake's API key. Its records
//! are normalized, unreadable ones set aside in the dead-letter area, and
//! the answer (what became of each record) comes once everything is
//! durable. `evident import --server` sends files this way.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use evident_model::{StoredEvent, Timestamp};
use evident_sources::Source;
use evident_store::tail::TailFacts;

use super::intake::{check_api_key, check_load, store_durably};
use super::{IntakeError, SharedState};
use crate::import::{FileSummary, prepare};

/// Largest file accepted in one request (CloudTrail files are a few MB).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

pub async fn import_file(
    State(state): State<SharedState>,
    Path(source): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(state, source, params, headers, body).await {
        Ok(summary) => {
            tracing::info!(
                file = %summary.file,
                records = summary.records,
                imported = summary.imported,
                dead_letters = summary.dead_letters,
                "file imported"
            );
            (StatusCode::OK, Json(summary)).into_response()
        }
        Err(error) => {
            tracing::info!(status = %error.status, detail = %error.detail, "import request rejected");
            error.into_response()
        }
    }
}

async fn accept(
    state: SharedState,
    source: String,
    params: HashMap<String, String>,
    headers: HeaderMap,
    body: Body,
) -> Result<FileSummary, IntakeError> {
    check_api_key(&state, &params, &headers, None)?;
    let source: Source = source
        .parse()
        .map_err(|message: String| IntakeError::new(StatusCode::NOT_FOUND, message))?;
    check_load(&state)?;
    let file = params
        .get("file")
        .cloned()
        .unwrap_or_else(|| "request body".into());
    let bytes = axum::body::to_bytes(body, MAX_FILE_BYTES)
        .await
        .map_err(|_| {
            IntakeError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a file may have at most {MAX_FILE_BYTES} bytes"),
            )
        })?;

    let received = Timestamp::now();
    let task_state = state.clone();
    // Decompressing, parsing and normalizing are CPU work; the dead
    // letters are synced to disk before any event is stored, so that a
    // retried request cannot lose them.
    let (summary, payloads, facts) = tokio::task::spawn_blocking(move || {
        let prepared = prepare(source, &file, &bytes, received, task_state.geoip.as_deref());
        task_state
            .dead_letters
            .write(&prepared.dead_letters)
            .map_err(|error| {
                tracing::error!(%error, "writing dead letters failed");
                IntakeError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("writing the dead-letter area failed: {error}"),
                )
            })?;
        let payloads: Vec<Vec<u8>> = prepared.events.iter().map(StoredEvent::to_bytes).collect();
        let facts: Vec<TailFacts> = prepared.events.iter().map(TailFacts::of).collect();
        Ok::<_, IntakeError>((prepared.summary, payloads, facts))
    })
    .await
    .map_err(|error| {
        IntakeError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("import task failed: {error}"),
        )
    })??;
    if !payloads.is_empty() {
        store_durably(&state, payloads, facts).await?;
    }
    Ok(summary)
}

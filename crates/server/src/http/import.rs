//! `POST /api/v1/import/{source}?file=<name>[&origin=s3://bucket/key][&digest_sha256=<hex>]`:
//! one audit log file (its bytes as delivered, gzip or not) with the
//! intake's API key. Its records are normalized, unreadable ones set aside
//! in the dead-letter area, and the answer (what became of each record)
//! comes once everything is durable. A file with an origin is imported at
//! most once (`already_imported` in the answer). `evident import --server`
//! sends files this way.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use evident_sources::SourceChoice;

use super::intake::{budget_error, check_api_key, check_load};
use super::{IntakeError, SharedState};
use crate::import::{FileSummary, ImportError, Provenance};

/// Largest file accepted in one request (CloudTrail files are a few MB).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// What one chunk of records costs as events, beside the file's text.
const CHUNK_ALLOWANCE: usize = 64 * 1024 * 1024;

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
    let source: SourceChoice = source
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

    // Room to decode in, shared with the intake: a compressed file may
    // decode to the whole cap, and its records are turned into events a
    // chunk at a time.
    let compressed = bytes.starts_with(&[0x1f, 0x8b]);
    let decoded = if compressed {
        evident_sources::records::MAX_FILE_BYTES as usize
    } else {
        bytes.len()
    };
    let _room = state
        .decode_budget
        .reserve(decoded.saturating_add(CHUNK_ALLOWANCE))
        .await
        .map_err(budget_error)?;
    let origin = params.get("origin").cloned();
    let listed = params.get("digest_sha256").cloned();
    let importer = Arc::clone(&state.importer);
    // Decompressing, parsing and normalizing are CPU work, storing waits
    // for the disk: off the async threads.
    let summary = tokio::task::spawn_blocking(move || {
        // The caller declares where the file comes from: kept apart from
        // what evident reads from a bucket itself, and never `verified`.
        importer.import_vouched(
            source,
            &file,
            origin.as_deref(),
            &bytes,
            listed.as_deref(),
            Provenance::Declared,
        )
    })
    .await
    .map_err(|error| {
        IntakeError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("import task failed: {error}"),
        )
    })?
    .map_err(|error| {
        if error.is_disk_full() {
            IntakeError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "the disk is full; the file was not imported",
            )
        } else {
            tracing::error!(%error, "import failed");
            IntakeError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
        }
    })?;
    if summary.too_large {
        // Set aside in the dead-letter area, and said as the size it is.
        return Err(IntakeError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            summary.error.unwrap_or_default(),
        ));
    }
    Ok(summary)
}

/// `POST /api/v1/import/cloudtrail-digest?origin=s3://bucket/key&bucket=name`:
/// a CloudTrail digest file, checked against the files imported from the
/// bucket `name` (default: the origin's). Answers the report, or
/// `{"already_checked": true}`.
pub async fn check_digest(
    State(state): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        check_api_key(&state, &params, &headers, None)?;
        let Some(origin) = params.get("origin").cloned() else {
            return Err(IntakeError::new(
                StatusCode::BAD_REQUEST,
                "origin=s3://bucket/key is required",
            ));
        };
        let bucket = params.get("bucket").cloned().unwrap_or_else(|| {
            origin
                .trim_start_matches("s3://")
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string()
        });
        let bytes = axum::body::to_bytes(body, MAX_FILE_BYTES)
            .await
            .map_err(|_| IntakeError::new(StatusCode::PAYLOAD_TOO_LARGE, "digest too large"))?;
        let importer = Arc::clone(&state.importer);
        tokio::task::spawn_blocking(move || {
            importer.check_digest(&origin, &bucket, &bytes, Provenance::Declared)
        })
        .await
        .map_err(|error| {
            IntakeError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("digest task failed: {error}"),
            )
        })?
        .map_err(|error| match error {
            ImportError::Digest(_) => IntakeError::new(StatusCode::BAD_REQUEST, error.to_string()),
            other => IntakeError::new(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
        })
    }
    .await;
    match result {
        Ok(Some(report)) => {
            (StatusCode::OK, Json(serde_json::json!({"report": report}))).into_response()
        }
        Ok(None) => (
            StatusCode::OK,
            Json(serde_json::json!({"already_checked": true})),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

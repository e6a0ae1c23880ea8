//! `POST /api/v1/import/{source}?file=<name>[&origin=s3://bucket/key][&digest_sha256=<hex>]`:
//! one audit log file (its bytes as delivered, gzip or not) with the
//! intake's API key. Its records are normalized, unreadable ones set aside
//! in the dead-letter area, and the answer (what became of each record)
//! comes once everything is durable. A file with an origin is imported at
//! most once (`already_imported` in the answer). `evident import --server`
//! sends files this way. The caller declares the origin and the digest's
//! hash: kept apart from what evident reads from a bucket itself.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use evident_app::import::{ImportRequest, Provenance};
use evident_sources::SourceChoice;

use super::intake::check_api_key;
use super::{IntakeError, SharedState};

/// Largest file accepted in one request (CloudTrail files are a few MB).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

pub async fn import_file(
    State(state): State<SharedState>,
    Path(source): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let imported = async {
        check_api_key(&state, &params, &headers, None)?;
        let source: SourceChoice = source
            .parse()
            .map_err(|message: String| IntakeError::new(StatusCode::NOT_FOUND, message))?;
        state.evident.check_load()?;
        let bytes = axum::body::to_bytes(body, MAX_FILE_BYTES)
            .await
            .map_err(|_| {
                IntakeError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("a file may have at most {MAX_FILE_BYTES} bytes"),
                )
            })?;
        let request = ImportRequest {
            source,
            file: params
                .get("file")
                .cloned()
                .unwrap_or_else(|| "request body".into()),
            origin: params.get("origin").cloned(),
            bytes: bytes.to_vec(),
            listed_sha256: params.get("digest_sha256").cloned(),
            provenance: Provenance::Declared,
        };
        let summary = state.evident.import_file(request).await?;
        if summary.too_large {
            // Set aside in the dead-letter area, and said as the size it is.
            return Err(IntakeError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                summary.error.unwrap_or_default(),
            ));
        }
        Ok(summary)
    }
    .await;
    match imported {
        Ok(summary) => (StatusCode::OK, Json(summary)).into_response(),
        Err(error) => {
            tracing::info!(status = %error.status, detail = %error.detail, "import request rejected");
            error.into_response()
        }
    }
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
        Ok(state
            .evident
            .check_digest(origin, bucket, bytes.to_vec(), Provenance::Declared)
            .await?)
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

//! `POST /api/v1/sql`: a read-only SQL statement over the audit events
//! (`dd.audit(...)`), answered as JSON (`{"columns": [...], "rows": [...]}`)
//! or, with `Accept: text/csv`, as CSV. Rows stream as they are computed;
//! an error before the first row gets its own status, one after it cuts
//! the response short. The statement is recorded before it runs (by
//! `Evident::sql`).
//!
//! `from` / `to` in the body set the window of `dd.audit` calls without
//! time bounds (default: every retained event).

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use evident_app::Actor;
use evident_app::sql_output::{append_csv_rows, append_json_rows, columns_json, csv_header};
use evident_model::Timestamp;
use evident_query::sql::SqlContext;
use futures::{StreamExt, stream};
use serde::Deserialize;

use super::{JsonBody, QueryError, SharedState, header as header_text};

/// Statements longer than this are refused before parsing.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;
/// Bodies longer than this are refused (413) before they are read whole.
pub const MAX_BODY_BYTES: usize = 2 * MAX_STATEMENT_BYTES;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlBody {
    query: String,
    from: Option<String>,
    to: Option<String>,
}

pub async fn sql(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SqlBody, MAX_BODY_BYTES>,
) -> Response {
    match run(&state, &actor, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(
    state: &SharedState,
    actor: &Actor,
    headers: &HeaderMap,
    body: SqlBody,
) -> Result<Response, QueryError> {
    if body.query.len() > MAX_STATEMENT_BYTES {
        return Err(QueryError::bad_request(format!(
            "the statement is longer than {MAX_STATEMENT_BYTES} bytes"
        )));
    }
    let context = SqlContext::bounded(Timestamp::now(), body.from.as_deref(), body.to.as_deref())
        .map_err(QueryError::bad_request)?;
    let csv = header_text(headers, "accept").is_some_and(|accept| accept.contains("text/csv"));
    let answer = state.evident.sql(actor, &body.query, &[], context).await?;
    let schema = answer.schema;
    let mut batches = answer.rows;
    // The first batch is awaited before answering, so that most errors
    // (casts, the store) still get a status of their own.
    let first = match batches.next().await {
        Some(Err(error)) => return Err(error.into()),
        other => other,
    };
    let rest = stream::iter(first).chain(batches);

    let (content_type, head, tail): (&str, Bytes, Bytes) = if csv {
        (
            "text/csv; charset=utf-8",
            Bytes::from(csv_header(&schema)),
            Bytes::new(),
        )
    } else {
        let head = format!("{{\"columns\":{},\"rows\":[", columns_json(&schema));
        (
            "application/json",
            Bytes::from(head),
            Bytes::from_static(b"]}"),
        )
    };
    let body_rows = rest.scan(true, move |first_row, batch| {
        let chunk = batch
            .map_err(|error| std::io::Error::other(error.message))
            .and_then(|batch| {
                let encoded = if csv {
                    let mut text = String::new();
                    append_csv_rows(&batch, &mut text).map(|()| text.into_bytes())
                } else {
                    let mut bytes = Vec::new();
                    append_json_rows(&batch, &mut bytes, first_row).map(|()| bytes)
                };
                encoded.map(Bytes::from).map_err(std::io::Error::other)
            });
        std::future::ready(Some(chunk))
    });
    let chunks = stream::once(std::future::ready(Ok(head)))
        .chain(body_rows)
        .chain(stream::once(std::future::ready(Ok(tail))));
    let mut response = Response::new(Body::from_stream(chunks));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

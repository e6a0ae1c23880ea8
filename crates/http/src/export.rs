//! `GET /api/v1/export?query=&from=&to=&format=csv|json&columns=`: every
//! event a query matches, newest first, streamed page by page, as an
//! attachment.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use evident_app::Actor;

use super::{QueryError, SharedState};

pub async fn export(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let export = match state.evident.export(&actor, &params).await {
        Ok(export) => export,
        Err(error) => return QueryError::from(error).into_response(),
    };
    let mut response = Body::from_stream(export.chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(export.content_type),
    );
    let disposition = format!("attachment; filename=\"{}\"", export.file_name);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

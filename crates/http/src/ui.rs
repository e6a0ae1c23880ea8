//! The web UI: a few static files compiled into the binary and served at
//! `/`, so the UI needs no other server and fetches nothing from the
//! internet. The page talks to the same JSON APIs as any client, signed in
//! by a session cookie (see `ui_session`).

use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::QueryError;

/// Scripts, styles and images only from this server; no inline scripts.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const INDEX: &str = include_str!("../ui/index.html");

/// `(name, content type, bytes)` of every asset under `/ui/`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/app.js"),
    ),
    (
        "monitors.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/monitors.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../ui/app.css"),
    ),
];

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Assets change with the binary; revalidating them costs one round trip.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /` (and the UI's own paths): the page.
pub async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// `GET /ui/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, content_type, body)) => page(content_type, body),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ValidateParams {
    #[serde(default)]
    query: String,
}

/// `GET /api/v1/query/validate?query=...`: whether a query parses, and if
/// not, where and why (the explorer shows it as you type).
pub async fn validate(Query(params): Query<ValidateParams>) -> Response {
    if params.query.len() > 64 * 1024 {
        return QueryError::bad_request("the query is longer than 64 KiB").into_response();
    }
    let body = match evident_search::parse(&params.query) {
        Ok(_) => json!({"valid": true}),
        Err(error) => json!({
            "valid": false,
            "error": error.message,
            "column": error.column,
            "offset": error.offset,
        }),
    };
    axum::Json(body).into_response()
}

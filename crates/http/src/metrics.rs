//! `GET /metrics`: the service's counters in the Prometheus text format,
//! for scraping. Counts only, no event data, so it needs no key.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::SharedState;

pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.evident.metrics().render(),
    )
}

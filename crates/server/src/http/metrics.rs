//! `GET /metrics`: counters in the Prometheus text format, for scraping.
//! Counts only, no event data, so it needs no key.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::SharedState;

pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    let mut metrics = vec![
        (
            "evident_dead_letters_total",
            "counter",
            "Imported records and files set aside in the dead-letter area since the server started.",
            state.importer.dead_letters().written(),
        ),
        (
            "evident_imported_bucket_files",
            "gauge",
            "Files and digests from buckets imported or checked, all time.",
            state.importer.imported_files() as u64,
        ),
        (
            "evident_unsealed_events",
            "gauge",
            "Acknowledged events waiting in memory to be sealed into a segment.",
            state.store.unsealed(),
        ),
        (
            "evident_pending_bytes",
            "gauge",
            "Bytes of acknowledged-to-be events waiting for the disk.",
            state.store.pending_bytes() as u64,
        ),
    ];
    // The gateway `serve` runs beside it, once started.
    if let Some(counters) = state.gateway_counters.get() {
        let load = |counter: &std::sync::atomic::AtomicU64| {
            counter.load(std::sync::atomic::Ordering::Relaxed)
        };
        metrics.extend([
            (
                "evident_gateway_events_sent_total",
                "counter",
                "Gateway audit events evident acknowledged.",
                load(&counters.sent),
            ),
            (
                "evident_gateway_events_rejected_total",
                "counter",
                "Gateway audit events evident refused for good (set aside in the spool's rejected folder).",
                load(&counters.rejected),
            ),
            (
                "evident_gateway_events_dropped_total",
                "counter",
                "Gateway audit events lost (refused for good without a spool, or not written).",
                load(&counters.dropped),
            ),
            (
                "evident_gateway_events_spooled_total",
                "counter",
                "Gateway audit events written to the spool.",
                load(&counters.spooled),
            ),
            (
                "evident_gateway_failed_posts_total",
                "counter",
                "Posts of gateway audit events that failed and were retried.",
                load(&counters.failed_posts),
            ),
        ]);
    }
    let mut text = String::new();
    for (name, kind, help, value) in metrics {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

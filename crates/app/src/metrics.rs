//! evident's own telemetry, from one place: each thing worth knowing is an
//! [`Internal`] event, and [`Metrics::emit`] both logs it (structured
//! `tracing` fields) and counts it, so a log line and a counter never
//! disagree. `GET /metrics` renders [`Metrics::render`] in the Prometheus
//! text format; components that count for themselves (the gateway's
//! recorder, the importer) add theirs through [`Metrics::add_source`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ErrorKind;

/// Something that happened inside evident.
#[derive(Debug)]
pub enum Internal<'a> {
    /// A page of search results (or a live-tail poll, an export page).
    SearchServed { hits: usize, elapsed: Duration },
    /// An aggregation answered.
    AggregateServed { elapsed: Duration },
    /// A read that failed.
    ReadFailed {
        what: &'a str,
        kind: ErrorKind,
        message: &'a str,
    },
    /// A SQL statement recorded and started.
    SqlStarted { surface: &'a str },
    /// A SQL statement refused or failed before its first row.
    SqlFailed {
        surface: &'a str,
        kind: ErrorKind,
        message: &'a str,
    },
    /// Events written durably by the intake (a batch of `events`).
    Ingested { events: usize },
    /// A batch refused by the intake.
    IngestRefused { kind: ErrorKind, message: &'a str },
    /// Full runs of the tail sealed into segments.
    Sealed {
        segments: usize,
        events: u64,
        elapsed: Duration,
    },
    /// Sealing failed; the log keeps the events.
    SealFailed { message: &'a str },
    /// A checkpoint signed over `size` leaves.
    CheckpointSigned { size: u64 },
    /// Signing a checkpoint failed.
    CheckpointFailed { message: &'a str },
    /// Retention dropped segments holding `events`.
    Expired { events: u64 },
    /// Retention failed.
    RetentionFailed { message: &'a str },
}

/// One value for `/metrics`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: &'static str,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    pub help: &'static str,
    pub value: u64,
}

type Source = Box<dyn Fn(&mut Vec<Sample>) + Send + Sync>;

/// The counters behind `/metrics`.
#[derive(Default)]
pub struct Metrics {
    searches: AtomicU64,
    search_hits: AtomicU64,
    search_micros: AtomicU64,
    aggregates: AtomicU64,
    aggregate_micros: AtomicU64,
    read_failures: AtomicU64,
    sql_statements: AtomicU64,
    sql_failures: AtomicU64,
    ingested_events: AtomicU64,
    ingest_refusals: AtomicU64,
    seals: AtomicU64,
    sealed_events: AtomicU64,
    seal_micros: AtomicU64,
    seal_failures: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_failures: AtomicU64,
    checkpoint_size: AtomicU64,
    expired_events: AtomicU64,
    retention_failures: AtomicU64,
    sources: Mutex<Vec<Source>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn add(counter: &AtomicU64, value: u64) {
    counter.fetch_add(value, Ordering::Relaxed);
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

impl Metrics {
    /// Logs `event` and counts it.
    pub fn emit(&self, event: Internal<'_>) {
        match event {
            Internal::SearchServed { hits, elapsed } => {
                tracing::debug!(
                    hits,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "search served"
                );
                add(&self.searches, 1);
                add(&self.search_hits, hits as u64);
                add(&self.search_micros, micros(elapsed));
            }
            Internal::AggregateServed { elapsed } => {
                tracing::debug!(
                    elapsed_ms = elapsed.as_millis() as u64,
                    "aggregation served"
                );
                add(&self.aggregates, 1);
                add(&self.aggregate_micros, micros(elapsed));
            }
            Internal::ReadFailed {
                what,
                kind,
                message,
            } => {
                tracing::info!(what, ?kind, error = message, "read refused");
                add(&self.read_failures, 1);
            }
            Internal::SqlStarted { surface } => {
                tracing::debug!(surface, "sql statement recorded and started");
                add(&self.sql_statements, 1);
            }
            Internal::SqlFailed {
                surface,
                kind,
                message,
            } => {
                if kind.is_callers() {
                    tracing::info!(surface, ?kind, error = message, "sql statement refused");
                } else {
                    tracing::error!(surface, ?kind, error = message, "sql statement failed");
                }
                add(&self.sql_failures, 1);
            }
            Internal::Ingested { events } => {
                tracing::debug!(events, "batch durable");
                add(&self.ingested_events, events as u64);
            }
            Internal::IngestRefused { kind, message } => {
                tracing::info!(?kind, detail = message, "intake request rejected");
                add(&self.ingest_refusals, 1);
            }
            Internal::Sealed {
                segments,
                events,
                elapsed,
            } => {
                tracing::info!(
                    segments,
                    events,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "sealed"
                );
                add(&self.seals, segments as u64);
                add(&self.sealed_events, events);
                add(&self.seal_micros, micros(elapsed));
            }
            Internal::SealFailed { message } => {
                tracing::error!(
                    error = message,
                    "sealing a segment failed; the log keeps the events"
                );
                add(&self.seal_failures, 1);
            }
            Internal::CheckpointSigned { size } => {
                tracing::trace!(size, "checkpoint signed");
                add(&self.checkpoints, 1);
                self.checkpoint_size.store(size, Ordering::Relaxed);
            }
            Internal::CheckpointFailed { message } => {
                tracing::error!(error = message, "signing a checkpoint failed");
                add(&self.checkpoint_failures, 1);
            }
            Internal::Expired { events } => {
                tracing::info!(events, "retention dropped segments");
                add(&self.expired_events, events);
            }
            Internal::RetentionFailed { message } => {
                tracing::error!(error = message, "applying retention failed");
                add(&self.retention_failures, 1);
            }
        }
    }

    /// Counters kept elsewhere, read at each render.
    pub fn add_source(&self, source: impl Fn(&mut Vec<Sample>) + Send + Sync + 'static) {
        if let Ok(mut sources) = self.sources.lock() {
            sources.push(Box::new(source));
        }
    }

    /// Every sample: the counters here, then the sources'.
    pub fn samples(&self) -> Vec<Sample> {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counter = |name, help, value| Sample {
            name,
            kind: "counter",
            help,
            value,
        };
        let mut samples = vec![
            counter(
                "evident_searches_total",
                "Search pages, live-tail polls and export pages served.",
                load(&self.searches),
            ),
            counter(
                "evident_search_hits_total",
                "Events returned by searches.",
                load(&self.search_hits),
            ),
            counter(
                "evident_search_micros_total",
                "Microseconds spent serving searches.",
                load(&self.search_micros),
            ),
            counter(
                "evident_aggregations_total",
                "Aggregations served.",
                load(&self.aggregates),
            ),
            counter(
                "evident_aggregation_micros_total",
                "Microseconds spent serving aggregations.",
                load(&self.aggregate_micros),
            ),
            counter(
                "evident_read_failures_total",
                "Searches, aggregations and proofs refused or failed.",
                load(&self.read_failures),
            ),
            counter(
                "evident_sql_statements_total",
                "SQL statements recorded and run, on every surface.",
                load(&self.sql_statements),
            ),
            counter(
                "evident_sql_failures_total",
                "SQL statements refused or failed.",
                load(&self.sql_failures),
            ),
            counter(
                "evident_ingested_events_total",
                "Events the intake stored durably.",
                load(&self.ingested_events),
            ),
            counter(
                "evident_intake_refusals_total",
                "Intake requests refused.",
                load(&self.ingest_refusals),
            ),
            counter(
                "evident_sealed_segments_total",
                "Segments sealed.",
                load(&self.seals),
            ),
            counter(
                "evident_sealed_events_total",
                "Events sealed into segments.",
                load(&self.sealed_events),
            ),
            counter(
                "evident_seal_micros_total",
                "Microseconds spent sealing.",
                load(&self.seal_micros),
            ),
            counter(
                "evident_seal_failures_total",
                "Sealing passes that failed (the log keeps the events).",
                load(&self.seal_failures),
            ),
            counter(
                "evident_checkpoints_total",
                "Checkpoints signed.",
                load(&self.checkpoints),
            ),
            counter(
                "evident_checkpoint_failures_total",
                "Checkpoints that could not be signed.",
                load(&self.checkpoint_failures),
            ),
            Sample {
                name: "evident_checkpoint_tree_size",
                kind: "gauge",
                help: "Leaves covered by the latest checkpoint signed since the server started.",
                value: load(&self.checkpoint_size),
            },
            counter(
                "evident_expired_events_total",
                "Events dropped by retention (whole segments).",
                load(&self.expired_events),
            ),
            counter(
                "evident_retention_failures_total",
                "Retention passes that failed.",
                load(&self.retention_failures),
            ),
        ];
        if let Ok(sources) = self.sources.lock() {
            for source in sources.iter() {
                source(&mut samples);
            }
        }
        samples
    }

    /// The Prometheus text format of [`Metrics::samples`].
    pub fn render(&self) -> String {
        let mut text = String::new();
        for Sample {
            name,
            kind,
            help,
            value,
        } in self.samples()
        {
            text.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_counted_and_sources_are_rendered() {
        let metrics = Metrics::default();
        metrics.emit(Internal::Sealed {
            segments: 1,
            events: 7,
            elapsed: Duration::from_millis(3),
        });
        metrics.emit(Internal::SqlStarted { surface: "http" });
        metrics.add_source(|samples| {
            samples.push(Sample {
                name: "extra_total",
                kind: "counter",
                help: "From elsewhere.",
                value: 5,
            })
        });
        let text = metrics.render();
        assert!(text.contains("\nevident_sealed_events_total 7\n"), "{text}");
        assert!(
            text.contains("\nevident_sql_statements_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE extra_total counter\nextra_total 5\n"),
            "{text}"
        );
    }
}

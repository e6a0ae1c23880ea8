//! The intake as an operation: a batch of logs, checked, decoded,
//! normalized and stored; the answer comes once the batch is durable.

use std::collections::HashMap;

use evident_model::{StoredEvent, Timestamp};
use evident_store::tail::TailFacts;

use super::budget::{AMPLIFICATION, BudgetError};
use super::decode::{DecodeError, MAX_PAYLOAD_BYTES, decompress, parse_items};
use super::ids;
use super::normalize::{RequestContext, normalize, normalize_tags};
use crate::Evident;
use crate::access::KeyKind;
use crate::error::{AppError, ErrorKind};
use crate::metrics::Internal;
use crate::monitors::inbox::{Observations, Prepared};
use evident_monitor::watch::Scratch;

/// A request body for the intake, as received.
#[derive(Debug)]
pub struct IntakeBatch {
    pub body: Vec<u8>,
    pub content_encoding: Option<String>,
    pub content_type: Option<String>,
    /// The query string: `ddtags`, `ddsource`, `service`, `host`.
    pub params: HashMap<String, String>,
}

/// The kind of a body that cannot be decoded.
pub fn decode_error(error: DecodeError) -> AppError {
    let kind = match &error {
        DecodeError::TooLarge | DecodeError::TooManyItems => ErrorKind::TooLarge,
        DecodeError::UnsupportedEncoding(_) | DecodeError::UnsupportedContentType(_) => {
            ErrorKind::UnsupportedFormat
        }
        DecodeError::BadCompression { .. } | DecodeError::Malformed(_) => {
            ErrorKind::InvalidArgument
        }
    };
    AppError::new(kind, error.to_string())
}

pub(crate) fn budget_error(error: BudgetError) -> AppError {
    let kind = match error {
        BudgetError::TooLarge { .. } => ErrorKind::TooLarge,
        BudgetError::Busy => ErrorKind::Busy,
    };
    AppError::new(kind, error.to_string())
}

impl Evident {
    /// Whether `presented` is an intake (API) key.
    pub fn check_api_key(&self, presented: Option<&str>) -> Result<(), AppError> {
        match presented {
            None => Err(AppError::unauthenticated(
                "missing API key: send it in the DD-API-KEY header",
            )),
            Some(key) if self.access.accepts(KeyKind::Api, key) => Ok(()),
            Some(_) => Err(AppError::forbidden("invalid API key")),
        }
    }

    /// Refuses new events while the store is behind (senders retry).
    pub fn check_load(&self) -> Result<(), AppError> {
        if self.store.unsealed() > self.settings.max_unsealed_events {
            return Err(AppError::busy(
                "overloaded: sealing is behind ingest; retry shortly",
            ));
        }
        if self.store.pending_bytes() > self.settings.max_pending_bytes {
            // Senders retry after Retry-After; queueing more only adds latency.
            return Err(AppError::busy(
                "overloaded: too much data is waiting to be written; retry shortly",
            ));
        }
        Ok(())
    }

    /// Stores a batch of logs; the number of events, once durable.
    pub async fn ingest(&self, batch: IntakeBatch) -> Result<usize, AppError> {
        let result = self.ingest_batch(batch).await;
        match &result {
            Ok(events) => self.metrics.emit(Internal::Ingested { events: *events }),
            Err(error) => self.metrics.emit(Internal::IngestRefused {
                kind: error.kind,
                message: &error.message,
            }),
        }
        result
    }

    async fn ingest_batch(&self, batch: IntakeBatch) -> Result<usize, AppError> {
        let IntakeBatch {
            body,
            content_encoding,
            content_type,
            params,
        } = batch;
        // Room to decode in, shared with the import: a compressed body may
        // decode to the whole cap.
        let identity = content_encoding
            .as_deref()
            .is_none_or(|encoding| encoding.trim().eq_ignore_ascii_case("identity"));
        let decoded = if identity {
            body.len()
        } else {
            MAX_PAYLOAD_BYTES
        };
        let _room = self
            .decode_budget
            .reserve(decoded.saturating_mul(AMPLIFICATION))
            .await
            .map_err(budget_error)?;
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

        // Decompressing and parsing up to 5 MB is CPU work: off the async
        // threads. Each event leaves as its bytes and its tail facts; the
        // parsed form is dropped here, while it is still in the cache.
        // With monitors, the same pass takes what each event brings them
        // (evaluation judges it later, in log order).
        type Encoded = (
            Vec<Vec<u8>>,
            Vec<TailFacts>,
            usize,
            Option<Vec<Observations>>,
        );
        let geoip = self.geoip.clone();
        let watch = self.monitors.inbox.watch();
        let generation = watch.as_ref().map(|watch| watch.generation());
        let (payloads, facts, truncated, observations) =
            tokio::task::spawn_blocking(move || -> Result<Encoded, DecodeError> {
                let bytes = decompress(&body, content_encoding.as_deref())?;
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
                let facts: Vec<TailFacts> = events.iter().map(TailFacts::of).collect();
                let observations = watch.map(|watch| {
                    let mut scratch = Scratch::default();
                    events
                        .iter()
                        .zip(&facts)
                        .map(|(stored, facts)| {
                            watch.observe(
                                &facts.terms,
                                facts.time,
                                &mut &stored.event,
                                &mut scratch,
                            )
                        })
                        .collect()
                });
                Ok((payloads, facts, truncated, observations))
            })
            .await
            .map_err(|error| AppError::task("intake", error))?
            .map_err(decode_error)?;

        if payloads.is_empty() {
            return Ok(0);
        }
        if truncated > 0 {
            tracing::info!(truncated, "events above 1 MB were truncated");
        }
        let count = payloads.len();
        let positions = self
            .store
            .commit_encoded(payloads, facts)
            .await
            .map_err(|error| AppError::from_wal(&error, "this batch"))?;
        if let (Some(generation), Some(observations)) = (generation, observations) {
            self.monitors.inbox.push(Prepared {
                generation,
                first: positions.start,
                events: observations.into_iter().map(Some).collect(),
            });
        }
        Ok(count)
    }
}

//! Reading events: search pages, aggregations, live tail and exports, in
//! Datadog's shapes. Each operation parses its query with the search
//! syntax, runs on the store off the async threads and reports to the
//! metrics.

pub mod aggregate;
pub mod export;
mod hit;
pub mod live;
pub mod search;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use evident_model::StoredEvent;
use serde_json::{Value, json};

use crate::Evident;
use crate::ReadAudit;
use crate::activity::{ReadActivity, read_event};
use crate::actor::Actor;
use crate::error::{AppError, ErrorKind};
use crate::metrics::Internal;
pub use aggregate::AggregateBody;
pub use export::Export;
pub use live::LiveBody;
pub use search::{Flavor, SearchBody, SearchRequest, SearchResponse, format_time};

impl Evident {
    /// Starts recording a read (when reads are audited): the append runs
    /// while the read does, and the answer waits for both.
    pub(crate) fn start_read_record(
        &self,
        actor: &Actor,
        read: &ReadActivity<'_>,
    ) -> Option<evident_store::Commit> {
        let record = self.read_record(actor, read)?;
        Some(self.submit_read_record(record))
    }

    /// A read's record, when reads are audited.
    fn read_record(&self, actor: &Actor, read: &ReadActivity<'_>) -> Option<StoredEvent> {
        (self.settings.audit_reads != ReadAudit::Off).then(|| self.located(read_event(actor, read)))
    }

    fn submit_read_record(&self, record: StoredEvent) -> evident_store::Commit {
        match self.settings.audit_reads {
            ReadAudit::Durable => self.store.commit(vec![record]),
            ReadAudit::Written | ReadAudit::Off => self.store.commit_written(vec![record]),
        }
    }

    /// Runs `answer` and keeps `record` alongside: the read is polled
    /// first, so its work is on a blocking thread before the record is
    /// encoded and appended; the answer waits for both.
    async fn answer_recorded<T>(
        &self,
        record: Option<StoredEvent>,
        answer: impl Future<Output = Result<T, AppError>>,
    ) -> Result<T, AppError> {
        let kept = async move {
            let commit = record.map(|record| self.submit_read_record(record));
            self.finish_read_record(commit).await
        };
        let (answer, kept) = tokio::join!(biased; answer, kept);
        kept?;
        answer
    }

    /// Waits for a read's record to be kept (see [`ReadAudit`]).
    pub(crate) async fn finish_read_record(
        &self,
        record: Option<evident_store::Commit>,
    ) -> Result<(), AppError> {
        match record {
            Some(commit) => commit.await.map(|_| ()).map_err(|error| {
                if error.is_disk_full() {
                    AppError::new(
                        ErrorKind::StorageFull,
                        "the disk is full: this read cannot be recorded, so it is not answered",
                    )
                } else {
                    AppError::from_wal(&error, "the audit record of this read")
                }
            }),
            None => Ok(()),
        }
    }

    fn read_failed(&self, what: &str, error: AppError) -> AppError {
        self.metrics.emit(Internal::ReadFailed {
            what,
            kind: error.kind,
            message: &error.message,
        });
        error
    }

    /// One page of search results, recorded as `actor`'s read;
    /// `meta.elapsed` says how long it took.
    pub async fn search_page(
        &self,
        actor: &Actor,
        request: SearchRequest,
        flavor: Flavor,
    ) -> Result<SearchResponse, AppError> {
        let record = self.read_record(
            actor,
            &ReadActivity {
                kind: "search",
                query: &request.query,
                from: Some(&request.from),
                to: Some(&request.to),
                results: None,
            },
        );
        self.answer_recorded(record, self.search_page_unrecorded(request, flavor))
            .await
    }

    /// [`Evident::search_page`] for a read recorded as a whole elsewhere
    /// (the pages of an export).
    pub(crate) async fn search_page_unrecorded(
        &self,
        request: SearchRequest,
        flavor: Flavor,
    ) -> Result<SearchResponse, AppError> {
        let started = Instant::now();
        let page = self
            .blocking("search", move |store| {
                search::search_page(store, &request, flavor)
            })
            .await;
        match page {
            Ok(mut page) => {
                let elapsed = started.elapsed();
                page.meta.elapsed = Some(elapsed.as_millis() as u64);
                self.metrics.emit(Internal::SearchServed {
                    hits: page.data.len(),
                    elapsed,
                });
                Ok(page)
            }
            Err(error) => Err(self.read_failed("search", error)),
        }
    }

    /// Counts and measures grouped by facets, as totals or timeseries,
    /// recorded as `actor`'s read.
    pub async fn aggregate(&self, actor: &Actor, body: AggregateBody) -> Result<Value, AppError> {
        let record = self.read_record(
            actor,
            &ReadActivity {
                kind: "aggregate",
                query: body.query(),
                from: body.from(),
                to: body.to(),
                results: None,
            },
        );
        self.answer_recorded(record, self.aggregate_unrecorded(body))
            .await
    }

    async fn aggregate_unrecorded(&self, body: AggregateBody) -> Result<Value, AppError> {
        let started = Instant::now();
        let answer = self
            .blocking("aggregation", move |store| {
                aggregate::aggregate(store, body)
            })
            .await;
        match answer {
            Ok(mut answer) => {
                let elapsed = started.elapsed();
                answer["meta"]["elapsed"] = json!(elapsed.as_millis() as u64);
                self.metrics.emit(Internal::AggregateServed { elapsed });
                Ok(answer)
            }
            Err(error) => Err(self.read_failed("aggregation", error)),
        }
    }

    /// The matching events that arrived from a log position on. The start
    /// of a tail (no position yet) is recorded as `actor`'s read; the
    /// polls that follow it are not, so a tail left open does not fill
    /// the trail.
    pub async fn live(&self, actor: &Actor, body: LiveBody) -> Result<Value, AppError> {
        // Recorded once the answer is known: a tail's first answer is the
        // log's end, which its own record must not move.
        let read = body.starts().then(|| body.query().to_owned());
        let answer = self.live_unrecorded(body).await;
        if let Some(query) = read {
            let record = self.start_read_record(
                actor,
                &ReadActivity {
                    kind: "live_tail",
                    query: &query,
                    from: None,
                    to: None,
                    results: None,
                },
            );
            self.finish_read_record(record).await?;
        }
        answer
    }

    async fn live_unrecorded(&self, body: LiveBody) -> Result<Value, AppError> {
        let started = Instant::now();
        match self
            .blocking("live tail", move |store| live::live(store, body))
            .await
        {
            Ok((answer, hits)) => {
                self.metrics.emit(Internal::SearchServed {
                    hits,
                    elapsed: started.elapsed(),
                });
                Ok(answer)
            }
            Err(error) => Err(self.read_failed("live tail", error)),
        }
    }

    /// Every event a query matches, streamed a page at a time; recorded
    /// as `actor`'s read when it starts and, with the number of events,
    /// before its last bytes go out.
    pub async fn export(
        self: &Arc<Self>,
        actor: &Actor,
        params: &HashMap<String, String>,
    ) -> Result<Export, AppError> {
        let export = export::start(Arc::clone(self), actor.clone(), params)
            .map_err(|error| self.read_failed("export", error))?;
        let record = self.start_read_record(actor, &export.read(None));
        self.finish_read_record(record).await?;
        Ok(export)
    }
}

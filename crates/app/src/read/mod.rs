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

use serde_json::{Value, json};

use crate::Evident;
use crate::error::AppError;
use crate::metrics::Internal;
pub use aggregate::AggregateBody;
pub use export::Export;
pub use live::LiveBody;
pub use search::{Flavor, SearchBody, SearchRequest, SearchResponse, format_time};

impl Evident {
    fn read_failed(&self, what: &str, error: AppError) -> AppError {
        self.metrics.emit(Internal::ReadFailed {
            what,
            kind: error.kind,
            message: &error.message,
        });
        error
    }

    /// One page of search results; `meta.elapsed` says how long it took.
    pub async fn search_page(
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

    /// Counts and measures grouped by facets, as totals or timeseries.
    pub async fn aggregate(&self, body: AggregateBody) -> Result<Value, AppError> {
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

    /// The matching events that arrived from a log position on.
    pub async fn live(&self, body: LiveBody) -> Result<Value, AppError> {
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

    /// Every event a query matches, streamed a page at a time.
    pub fn export(self: &Arc<Self>, params: &HashMap<String, String>) -> Result<Export, AppError> {
        export::start(Arc::clone(self), params).map_err(|error| self.read_failed("export", error))
    }
}

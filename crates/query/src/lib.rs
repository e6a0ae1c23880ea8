//! The read path of evident: a parsed search query in, matching events or
//! `| stats` rows out, over a [`Snapshot`] of the store (the sealed
//! segments and the in-memory tail).
//!
//! How a query runs:
//!
//! - [`candidates`]: each sealed segment outside the time window is
//!   skipped; inside it, the term index turns the query's required terms
//!   (the union of each alternative's, with `OR`) into candidate rows, and the `timestamp` / `tiebreaker` columns place
//!   them in the window and the sort order. The tail is scanned.
//! - [`search`]: candidates in sort order, confirmed by the reference
//!   matcher (or by the index alone when `exact_alternatives` says its
//!   terms decide), until a page is full; segments whose time range cannot hold
//!   a better event are never read.
//! - [`aggregate`]: `count` grouped by promoted columns is computed from
//!   the columns (dictionary keys, no JSON), everything else by the
//!   reference aggregator over the confirmed events. Both give exactly what
//!   the reference evaluation over every event gives; a differential test
//!   holds them to it.
//! - [`arrivals`]: matching events in log order from a position, for live
//!   tail.

pub mod aggregate;
pub mod arrivals;
pub mod candidates;
pub mod search;
pub mod sql;

pub use aggregate::{Buckets, aggregate, timeseries};
pub use arrivals::{Arrival, Arrivals, arrivals, log_end};
pub use candidates::{SortKey, Window, matching_events};
pub use evident_store::{Snapshot, Store};
pub use search::{Order, Page, search};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] evident_store::StoreError),
    #[error("segment {path} is damaged: {reason}")]
    Damaged { path: String, reason: String },
    /// A `| stats` past its bounds: the query's fault, not the store's.
    #[error(transparent)]
    TooManyGroups(#[from] evident_search::TooManyGroups),
}

//! The stored audit event, shared by every stage of evident.
//!
//! An [`Event`] is what the intake produces and what search, SQL and the
//! explorer read: a free-text `message`, the reserved fields Datadog
//! addresses without `@` (`host`, `service`, `status`, `source`,
//! `trace_id`, `timestamp`), a list of `tags` (`key:value` or bare), and
//! arbitrary JSON `attributes` addressed with `@path.to.value`.
//!
//! This crate does no IO and has no opinion on storage; it only fixes the
//! shape and the names ([`ReservedField`]) so that the search language, the
//! store and the API agree on them. A [`StoredEvent`] wraps an event with
//! the fields assigned at ingest (id, discovery time, tiebreaker, random
//! draw, size) and is what the log and the ledger hold. Instants are [`Timestamp`]s: nanoseconds
//! since the Unix epoch, in UTC.

mod event;
pub mod prehashed;
mod stored;
mod time_bound;
mod timestamp;

pub use event::{Event, ReservedField};
pub use stored::StoredEvent;
pub use time_bound::parse_time;
pub use timestamp::{Timestamp, TimestampError};

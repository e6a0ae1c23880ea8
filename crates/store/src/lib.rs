//! The write path of evident: everything between an accepted request and
//! an immutable, searchable segment.
//!
//! - [`wal`]: the write-ahead log. A batch of events is framed, checksummed
//!   and fsync'd before the intake answers 202; concurrent requests share
//!   one fsync ([`wal::GroupCommit`]). On restart the log replays every
//!   durable record and cuts a torn tail.
//!
//! - [`Store`]: the log's unsealed tail in memory ([`tail`]: exact bytes,
//!   sort keys and term postings, parsed only on demand), the sealed segments and
//!   the ledger over all of them, with signed checkpoints, proofs,
//!   retention and [`Snapshot`]s for the read path.
//!
//! - [`segment`]: sealed segments, immutable Parquet files on an
//!   `object_store` (the local filesystem by default), read by byte ranges;
//!   [`term_index`]: the postings file beside each.
//!
//! - [`verify`]: offline verification of a data directory.
//!
//! Its files beside the log and segments (checkpoints) go through
//! `evident_durable`.

pub mod raw_codec;
mod reader;
pub mod segment;
mod store;
pub mod tail;
pub mod term_index;
pub mod value_counts;
pub mod verify;
pub mod wal;

pub use store::{
    Commit, DataPaths, InclusionProof, Sealed, SignedCheckpoint, Snapshot, Store, StoreError,
    StoreOptions, append_and_wait, local_objects, read_checkpoints,
};

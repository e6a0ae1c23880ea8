//! The write path of evident: everything between an accepted request and
//! an immutable, searchable segment.
//!
//! - [`wal`]: the write-ahead log. A batch of events is framed, checksummed
//!   and fsync'd before the intake answers 202; concurrent requests share
//!   one fsync ([`wal::GroupCommit`]). On restart the log replays every
//!   durable record and cuts a torn tail.
//!
//! - [`Store`]: the log, the events it holds and the ledger over them, with
//!   signed checkpoints and proofs.
//!
//! - [`verify`]: offline verification of a data directory.
//!
//! Segments (Parquet through `object_store`), their indexes and retention
//! come next; they read the log, they never replace its guarantees.

pub mod segment;
mod reader;
mod store;
pub mod term_index;
pub mod verify;
pub mod wal;

pub use store::{
    DataPaths, SignedCheckpoint, Store, StoreError, StoreOptions, append_and_wait, local_objects,
    read_checkpoints,
};

//! Cloud audit log files in: each file's records normalized by
//! `evident-sources`, stored like any event, and what cannot be read or
//! normalized set aside in the dead-letter area with its reason.
//!
//! - [`prepare`]: one file's bytes to events ready to store and dead
//!   letters (no IO; the same for the CLI, the HTTP endpoint and, later,
//!   the bucket pollers);
//! - [`importer`]: a file into a store, a bucket's file at most once
//!   ([`imported`] lists them);
//! - [`bucket`]: CloudTrail files in an S3 bucket (object_store);
//!   [`poller`]: a bucket as a continuous source of `serve`;
//! - [`requests`]: importing as operations of the service, and one pass
//!   over a bucket shared by the CLI and the poller;
//! - [`digests`]: CloudTrail digests checked against the imported files;
//! - [`dead_letter`]: the dead-letter area of a data directory;
//! - [`files`]: the files named on the command line, directories walked.

pub mod bucket;
pub mod dead_letter;
pub mod digests;
pub mod files;
pub mod imported;
pub mod importer;
pub mod poller;
pub mod prepare;
pub mod requests;

pub use dead_letter::{DeadLetter, DeadLetters};
pub use imported::ImportedFiles;
pub use importer::{ImportError, Importer, Provenance};
pub use prepare::{CHUNK_RECORDS, FileSummary, Prepared, prepare, prepare_chunks, unreadable};
pub use requests::{BucketPass, ImportRequest};

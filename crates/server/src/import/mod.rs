//! Cloud audit log files in: each file's records normalized by
//! `evident-sources`, stored like any event, and what cannot be read or
//! normalized set aside in the dead-letter area with its reason.
//!
//! - [`prepare`]: one file's bytes to events ready to store and dead
//!   letters (no IO; the same for the CLI, the HTTP endpoint and, later,
//!   the bucket pollers);
//! - [`dead_letter`]: the dead-letter area of a data directory;
//! - [`files`]: the files named on the command line, directories walked.

pub mod dead_letter;
pub mod files;
pub mod prepare;

pub use dead_letter::{DeadLetter, DeadLetters};
pub use prepare::{FileSummary, Prepared, prepare};

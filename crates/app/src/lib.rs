//! evident's application layer: every operation the product offers, in
//! one service ([`Evident`]) that the HTTP API (`evident-http`), the
//! PostgreSQL wire protocol (`evident-pgwire`) and the command line
//! (`evident-cli`) call. Those surfaces only translate: requests in,
//! answers and [`AppError`]s out, each kind of error mapped by one table of
//! theirs. What must hold whichever surface asks holds here: a SQL
//! statement is recorded before it runs ([`sql`]); every write waits for
//! the same durable commit (`evident_store::Commit`); blocking work runs
//! off the async threads; every operation reports to one [`metrics`].
//!
//! - [`evident`]: the service, its settings, its background work
//!   (checkpoints, sealing, retention);
//! - [`error`]: [`ErrorKind`] and [`AppError`];
//! - [`intake`]: the Datadog logs intake, request bodies to events;
//! - [`import`]: cloud audit log files and buckets in, dead letters;
//! - [`read`]: search pages, aggregations, live tail, exports;
//! - [`sql`]: SQL statements, recorded then run;
//! - [`integrity`]: checkpoints and proofs, read without writing;
//! - [`views`]: the explorer's saved views;
//! - [`monitors`]: monitors (threshold, new value, no data) evaluated on
//!   the log as it grows, notifications to webhooks, Slack and PagerDuty;
//! - [`retention`]: how long events are kept, for all sources and per
//!   source, as an audited setting;
//! - [`access`]: users, roles, permissions and keys (stored hashed);
//! - [`data_dir`]: the data directory, private to the server's user;
//! - [`actor`]: who asks, as every self-audit event names them;
//! - [`activity`]: evident's own activity as audit events;
//! - [`sql_output`]: SQL results as JSON, CSV or a table;
//! - [`metrics`]: internal events, logged and counted together.

pub mod access;
pub mod activity;
pub mod actor;
pub mod data_dir;
pub mod error;
pub mod evident;
pub mod import;
pub mod intake;
pub mod integrity;
pub mod metrics;
pub mod monitors;
pub mod read;
pub mod retention;
pub mod sql;
pub mod sql_output;
pub mod views;

pub use actor::{Actor, Surface};
pub use error::{AppError, ErrorKind};
pub use evident::{Evident, ReadAudit, Settings};

//! evident's server side and command line, as a library so that the
//! integration tests can drive it in-process.
//!
//! - [`cli`]: the command-line arguments;
//! - [`commands`]: one module per subcommand (`match`);
//! - [`data_dir`]: the data directory, private to the server's user;
//! - [`intake`]: the Datadog logs intake, from request bodies to events;
//! - [`import`]: cloud audit log files in (`evident import`, the import
//!   endpoint), with the dead-letter area;
//! - [`http`]: the HTTP API (intake, search, SQL, integrity);
//! - [`keys`]: API and application keys, stored hashed;
//! - [`activity`]: evident's own activity (SQL statements run) recorded as
//!   audit events;
//! - [`sql_output`]: SQL results as JSON, CSV or a table;
//! - [`postgres`]: the PostgreSQL wire protocol, for psql and BI tools;
//! - [`views`]: the explorer's saved views;
//! - [`tls`]: TLS for the HTTP and PostgreSQL listeners.

pub mod activity;
pub mod cli;
pub mod commands;
pub mod data_dir;
pub mod http;
pub mod import;
pub mod intake;
pub mod keys;
pub mod postgres;
pub mod sql_output;
pub mod tls;
pub mod views;

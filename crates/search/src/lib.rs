//! The Datadog search syntax, as typed in the Audit Trail explorer.
//!
//! Everything in evident that filters events (the search API, the SQL
//! `filter =>` argument, monitors, forwarding filters, the explorer) goes
//! through this crate, so a query means the same thing everywhere.
//!
//! - [`parse`] turns query text into a [`Query`]: a boolean [`Expr`] plus an
//!   optional `| stats ...` pipe ([`Stats`]). Errors carry the column
//!   ([`ParseError`]). [`parse_filter`] is the same without the pipe.
//! - The tree ([`ast`]) resolves each clause's target ([`Field`]), value
//!   kind ([`Value`]) and numeric reading up front, so the storage engine can
//!   lower it to column predicates and index lookups without re-parsing.
//! - [`matches`] is the reference matcher: the definition of what a query
//!   means for one [`evident_model::Event`]. Columnar evaluation elsewhere
//!   must agree with it.
//! - [`terms`] turns events and queries into exact index terms, so that an
//!   index can skip events a query cannot match.
//! - [`Aggregator`] is the reference evaluation of `| stats` over the
//!   events a filter matched.
//! - `Display` on any tree prints a canonical query that parses back to the
//!   same tree.
//! - [`text::words`] is the tokeniser of the free-text fields, shared with
//!   the index.
//!
//! Semantics follow Datadog wherever Datadog documents them (see the search
//! syntax spec); where Vector's implementation differs, Datadog wins.
//!
//! ```
//! use evident_model::Event;
//!
//! let query = evident_search::parse("@usr.email:alice@example.com AND @evt.name:Request")?;
//! let event: Event = serde_json::from_str(
//!     r#"{"attributes": {"usr": {"email": "alice@example.com"}, "evt": {"name": "Request"}}}"#,
//! )?;
//! assert!(evident_search::matches(&query.filter, &event));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod ast;
mod cidr;
mod error;
mod explain;
mod glob;
mod lexer;
mod matcher;
mod parser;
mod printer;
pub mod stats;
pub mod terms;
pub mod text;

pub use ast::{Expr, Field, Query, Stats, Value};
pub use error::ParseError;
pub use explain::explain;
pub use matcher::matches;
pub use parser::{MAX_DEPTH, parse, parse_field, parse_filter};
pub use stats::{Aggregator, StatsRow, TooManyGroups, field_texts};

//! Cloud audit logs in: reading the files cloud providers and SaaS tools
//! deliver, and normalizing each record into an audit event with the
//! dd.audit fields (`@usr.*`, `@evt.name`, `@action`, `@asset.*`,
//! `@network.client.ip`, `status:error` on failures, ...), the complete
//! original record kept under the source's namespace (`@aws.cloudtrail`)
//! and the event time taken from the source.
//!
//! - [`records`]: a file's bytes (gzip or not; a JSON document, CloudTrail's
//!   `{"Records": [...]}` or JSON lines) to its records, each on its own;
//! - one module per source ([`cloudtrail`]), each with its field mapping
//!   as a table in its documentation;
//! - [`action`]: `@action` from an operation's verb, shared by the sources;
//! - [`fields`]: reading and writing attributes by dotted path;
//! - [`geoip`]: `@network.client.geoip.*` from MaxMind databases, for
//!   events of every source (the Datadog intake's too).
//!
//! Nothing here does IO but opening the GeoIP databases: callers read
//! files or objects and store events.

pub mod action;
pub mod cloudtrail;
pub mod fields;
pub mod geoip;
pub mod records;

use std::fmt;
use std::str::FromStr;

use evident_model::Event;
use serde_json::{Map, Value};

/// A kind of audit log evident reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    CloudTrail,
}

impl Source {
    pub const ALL: [Source; 1] = [Source::CloudTrail];

    /// The name on the command line and in `source:` (`cloudtrail`).
    pub fn name(self) -> &'static str {
        match self {
            Source::CloudTrail => cloudtrail::SOURCE,
        }
    }

    /// The source `record` looks like, if any.
    pub fn detect(record: &Map<String, Value>) -> Option<Source> {
        Source::ALL.into_iter().find(|source| match source {
            Source::CloudTrail => cloudtrail::detect(record),
        })
    }

    /// `record` as an audit event.
    pub fn normalize(self, record: Map<String, Value>) -> Result<Event, NormalizeError> {
        match self {
            Source::CloudTrail => cloudtrail::normalize(record),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(name: &str) -> Result<Source, String> {
        Source::ALL
            .into_iter()
            .find(|source| source.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = Source::ALL.iter().map(|source| source.name()).collect();
                format!(
                    "unknown source {name:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Why a record could not be normalized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not a {log} record: {reason}")]
pub struct NormalizeError {
    /// The source's name (`cloudtrail`).
    pub log: &'static str,
    pub reason: String,
}

impl NormalizeError {
    pub(crate) fn missing(log: &'static str, field: &str) -> NormalizeError {
        NormalizeError {
            log,
            reason: format!("it has no {field}"),
        }
    }
}

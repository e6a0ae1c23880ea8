//! Cloud audit logs in: reading the files cloud providers and SaaS tools
//! deliver, and normalizing each record into an audit event with the
//! dd.audit fields (`@usr.*`, `@evt.name`, `@action`, `@asset.*`,
//! `@network.client.ip`, `status:error` on failures, ...), the complete
//! original record kept under the source's namespace (`@aws.cloudtrail`)
//! and the event time taken from the source.
//!
//! - [`records`]: a file's bytes (gzip or not; a JSON document, CloudTrail's
//!   `{"Records": [...]}` or JSON lines) to its records, each on its own;
//! - one module per source ([`cloudtrail`], [`gcp`], [`azure`], [`okta`],
//!   [`github`], [`kubernetes`]), their field mappings as tables in
//!   `docs/sources.md`; [`draft`] turns what each fills in into an event;
//! - [`cloudtrail_digest`]: CloudTrail's digest files (file hashes, chain);
//! - [`action`]: `@action` from an operation's verb, shared by the sources;
//! - [`fields`]: reading and writing attributes by dotted path;
//! - [`geoip`]: `@network.client.geoip.*` from MaxMind databases, for
//!   events of every source (the Datadog intake's too).
//!
//! Nothing here does IO but opening the GeoIP databases: callers read
//! files or objects and store events.

pub mod action;
pub mod azure;
pub mod cloudtrail;
pub mod cloudtrail_digest;
pub mod draft;
pub mod fields;
pub mod gcp;
pub mod geoip;
pub mod github;
pub mod kubernetes;
pub mod okta;
pub mod records;

use std::fmt;
use std::str::FromStr;

use evident_model::Event;
use serde_json::{Map, Value};

/// A kind of audit log evident reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    CloudTrail,
    /// GCP Cloud Audit Logs.
    Gcp,
    /// Azure Activity Log and Entra ID.
    Azure,
    /// Okta System Log.
    Okta,
    /// GitHub audit log.
    GitHub,
    /// Kubernetes audit events, native or wrapped by GKE / AKS.
    Kubernetes,
}

impl Source {
    /// In the order [`Source::detect`] tries them: Kubernetes before the
    /// clouds that wrap its events.
    pub const ALL: [Source; 6] = [
        Source::CloudTrail,
        Source::Kubernetes,
        Source::Gcp,
        Source::Azure,
        Source::Okta,
        Source::GitHub,
    ];

    /// The name on the command line and in `source:` (`cloudtrail`).
    pub fn name(self) -> &'static str {
        match self {
            Source::CloudTrail => cloudtrail::SOURCE,
            Source::Gcp => gcp::SOURCE,
            Source::Azure => azure::SOURCE,
            Source::Okta => okta::SOURCE,
            Source::GitHub => github::SOURCE,
            Source::Kubernetes => kubernetes::SOURCE,
        }
    }

    /// The source `record` looks like, if any.
    pub fn detect(record: &Map<String, Value>) -> Option<Source> {
        Source::ALL.into_iter().find(|source| match source {
            Source::CloudTrail => cloudtrail::detect(record),
            Source::Gcp => gcp::detect(record),
            Source::Azure => azure::detect(record),
            Source::Okta => okta::detect(record),
            Source::GitHub => github::detect(record),
            Source::Kubernetes => kubernetes::detect(record),
        })
    }

    /// `record` as an audit event.
    pub fn normalize(self, record: Map<String, Value>) -> Result<Event, NormalizeError> {
        match self {
            Source::CloudTrail => cloudtrail::normalize(record),
            Source::Gcp => gcp::normalize(record),
            Source::Azure => azure::normalize(record),
            Source::Okta => okta::normalize(record),
            Source::GitHub => github::normalize(record),
            Source::Kubernetes => kubernetes::normalize(record),
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

/// What an import reads: records of one source, or of whichever source
/// each record is (`auto`: detected record by record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceChoice {
    Detect,
    Only(Source),
}

impl SourceChoice {
    /// `auto`, or the source's name.
    pub fn name(self) -> &'static str {
        match self {
            SourceChoice::Detect => "auto",
            SourceChoice::Only(source) => source.name(),
        }
    }

    /// Whether CloudTrail records may be among those read.
    pub fn includes(self, source: Source) -> bool {
        self == SourceChoice::Detect || self == SourceChoice::Only(source)
    }

    /// `record` as an audit event of the chosen (or detected) source.
    pub fn normalize(self, record: Map<String, Value>) -> Result<Event, NormalizeError> {
        match self {
            SourceChoice::Only(source) => source.normalize(record),
            SourceChoice::Detect => match Source::detect(&record) {
                Some(source) => source.normalize(record),
                None => Err(NormalizeError {
                    log: "known",
                    reason: "it matches none of the sources evident reads".into(),
                }),
            },
        }
    }
}

impl fmt::Display for SourceChoice {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for SourceChoice {
    type Err = String;

    fn from_str(name: &str) -> Result<SourceChoice, String> {
        if name.eq_ignore_ascii_case("auto") {
            return Ok(SourceChoice::Detect);
        }
        name.parse().map(SourceChoice::Only)
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

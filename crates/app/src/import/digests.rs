//! CloudTrail digests checked against what was imported: each log file a
//! digest lists must have been imported with the SHA-256 the digest gives
//! (else it was altered, or never arrived: deleted from the bucket), and
//! the digest must chain to the previous one. The result of each check is
//! itself recorded as an audit event (`source:evident
//! @evt.name:cloudtrail_digest_check`, `status:error` when anything is
//! wrong), since stored events cannot be changed afterwards.

use evident_model::{Event, StoredEvent};
use evident_sources::cloudtrail_digest::Digest;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::activity::own_event;

/// How a digest links to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chain {
    /// The previous digest was imported with the hash this one gives.
    Linked,
    /// It was imported with another hash: a digest was altered.
    Broken,
    /// The previous digest was not seen (before the import started).
    Unknown,
    /// The first digest of its trail.
    First,
}

impl Chain {
    /// As in the report's JSON.
    pub fn name(self) -> &'static str {
        match self {
            Chain::Linked => "linked",
            Chain::Broken => "broken",
            Chain::Unknown => "unknown",
            Chain::First => "first",
        }
    }
}

/// What one digest check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestReport {
    pub digest: String,
    /// Files imported with the listed hash.
    pub verified: usize,
    /// Files imported with another hash.
    pub mismatched: Vec<String>,
    /// Files listed but never imported.
    pub missing: Vec<String>,
    /// Files imported before hashes were recorded.
    pub unverifiable: Vec<String>,
    pub chain: Chain,
}

impl DigestReport {
    pub fn is_clean(&self) -> bool {
        self.mismatched.is_empty() && self.missing.is_empty() && self.chain != Chain::Broken
    }

    /// The audit event recording this check.
    pub fn event(&self, digest: &Digest) -> StoredEvent {
        let message = format!(
            "CloudTrail digest {}: {} files verified, {} mismatched, {} missing; chain {}",
            self.digest,
            self.verified,
            self.mismatched.len(),
            self.missing.len(),
            self.chain.name()
        );
        let attributes = json!({
            "evt": {"name": "cloudtrail_digest_check"},
            "action": "verified",
            "asset": {"type": "cloudtrail_digest", "id": self.digest},
            "cloudtrail_digest": {
                "origin": self.digest,
                "start": digest.start,
                "end": digest.end,
                "verified": self.verified,
                "mismatched": self.mismatched,
                "missing": self.missing,
                "unverifiable": self.unverifiable,
                "chain": self.chain,
            },
        });
        let serde_json::Value::Object(attributes) = attributes else {
            unreachable!("built as an object above")
        };
        own_event(Event {
            message: Some(message),
            service: Some("evident".into()),
            source: Some("evident".into()),
            status: Some(if self.is_clean() { "info" } else { "error" }.into()),
            attributes,
            ..Event::default()
        })
    }
}

/// Checks `digest` given what was imported: `imported(origin)` is `None`
/// when the file was never imported, else its recorded SHA-256 (itself
/// `None` when unknown). Files and the previous digest are looked up in
/// `bucket` (the bucket read, which may be a copy of the one CloudTrail
/// wrote to).
pub fn check(
    origin: &str,
    digest: &Digest,
    bucket: &str,
    imported: impl Fn(&str) -> Option<Option<String>>,
) -> DigestReport {
    let mut report = DigestReport {
        digest: origin.to_string(),
        verified: 0,
        mismatched: Vec::new(),
        missing: Vec::new(),
        unverifiable: Vec::new(),
        chain: Chain::First,
    };
    for file in &digest.files {
        let file_origin = format!("s3://{bucket}/{}", file.key);
        match imported(&file_origin) {
            Some(Some(hash)) if hash == file.sha256 => report.verified += 1,
            Some(Some(_)) => report.mismatched.push(file_origin),
            Some(None) => report.unverifiable.push(file_origin),
            None => report.missing.push(file_origin),
        }
    }
    if let Some((_, key, hash)) = &digest.previous {
        report.chain = match imported(&format!("s3://{bucket}/{key}")) {
            Some(Some(previous)) if previous == *hash => Chain::Linked,
            Some(Some(_)) => Chain::Broken,
            _ => Chain::Unknown,
        };
    }
    report
}

//! CloudTrail digest files: CloudTrail's own tamper evidence. Every hour a
//! digest lists the log files delivered in that hour with the SHA-256 of
//! each (uncompressed) and the SHA-256 of the previous digest, chaining
//! them. (Its RSA signature, kept in the object's metadata, needs AWS's
//! public keys and is not checked here.)

use serde_json::{Map, Value};

use crate::NormalizeError;
use crate::fields::text;

const SOURCE: &str = "cloudtrail digest";

/// One log file a digest vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    pub bucket: String,
    pub key: String,
    /// Lowercase hex SHA-256 of the uncompressed file.
    pub sha256: String,
}

/// A parsed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub bucket: String,
    pub key: String,
    pub start: String,
    pub end: String,
    /// The previous digest (`bucket`, `key`) and its SHA-256; absent for
    /// the first digest of a trail.
    pub previous: Option<(String, String, String)>,
    pub files: Vec<ListedFile>,
}

/// Whether `record` is a digest.
pub fn is_digest(record: &Map<String, Value>) -> bool {
    record.contains_key("digestStartTime") && record.contains_key("logFiles")
}

impl Digest {
    pub fn parse(record: &Map<String, Value>) -> Result<Digest, NormalizeError> {
        let field = |name: &str| {
            text(record, name)
                .map(str::to_string)
                .ok_or_else(|| NormalizeError::missing(SOURCE, name))
        };
        let files = match record.get("logFiles") {
            Some(Value::Array(files)) => files
                .iter()
                .filter_map(Value::as_object)
                .map(|file| {
                    let part = |name: &str| {
                        text(file, name).map(str::to_string).ok_or_else(|| {
                            NormalizeError::missing(SOURCE, &format!("logFiles[].{name}"))
                        })
                    };
                    Ok(ListedFile {
                        bucket: part("s3Bucket")?,
                        key: part("s3Object")?,
                        sha256: part("hashValue")?.to_ascii_lowercase(),
                    })
                })
                .collect::<Result<Vec<_>, NormalizeError>>()?,
            _ => return Err(NormalizeError::missing(SOURCE, "logFiles")),
        };
        let previous = match (
            text(record, "previousDigestS3Bucket"),
            text(record, "previousDigestS3Object"),
            text(record, "previousDigestHashValue"),
        ) {
            (Some(bucket), Some(key), Some(hash)) => Some((
                bucket.to_string(),
                key.to_string(),
                hash.to_ascii_lowercase(),
            )),
            _ => None,
        };
        Ok(Digest {
            bucket: field("digestS3Bucket")?,
            key: field("digestS3Object")?,
            start: field("digestStartTime")?,
            end: field("digestEndTime")?,
            previous,
            files,
        })
    }
}

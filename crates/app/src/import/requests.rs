//! Importing as operations of [`Evident`]: one file, one CloudTrail
//! digest, and one pass over a bucket ([`BucketPass`]) shared by
//! `evident import s3://...` and the bucket poller of `serve`.

use std::collections::HashMap;
use std::sync::Arc;

use evident_sources::SourceChoice;
use evident_sources::cloudtrail_digest::Digest;
use object_store::{ObjectMeta, ObjectStore};

use super::bucket::{self, BucketUrl};
use super::digests::DigestReport;
use super::{FileSummary, ImportError, Provenance};
use crate::Evident;
use crate::error::{AppError, ErrorKind};
use crate::intake::accept::budget_error;

/// What one chunk of records costs as events, beside the file's text.
const CHUNK_ALLOWANCE: usize = 64 * 1024 * 1024;

/// One file to import.
#[derive(Debug)]
pub struct ImportRequest {
    pub source: SourceChoice,
    /// The name reported back (a path, a key).
    pub file: String,
    /// With an origin (a bucket key), the file is imported at most once.
    pub origin: Option<String>,
    pub bytes: Vec<u8>,
    /// The SHA-256 a CloudTrail digest lists for the file.
    pub listed_sha256: Option<String>,
    pub provenance: Provenance,
}

fn import_error(error: ImportError, what: &str) -> AppError {
    match error {
        ImportError::Digest(_) => AppError::invalid(error.to_string()),
        error if error.is_disk_full() => AppError::new(
            ErrorKind::StorageFull,
            format!("the disk is full; {what} was not imported"),
        ),
        error => {
            tracing::error!(%error, "import failed");
            AppError::unavailable(error.to_string())
        }
    }
}

impl Evident {
    /// Imports one file; the answer comes once its events and dead letters
    /// are durable. A file over the record cap is set aside whole (its
    /// summary says `too_large`).
    pub async fn import_file(&self, request: ImportRequest) -> Result<FileSummary, AppError> {
        // Room to decode in, shared with the intake: a compressed file may
        // decode to the whole cap, and its records become events a chunk
        // at a time.
        let compressed = request.bytes.starts_with(&[0x1f, 0x8b]);
        let decoded = if compressed {
            evident_sources::records::MAX_FILE_BYTES as usize
        } else {
            request.bytes.len()
        };
        let _room = self
            .decode_budget
            .reserve(decoded.saturating_add(CHUNK_ALLOWANCE))
            .await
            .map_err(budget_error)?;
        let importer = self.importer.clone();
        // Decompressing, parsing and normalizing are CPU work, storing
        // waits for the disk: off the async threads.
        let summary = tokio::task::spawn_blocking(move || {
            importer.import_vouched(
                request.source,
                &request.file,
                request.origin.as_deref(),
                &request.bytes,
                request.listed_sha256.as_deref(),
                request.provenance,
            )
        })
        .await
        .map_err(|error| AppError::task("import", error))?
        .map_err(|error| import_error(error, "the file"))?;
        tracing::info!(
            file = %summary.file,
            records = summary.records,
            imported = summary.imported,
            dead_letters = summary.dead_letters,
            "file imported"
        );
        Ok(summary)
    }

    /// Checks a CloudTrail digest (the file `origin` of `bucket`) against
    /// the files imported; `None` when it was checked before. A file that
    /// is no digest is set aside and answered as invalid.
    pub async fn check_digest(
        &self,
        origin: String,
        bucket: String,
        bytes: Vec<u8>,
        provenance: Provenance,
    ) -> Result<Option<DigestReport>, AppError> {
        let importer = self.importer.clone();
        tokio::task::spawn_blocking(move || {
            importer.check_digest(&origin, &bucket, &bytes, provenance)
        })
        .await
        .map_err(|error| AppError::task("digest", error))?
        .map_err(|error| import_error(error, "the digest"))
    }

    /// Whether a bucket file (by its origin) is imported already.
    pub fn was_imported(&self, origin: &str) -> bool {
        self.importer.was_imported(origin)
    }

    /// Records and files set aside since the start, and where.
    pub fn dead_letters(&self) -> (u64, &std::path::Path) {
        let letters = self.importer.dead_letters();
        (letters.written(), letters.path())
    }
}

/// One pass over files of a bucket, in the order that lets digests vouch:
/// the digests are read first, so that each log file is imported with the
/// SHA-256 they list for it (its events say `verified` or `altered`); then
/// the log files; then each digest is checked against what was imported
/// (missing files, a broken chain).
#[derive(Debug)]
pub struct BucketPass {
    pub url: BucketUrl,
    pub store: Arc<dyn ObjectStore>,
    /// The log files, in key order.
    pub logs: Vec<ObjectMeta>,
    /// The digests (origin, bytes), oldest first, as their chain runs.
    pub digests: Vec<(String, Vec<u8>)>,
    /// The SHA-256 the digests list, by origin.
    listed: HashMap<String, String>,
}

impl BucketPass {
    /// Reads `digest_files` (kept for their check) and what they list.
    pub async fn read(
        url: BucketUrl,
        store: Arc<dyn ObjectStore>,
        logs: Vec<ObjectMeta>,
        digest_files: Vec<ObjectMeta>,
    ) -> Result<BucketPass, String> {
        let mut digests = Vec::new();
        let mut listed = HashMap::new();
        for object in digest_files {
            let origin = url.origin(&object.location);
            let bytes = bucket::read(store.as_ref(), &object.location)
                .await
                .map_err(|error| format!("reading {origin}: {error}"))?;
            for (key, sha256) in listed_files(&bytes) {
                listed.insert(format!("s3://{}/{key}", url.bucket), sha256);
            }
            digests.push((origin, bytes));
        }
        Ok(BucketPass {
            url,
            store,
            logs,
            digests,
            listed,
        })
    }

    /// The SHA-256 a digest of this pass lists for `origin`.
    pub fn listed(&self, origin: &str) -> Option<&str> {
        self.listed.get(origin).map(String::as_str)
    }

    /// The import of the log file `object`, read from the bucket.
    pub async fn request(
        &self,
        object: &ObjectMeta,
        source: SourceChoice,
    ) -> Result<ImportRequest, String> {
        let origin = self.url.origin(&object.location);
        let bytes = bucket::read(self.store.as_ref(), &object.location)
            .await
            .map_err(|error| format!("reading {origin}: {error}"))?;
        Ok(ImportRequest {
            source,
            file: origin.clone(),
            listed_sha256: self.listed(&origin).map(str::to_owned),
            origin: Some(origin),
            bytes,
            provenance: Provenance::Read,
        })
    }
}

/// The files a digest lists (key, SHA-256); nothing when it is not one.
fn listed_files(bytes: &[u8]) -> Vec<(String, String)> {
    let Ok(file) = evident_sources::records::read_file(bytes) else {
        return Vec::new();
    };
    file.records()
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|record| Digest::parse(&record).ok())
        .flat_map(|digest| digest.files)
        .map(|file| (file.key, file.sha256))
        .collect()
}

//! One file into a store: its records normalized ([`prepare`]), dead
//! letters written, events appended durably. Every file is imported at
//! most once, known by its origin (`s3://bucket/key` for a bucket's file,
//! else `sha256:<content>`): its events carry `@evident.import.origin`
//! and `@evident.import.record` (the record's place in the file), the list
//! of imported files is kept, and a file whose import was cut short (a
//! crash between storing its events and listing it) gets only its missing
//! records on the next attempt.
//!
//! Where a file comes from is only as good as who says it: an origin and a
//! digest's hash that an HTTP caller declares ([`Provenance::Declared`])
//! are kept in a namespace of their own (`declared:s3://...`), apart from
//! the files evident reads from a bucket itself, and a declared hash never
//! makes a file `verified`.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::Arc;

use evident_model::{StoredEvent, Timestamp};
use evident_query::{Window, matching_events};
use evident_sources::SourceChoice;
use evident_sources::cloudtrail_digest::Digest;
use evident_sources::geoip::GeoIp;
use evident_sources::records::{FileError, read_file};
use evident_store::Store;
use evident_store::wal::WalError;
use serde_json::json;

use super::digests::{self, DigestReport};
use super::{
    DeadLetter, DeadLetters, FileSummary, ImportedFiles, Prepared, prepare_chunks, unreadable,
};

/// Why a file could not be imported (nothing of it was listed as done).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("writing the dead-letter area: {0}")]
    DeadLetters(io::Error),
    #[error("storing the events: {0}")]
    Store(WalError),
    #[error("listing the imported file: {0}")]
    Imported(io::Error),
    #[error("looking for an earlier import of the file: {0}")]
    Earlier(String),
    #[error("not a CloudTrail digest: {0}")]
    Digest(String),
}

/// The most records one file may hold: each becomes an event, and a file
/// is imported (or refused) whole.
pub const MAX_RECORDS_PER_FILE: usize = 1_000_000;

impl ImportError {
    pub fn is_disk_full(&self) -> bool {
        match self {
            ImportError::Store(error) => error.is_disk_full(),
            ImportError::DeadLetters(error) | ImportError::Imported(error) => {
                error.raw_os_error() == Some(28)
            }
            ImportError::Earlier(_) | ImportError::Digest(_) => false,
        }
    }
}

/// Who says where a file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// evident read the file from its origin itself (a bucket it lists).
    Read,
    /// A caller of the import API declared the origin and the digest's
    /// hash: evident cannot check either.
    Declared,
}

impl Provenance {
    /// The name the file is listed (and its events marked) under.
    fn key(self, origin: &str) -> String {
        match self {
            Provenance::Read => origin.to_owned(),
            Provenance::Declared => format!("declared:{origin}"),
        }
    }

    /// What `@evident.import.digest` says of a file whose hash a digest
    /// lists as `listed`.
    fn digest_label(self, matches: bool) -> &'static str {
        match (self, matches) {
            (Provenance::Read, true) => "verified",
            (Provenance::Read, false) => "altered",
            (Provenance::Declared, true) => "declared_match",
            (Provenance::Declared, false) => "declared_mismatch",
        }
    }
}

/// Imports files into one store.
#[derive(Debug)]
pub struct Importer {
    store: Arc<Store>,
    dead_letters: DeadLetters,
    imported: ImportedFiles,
    geoip: Option<Arc<GeoIp>>,
    /// Digests found unreadable by this process: set aside once, not
    /// listed as checked (a later, readable copy is still checked).
    unreadable: std::sync::Mutex<HashSet<String>>,
}

impl Importer {
    pub fn open(
        store: Arc<Store>,
        data_dir: &Path,
        geoip: Option<Arc<GeoIp>>,
    ) -> io::Result<Importer> {
        Ok(Importer {
            store,
            dead_letters: DeadLetters::new(data_dir),
            imported: ImportedFiles::open(data_dir)?,
            geoip,
            unreadable: std::sync::Mutex::default(),
        })
    }

    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// Files (and digests) from buckets imported so far.
    pub fn imported_files(&self) -> usize {
        self.imported.len()
    }

    pub fn was_imported(&self, origin: &str) -> bool {
        self.imported.contains(origin)
    }

    /// Imports `bytes`, the file `name`, as `source` records; with an
    /// `origin`, at most once. Blocks until everything is durable.
    pub fn import(
        &self,
        source: SourceChoice,
        name: &str,
        origin: Option<&str>,
        bytes: &[u8],
    ) -> Result<FileSummary, ImportError> {
        self.import_vouched(source, name, origin, bytes, None, Provenance::Read)
    }

    /// [`Importer::import`], for a file a CloudTrail digest already
    /// vouches for with `listed_sha256`: its events record whether the
    /// file is as listed (`@evident.import.digest`: `verified` or
    /// `altered`).
    pub fn import_vouched(
        &self,
        source: SourceChoice,
        name: &str,
        origin: Option<&str>,
        bytes: &[u8],
        listed_sha256: Option<&str>,
        provenance: Provenance,
    ) -> Result<FileSummary, ImportError> {
        let origin = origin.map(|origin| provenance.key(origin));
        let origin = origin.as_deref();
        if let Some(origin) = origin
            && self.imported.contains(origin)
        {
            return Ok(FileSummary {
                file: name.to_string(),
                already_imported: true,
                ..FileSummary::default()
            });
        }
        let received = Timestamp::now();
        // Records are counted before anything is stored: a file is
        // imported whole or set aside whole.
        let read = read_file(bytes)
            .map_err(|error| (error.to_string(), matches!(error, FileError::TooLarge)))
            .and_then(|read| match read.count() {
                records if records > MAX_RECORDS_PER_FILE => Err((
                    format!("the file holds {records} records; one import takes at most {MAX_RECORDS_PER_FILE}"),
                    true,
                )),
                _ => Ok(read),
            });
        let read = match read {
            Ok(read) => read,
            Err((reason, too_large)) => {
                let prepared = unreadable(source, name, received, &reason, too_large);
                self.dead_letters
                    .write(&prepared.dead_letters)
                    .map_err(ImportError::DeadLetters)?;
                // A bucket's file is set aside once, not read again on every poll.
                if let Some(origin) = origin {
                    self.imported
                        .add(origin, 0, None)
                        .map_err(ImportError::Imported)?;
                }
                return Ok(prepared.summary);
            }
        };
        // A file from no bucket is known by its content: the same file
        // imported again (from anywhere) adds nothing.
        let by_content = match origin {
            Some(_) => None,
            None => Some(format!("sha256:{}", read.sha256)),
        };
        let origin = origin.or(by_content.as_deref());
        if let Some(origin) = by_content.as_deref()
            && self.imported.contains(origin)
        {
            return Ok(FileSummary {
                file: name.to_string(),
                already_imported: true,
                ..FileSummary::default()
            });
        }
        let digest = listed_sha256
            .map(|listed| provenance.digest_label(read.sha256.eq_ignore_ascii_case(listed)));
        // Only an import that began before can have stored some of them.
        let present = match origin {
            Some(origin) if self.imported.was_started(origin) => self.records_present(origin)?,
            _ => HashSet::new(),
        };
        if !present.is_empty() {
            tracing::info!(
                origin,
                present = present.len(),
                "resuming an interrupted import"
            );
        }
        let mut started = origin.is_some_and(|origin| self.imported.was_started(origin));
        let mut first_record = 0usize;
        let mut stored = 0usize;
        let mut summary = prepare_chunks(
            source,
            name,
            &read,
            received,
            self.geoip.as_deref(),
            &mut |mut chunk: Prepared| -> Result<(), ImportError> {
                if let Some(origin) = origin {
                    for stored in chunk.events.iter_mut() {
                        let record = first_record;
                        first_record += 1;
                        let mut import = json!({
                            "origin": origin,
                            "record": record,
                            "sha256": read.sha256,
                        });
                        if let Some(digest) = digest {
                            import["digest"] = json!(digest);
                        }
                        stored
                            .event
                            .attributes
                            .insert("evident".into(), json!({"import": import}));
                    }
                    if !present.is_empty() {
                        chunk.events.retain(|stored| {
                            let record =
                                stored.event.attributes["evident"]["import"]["record"].as_u64();
                            !record.is_some_and(|record| present.contains(&record))
                        });
                        // They were written the first time.
                        chunk.dead_letters.clear();
                    }
                }
                self.dead_letters
                    .write(&chunk.dead_letters)
                    .map_err(ImportError::DeadLetters)?;
                if !chunk.events.is_empty() {
                    if let Some(origin) = origin
                        && !started
                    {
                        self.imported.start(origin).map_err(ImportError::Imported)?;
                        started = true;
                    }
                    stored += chunk.events.len();
                    self.append(chunk.events)?;
                }
                Ok(())
            },
        )?;
        summary.digest = digest.map(str::to_owned);
        if !present.is_empty() {
            summary.imported = stored;
            summary.dead_letters = 0;
        }
        if let Some(origin) = origin {
            self.imported
                .add(origin, summary.records, summary.sha256.as_deref())
                .map_err(ImportError::Imported)?;
        }
        Ok(summary)
    }

    /// Checks a CloudTrail digest (the file `origin` of `bucket`) against
    /// the files imported, records the check as an audit event and lists
    /// the digest (with its hash, which the next digest chains to). `None`
    /// when it was checked before. A file that is no digest is set aside in
    /// the dead-letter area, listed, and reported as `ImportError::Digest`.
    pub fn check_digest(
        &self,
        origin: &str,
        bucket: &str,
        bytes: &[u8],
        provenance: Provenance,
    ) -> Result<Option<DigestReport>, ImportError> {
        let key = provenance.key(origin);
        if self.imported.contains(&key) {
            return Ok(None);
        }
        let parsed = read_file(bytes)
            .map_err(|error| error.to_string())
            .and_then(|file| {
                let record = file
                    .records()
                    .into_iter()
                    .next()
                    .and_then(Result::ok)
                    .ok_or_else(|| "the file holds no JSON object".to_string())?;
                let digest = Digest::parse(&record).map_err(|error| error.to_string())?;
                Ok((digest, file.sha256))
            });
        let (digest, sha256) = match parsed {
            Ok(parsed) => parsed,
            Err(reason) => {
                // Set aside once a process, never listed as checked: the
                // caller reports it and goes on.
                let first = self
                    .unreadable
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(key.clone());
                if first {
                    self.dead_letters
                        .write(&[DeadLetter {
                            at: Timestamp::now(),
                            source: "cloudtrail".into(),
                            file: key,
                            reason: format!("not a CloudTrail digest: {reason}"),
                            record: None,
                        }])
                        .map_err(ImportError::DeadLetters)?;
                }
                return Err(ImportError::Digest(reason));
            }
        };
        let report = digests::check(origin, &digest, bucket, |file| {
            self.imported.sha256(&provenance.key(file))
        });
        if !report.is_clean() {
            tracing::warn!(
                digest = origin,
                mismatched = report.mismatched.len(),
                missing = report.missing.len(),
                chain = ?report.chain,
                "a CloudTrail digest does not match the files imported"
            );
        }
        self.append(vec![report.event(&digest)])?;
        self.imported
            .add(&key, 0, Some(&sha256))
            .map_err(ImportError::Imported)?;
        Ok(Some(report))
    }

    /// Appends `events` (handed over, not copied) and waits until durable.
    fn append(&self, events: Vec<StoredEvent>) -> Result<(), ImportError> {
        self.store
            .commit(events)
            .wait()
            .map(|_| ())
            .map_err(ImportError::Store)
    }

    /// The records of `origin` already stored (an import cut short).
    fn records_present(&self, origin: &str) -> Result<HashSet<u64>, ImportError> {
        let quoted = origin.replace('\\', "\\\\").replace('"', "\\\"");
        let filter = evident_search::parse_filter(&format!("@evident.import.origin:\"{quoted}\""))
            .map_err(|error| ImportError::Earlier(error.message))?;
        let window = Window {
            from: i64::MIN,
            to: i64::MAX,
        };
        let events = matching_events(&self.store, &filter, window)
            .map_err(|error| ImportError::Earlier(error.to_string()))?;
        Ok(events
            .iter()
            .filter_map(|stored| stored.event.attributes.get("evident"))
            .filter_map(|evident| evident["import"]["record"].as_u64())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use evident_store::{StoreOptions, append_and_wait};

    use super::*;
    use crate::import::prepare;

    const FILE: &str = concat!(
        r#"{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventTime": "2024-01-01T00:00:00Z"}"#,
        "\n",
        r#"{"eventSource": "iam.amazonaws.com", "eventName": "DeleteUser", "eventTime": "2024-01-01T00:01:00Z"}"#,
        "\n",
        r#"{"eventSource": "iam.amazonaws.com", "eventName": "GetUser", "eventTime": "2024-01-01T00:02:00Z"}"#,
    );
    const ORIGIN: &str = "s3://trail/AWSLogs/1/CloudTrail/us-east-1/2024/01/01/f.json.gz";

    const CLOUDTRAIL: SourceChoice = SourceChoice::Only(evident_sources::Source::CloudTrail);

    /// `FILE` imported as `name` from `origin`.
    fn import(
        importer: &Importer,
        name: &str,
        origin: Option<&str>,
    ) -> Result<FileSummary, ImportError> {
        importer.import(CLOUDTRAIL, name, origin, FILE.as_bytes())
    }

    fn count(store: &Store) -> usize {
        let window = Window {
            from: i64::MIN,
            to: i64::MAX,
        };
        matching_events(store, &evident_search::Expr::All, window)
            .expect("query")
            .len()
    }

    #[test]
    fn a_file_of_too_many_records_is_set_aside_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path(), StoreOptions::default()).expect("store"));
        let importer = Importer::open(Arc::clone(&store), dir.path(), None).expect("importer");
        let text = format!("[{}{{}}]", "{},".repeat(MAX_RECORDS_PER_FILE));
        let summary = importer
            .import_vouched(
                CLOUDTRAIL,
                "huge",
                Some(ORIGIN),
                text.as_bytes(),
                None,
                Provenance::Read,
            )
            .expect("import");
        assert!(summary.too_large, "{summary:?}");
        assert_eq!((summary.imported, summary.dead_letters), (0, 1));
        assert_eq!(importer.dead_letters().written(), 1);
        assert_eq!(count(&store), 0);
        // Listed: a bucket poll does not read it again.
        assert!(importer.was_imported(ORIGIN));
    }

    #[test]
    fn a_declared_origin_cannot_take_a_bucket_files_place_nor_be_verified() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path(), StoreOptions::default()).expect("store"));
        let importer = Importer::open(Arc::clone(&store), dir.path(), None).expect("importer");
        // A forger with the write key: fake content under the victim's
        // origin, with the fake content's own hash as the "digest's".
        let fake = FILE.replace("DeleteUser", "NothingHappened");
        let fake_sha256 = evident_sources::records::sha256_hex(fake.as_bytes());
        let forged = importer
            .import_vouched(
                CLOUDTRAIL,
                "forged",
                Some(ORIGIN),
                fake.as_bytes(),
                Some(&fake_sha256),
                Provenance::Declared,
            )
            .expect("import");
        assert_eq!(forged.digest.as_deref(), Some("declared_match"));
        assert!(!importer.was_imported(ORIGIN));
        assert!(importer.was_imported(&format!("declared:{ORIGIN}")));
        // The real file, read from the bucket, is still imported, and
        // verified against the hash evident read from the digest.
        let real_sha256 = evident_sources::records::sha256_hex(FILE.as_bytes());
        let real = importer
            .import_vouched(
                CLOUDTRAIL,
                "real",
                Some(ORIGIN),
                FILE.as_bytes(),
                Some(&real_sha256),
                Provenance::Read,
            )
            .expect("import");
        assert!(!real.already_imported);
        assert_eq!(real.digest.as_deref(), Some("verified"));
        let filter =
            evident_search::parse_filter("@evident.import.digest:verified").expect("filter");
        let window = Window {
            from: i64::MIN,
            to: i64::MAX,
        };
        let verified = matching_events(&store, &filter, window).expect("search");
        assert_eq!(verified.len(), real.imported);
        assert!(
            verified
                .iter()
                .all(|stored| { stored.event.attributes["evident"]["import"]["origin"] == ORIGIN })
        );
    }

    #[test]
    fn a_bucket_file_is_imported_once_and_an_interrupted_import_resumes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path(), StoreOptions::default()).expect("store"));
        let importer = Importer::open(Arc::clone(&store), dir.path(), None).expect("importer");
        let first = import(&importer, "f", Some(ORIGIN)).expect("import");
        assert_eq!((first.records, first.imported), (3, 3));
        let again = import(&importer, "f", Some(ORIGIN)).expect("import");
        assert!(again.already_imported);
        assert_eq!(count(&store), 3);

        // A crash after the events were stored but before the file was
        // listed: the next attempt finds them and adds nothing.
        let list = dir.path().join(ImportedFiles::FILE);
        let text = std::fs::read_to_string(&list).expect("list");
        let started_only: String = text
            .lines()
            .take(1)
            .map(|line| format!("{line}\n"))
            .collect();
        assert!(started_only.contains("\"started\":true"), "{text}");
        std::fs::write(&list, started_only).expect("cut the list");
        let importer = Importer::open(Arc::clone(&store), dir.path(), None).expect("importer");
        let resumed = import(&importer, "f", Some(ORIGIN)).expect("import");
        assert_eq!((resumed.records, resumed.imported), (3, 0));
        assert_eq!(count(&store), 3);

        // A crash in the middle of the file's events: only the missing
        // records are added.
        let other = "s3://trail/AWSLogs/1/CloudTrail/us-east-1/2024/01/01/g.json.gz";
        let mut prepared = prepare(CLOUDTRAIL, "g", FILE.as_bytes(), Timestamp::now(), None);
        prepared.events.truncate(1);
        prepared.events[0].event.attributes.insert(
            "evident".into(),
            json!({"import": {"origin": other, "record": 0}}),
        );
        importer.imported.start(other).expect("start");
        append_and_wait(&store, &prepared.events).expect("append");
        let resumed = import(&importer, "g", Some(other)).expect("import");
        assert_eq!((resumed.records, resumed.imported), (3, 2));
        assert_eq!(count(&store), 6);
    }

    #[test]
    fn digests_are_checked_against_the_imported_files_and_chained() {
        use crate::import::digests::Chain;
        use evident_sources::records::sha256_hex;

        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path(), StoreOptions::default()).expect("store"));
        let importer = Importer::open(Arc::clone(&store), dir.path(), None).expect("importer");
        let key = |name: &str| format!("AWSLogs/1/CloudTrail/us-east-1/2024/01/01/{name}");
        for name in ["f1.json", "f2.json"] {
            let origin = format!("s3://copy/{}", key(name));
            import(&importer, name, Some(&origin)).expect("import");
        }
        let listed = |name: &str, hash: &str| json!({"s3Bucket": "trail", "s3Object": key(name), "hashValue": hash, "hashAlgorithm": "SHA-256"});
        let digest = |name: &str,
                      previous: Option<(&str, String)>,
                      files: Vec<serde_json::Value>| {
            let mut digest = json!({
                "digestStartTime": "2024-01-01T00:00:00Z", "digestEndTime": "2024-01-01T01:00:00Z",
                "digestS3Bucket": "trail", "digestS3Object": format!("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/01/{name}"),
                "logFiles": files,
            });
            if let Some((previous, hash)) = previous {
                digest["previousDigestS3Bucket"] = json!("trail");
                digest["previousDigestS3Object"] = json!(format!(
                    "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/01/{previous}"
                ));
                digest["previousDigestHashValue"] = json!(hash);
            }
            digest.to_string()
        };
        let origin = |name: &str| {
            format!("s3://copy/AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/01/{name}")
        };
        let file_hash = sha256_hex(FILE.as_bytes());

        // f1 as listed, f2 altered after the digest was written, f3 never arrived.
        let first = digest(
            "d1.json",
            None,
            vec![
                listed("f1.json", &file_hash),
                listed("f2.json", &"0".repeat(64)),
                listed("f3.json", &file_hash),
            ],
        );
        let report = importer
            .check_digest(
                &origin("d1.json"),
                "copy",
                first.as_bytes(),
                Provenance::Read,
            )
            .expect("check")
            .expect("not checked before");
        assert_eq!(report.verified, 1);
        assert_eq!(
            report.mismatched,
            vec![format!("s3://copy/{}", key("f2.json"))]
        );
        assert_eq!(
            report.missing,
            vec![format!("s3://copy/{}", key("f3.json"))]
        );
        assert_eq!(report.chain, Chain::First);
        assert!(!report.is_clean());
        assert!(
            importer
                .check_digest(
                    &origin("d1.json"),
                    "copy",
                    first.as_bytes(),
                    Provenance::Read
                )
                .expect("check")
                .is_none()
        );

        let second = digest(
            "d2.json",
            Some(("d1.json", sha256_hex(first.as_bytes()))),
            vec![],
        );
        let report = importer
            .check_digest(
                &origin("d2.json"),
                "copy",
                second.as_bytes(),
                Provenance::Read,
            )
            .expect("check")
            .expect("new");
        assert_eq!(report.chain, Chain::Linked);
        assert!(report.is_clean());

        // A digest that cannot be read is set aside once, never listed as
        // checked.
        for _ in 0..2 {
            let broken =
                importer.check_digest(&origin("d0.json"), "copy", b"{not json", Provenance::Read);
            assert!(matches!(broken, Err(ImportError::Digest(_))));
        }
        assert!(!importer.was_imported(&origin("d0.json")));
        assert_eq!(importer.dead_letters().written(), 1);

        let third = digest("d3.json", Some(("d2.json", "f".repeat(64))), vec![]);
        let report = importer
            .check_digest(
                &origin("d3.json"),
                "copy",
                third.as_bytes(),
                Provenance::Read,
            )
            .expect("check")
            .expect("new");
        assert_eq!(report.chain, Chain::Broken);

        // Each check is an audit event of its own.
        let filter =
            evident_search::parse_filter("source:evident @evt.name:cloudtrail_digest_check")
                .expect("filter");
        let window = Window {
            from: i64::MIN,
            to: i64::MAX,
        };
        let checks = matching_events(&store, &filter, window).expect("query");
        let statuses: Vec<Option<&str>> = checks
            .iter()
            .map(|check| check.event.status.as_deref())
            .collect();
        assert_eq!(statuses, vec![Some("error"), Some("info"), Some("error")]);
    }
}

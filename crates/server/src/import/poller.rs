//! A bucket as a continuous source of `serve`: each poll lists every trail
//! folder (`AWSLogs/<account>/CloudTrail/<region>/`) from the day before
//! the newest delivery day seen there, so that files delivered late (into
//! the last day or two) are still found, and imports the files not
//! imported yet, at most once each ([`Importer`]); then the digest folders
//! (`CloudTrail-Digest/`) the same way, each new digest checked against
//! the files imported. The newest day of each folder is saved in
//! `bucket-positions.json` of the data directory after the folder is done,
//! so that a restart lists where it left off.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evident_sources::{Source, SourceChoice};
use object_store::ObjectStore;
use object_store::path::Path;

use super::bucket::{BucketUrl, day_before, day_of, files_since, read, trail_folders};
use super::{ImportError, Importer, Provenance};

/// The newest delivery day seen, by trail folder.
#[derive(Debug)]
pub struct Positions {
    path: PathBuf,
    days: BTreeMap<String, String>,
}

impl Positions {
    pub const FILE: &'static str = "bucket-positions.json";

    pub fn open(data_dir: &FsPath) -> std::io::Result<Positions> {
        let path = data_dir.join(Self::FILE);
        let days = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => return Err(error),
        };
        Ok(Positions { path, days })
    }

    pub fn get(&self, folder: &str) -> Option<&str> {
        self.days.get(folder).map(String::as_str)
    }

    /// Sets and saves (replaced whole, durably).
    pub fn set(&mut self, folder: &str, day: &str) -> std::io::Result<()> {
        self.days.insert(folder.to_string(), day.to_string());
        let bytes = serde_json::to_vec_pretty(&self.days).map_err(std::io::Error::other)?;
        evident_durable::replace(&self.path, &bytes)
    }
}

/// One bucket, polled.
#[derive(Debug)]
pub struct BucketSource {
    pub url: BucketUrl,
    pub store: Arc<dyn ObjectStore>,
    pub importer: Arc<Importer>,
    /// Shared by the buckets of one data directory.
    pub positions: Arc<Mutex<Positions>>,
    pub interval: Duration,
}

impl BucketSource {
    /// Polls until the task is dropped.
    pub async fn run(mut self) {
        loop {
            match self.poll().await {
                Ok(0) => tracing::debug!(bucket = %self.url, "no new files"),
                Ok(files) => tracing::info!(bucket = %self.url, files, "imported new files"),
                Err(error) => {
                    tracing::warn!(bucket = %self.url, %error, "polling the bucket failed; retrying")
                }
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// One pass over the bucket: the log files, then the digests that
    /// vouch for them; the number of files imported or checked.
    pub async fn poll(&mut self) -> Result<usize, String> {
        let mut done = 0;
        for digests in [false, true] {
            let kind = if digests {
                "CloudTrail-Digest"
            } else {
                "CloudTrail"
            };
            let folders = trail_folders(self.store.as_ref(), &self.url, kind)
                .await
                .map_err(|error| format!("listing {}: {error}", self.url))?;
            for folder in folders {
                done += self.poll_folder(&folder, digests).await?;
            }
        }
        Ok(done)
    }

    async fn poll_folder(&mut self, folder: &Path, digests: bool) -> Result<usize, String> {
        let store = Arc::clone(&self.store);
        let position_key = self.url.origin(folder);
        let seen = self
            .positions
            .lock()
            .map_err(|_| "bucket positions lock poisoned".to_string())?
            .get(&position_key)
            .map(str::to_string);
        let since = seen.as_deref().and_then(day_before);
        let files = files_since(store.as_ref(), folder, since.as_deref(), digests)
            .await
            .map_err(|error| format!("listing {position_key}: {error}"))?;
        let mut newest = seen.clone();
        let mut done = 0;
        for file in files {
            if let Some(day) = day_of(folder, &file.location)
                && newest.as_ref().is_none_or(|newest| day > *newest)
            {
                newest = Some(day);
            }
            let origin = self.url.origin(&file.location);
            if self.importer.was_imported(&origin) {
                continue;
            }
            let bytes = read(store.as_ref(), &file.location)
                .await
                .map_err(|error| format!("reading {origin}: {error}"))?;
            let importer = Arc::clone(&self.importer);
            let name = file.location.to_string();
            let bucket = self.url.bucket.clone();
            tokio::task::spawn_blocking(move || {
                if digests {
                    match importer.check_digest(&origin, &bucket, &bytes, Provenance::Read) {
                        // Set aside for good: report and go on.
                        Err(ImportError::Digest(reason)) => {
                            tracing::warn!(digest = %origin, %reason, "unreadable CloudTrail digest");
                            Ok(())
                        }
                        other => other.map(|_| ()),
                    }
                } else {
                    importer
                        .import(
                            SourceChoice::Only(Source::CloudTrail),
                            &name,
                            Some(&origin),
                            &bytes,
                        )
                        .map(|_| ())
                }
            })
            .await
            .map_err(|error| format!("import task failed: {error}"))?
            .map_err(|error| error.to_string())?;
            done += 1;
        }
        if let Some(newest) = newest.filter(|newest| seen.as_ref() != Some(newest)) {
            self.positions
                .lock()
                .map_err(|_| "bucket positions lock poisoned".to_string())?
                .set(&position_key, &newest)
                .map_err(|error| format!("saving the bucket position: {error}"))?;
        }
        Ok(done)
    }
}

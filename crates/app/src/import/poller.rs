//! A bucket as a continuous source of `serve`: each poll lists every trail
//! folder (`AWSLogs/<account>/CloudTrail/<region>/`) from the day before
//! the newest delivery day seen there, so that files delivered late (into
//! the last day or two) are still found, and imports the files not
//! imported yet, at most once each, and the new digests of the digest
//! folders (`CloudTrail-Digest/`): one [`BucketPass`], as `evident import
//! s3://...` makes, so the digests vouch for the files they list and are
//! then checked against the files imported. The newest day of each folder is saved in
//! `bucket-positions.json` of the data directory after the folder is done,
//! so that a restart lists where it left off.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evident_sources::{Source, SourceChoice};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use super::Provenance;
use super::bucket::{BucketUrl, day_before, day_of, files_since, trail_folders};
use super::requests::BucketPass;
use crate::Evident;
use crate::error::ErrorKind;

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
    pub evident: Arc<Evident>,
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

    /// One pass over the bucket: the new log files and digests of every
    /// trail folder, imported and checked as one [`BucketPass`]; the number
    /// of files imported or checked.
    pub async fn poll(&mut self) -> Result<usize, String> {
        let mut logs = Vec::new();
        let mut digests = Vec::new();
        let mut newest_days = Vec::new();
        for digest_folders in [false, true] {
            let kind = if digest_folders {
                "CloudTrail-Digest"
            } else {
                "CloudTrail"
            };
            let folders = trail_folders(self.store.as_ref(), &self.url, kind)
                .await
                .map_err(|error| format!("listing {}: {error}", self.url))?;
            for folder in folders {
                let (files, newest) = self.new_files(&folder, digest_folders).await?;
                if digest_folders {
                    digests.extend(files);
                } else {
                    logs.extend(files);
                }
                newest_days.extend(newest);
            }
        }
        let pass =
            BucketPass::read(self.url.clone(), Arc::clone(&self.store), logs, digests).await?;
        let mut done = 0;
        for object in &pass.logs {
            let request = pass
                .request(object, SourceChoice::Only(Source::CloudTrail))
                .await?;
            self.evident
                .import_file(request)
                .await
                .map_err(|error| error.message)?;
            done += 1;
        }
        for (origin, bytes) in pass.digests {
            let checked = self
                .evident
                .check_digest(
                    origin.clone(),
                    pass.url.bucket.clone(),
                    bytes,
                    Provenance::Read,
                )
                .await;
            match checked {
                // Set aside for good: report and go on.
                Err(error) if error.kind == ErrorKind::InvalidArgument => {
                    tracing::warn!(digest = %origin, reason = %error.message, "unreadable CloudTrail digest");
                }
                Err(error) => return Err(error.message),
                Ok(_) => {}
            }
            done += 1;
        }
        // Saved once the files are in: a restart lists from there.
        let mut positions = self
            .positions
            .lock()
            .map_err(|_| "bucket positions lock poisoned".to_string())?;
        for (key, day) in newest_days {
            positions
                .set(&key, &day)
                .map_err(|error| format!("saving the bucket position: {error}"))?;
        }
        Ok(done)
    }

    /// The files of `folder` not imported yet, from the day before the
    /// newest seen on; and the folder's new newest day, when it moved.
    async fn new_files(
        &self,
        folder: &Path,
        digests: bool,
    ) -> Result<(Vec<ObjectMeta>, Option<(String, String)>), String> {
        let position_key = self.url.origin(folder);
        let seen = self
            .positions
            .lock()
            .map_err(|_| "bucket positions lock poisoned".to_string())?
            .get(&position_key)
            .map(str::to_string);
        let since = seen.as_deref().and_then(day_before);
        let files = files_since(self.store.as_ref(), folder, since.as_deref(), digests)
            .await
            .map_err(|error| format!("listing {position_key}: {error}"))?;
        let mut newest = seen.clone();
        let mut new = Vec::new();
        for file in files {
            if let Some(day) = day_of(folder, &file.location)
                && newest.as_ref().is_none_or(|newest| day > *newest)
            {
                newest = Some(day);
            }
            if !self.evident.was_imported(&self.url.origin(&file.location)) {
                new.push(file);
            }
        }
        let moved = newest
            .filter(|newest| seen.as_ref() != Some(newest))
            .map(|newest| (position_key, newest));
        Ok((new, moved))
    }
}

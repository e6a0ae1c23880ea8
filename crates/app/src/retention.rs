//! Retention: how many days events are kept after they arrive, for all
//! sources and per source. A setting like any other: read by everyone,
//! changed by those with `org_management`, each change recorded before it
//! is kept in `retention.json` (until the first change, `serve
//! --retention-days` is the setting).
//!
//! Whole sealed segments are dropped, oldest first, once every event in
//! them is past its source's retention: a source with a shorter period
//! than the sources it shares segments with is kept as long as they are
//! (retention is a minimum, never an early loss).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use evident_store::segment::SegmentMeta;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Evident;
use crate::activity::change_event;
use crate::actor::Actor;
use crate::error::AppError;

/// Longest retention that can be set: a hundred years.
pub const MAX_DAYS: u32 = 36_500;
/// Most sources with a retention of their own.
pub const MAX_SOURCES: usize = 1_000;
const MAX_SOURCE_NAME: usize = 100;
const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// The retention setting. `0` days keeps events forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days the events of every source not listed in `sources` are kept.
    pub days: u32,
    /// Days for the events of one source (`ddsource`), instead of `days`.
    #[serde(default)]
    pub sources: BTreeMap<String, u32>,
}

impl Retention {
    pub fn days(days: u32) -> Retention {
        Retention {
            days,
            sources: BTreeMap::new(),
        }
    }

    /// Refuses what cannot be a setting.
    pub fn check(&self) -> Result<(), AppError> {
        if self.days > MAX_DAYS {
            return Err(AppError::invalid(format!(
                "days is at most {MAX_DAYS} (0 keeps events forever)"
            )));
        }
        if self.sources.len() > MAX_SOURCES {
            return Err(AppError::invalid(format!(
                "at most {MAX_SOURCES} sources have a retention of their own"
            )));
        }
        for (source, days) in &self.sources {
            if source.is_empty()
                || source.chars().count() > MAX_SOURCE_NAME
                || source.chars().any(char::is_control)
            {
                return Err(AppError::invalid(format!(
                    "a source's name has 1 to {MAX_SOURCE_NAME} printable characters: {source:?}"
                )));
            }
            if *days > MAX_DAYS {
                return Err(AppError::invalid(format!(
                    "sources.{source} is at most {MAX_DAYS} days (0 keeps its events forever)"
                )));
            }
        }
        Ok(())
    }

    /// The days the events of `source` (`""`: none) are kept.
    pub fn days_of(&self, source: &str) -> u32 {
        self.sources.get(source).copied().unwrap_or(self.days)
    }

    /// Whether every event of `segment` is past its source's retention at
    /// `now` (ns since the epoch). A segment that does not list its
    /// sources is kept for the longest period set.
    pub fn expired(&self, segment: &SegmentMeta, now: i64) -> bool {
        let periods: Vec<u32> = match &segment.sources {
            Some(sources) => sources.iter().map(|source| self.days_of(source)).collect(),
            None => std::iter::once(self.days)
                .chain(self.sources.values().copied())
                .collect(),
        };
        if periods.contains(&0) {
            return false;
        }
        let longest = periods.into_iter().max().unwrap_or(self.days);
        let cutoff = now.saturating_sub(i64::from(longest) * NANOS_PER_DAY);
        segment.max_discovery < cutoff
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("reading the retention setting from {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("writing the retention setting: {0}")]
    Write(#[from] std::io::Error),
}

/// The setting in memory and in `retention.json`.
#[derive(Debug)]
pub struct RetentionStore {
    path: PathBuf,
    current: Mutex<Retention>,
}

impl RetentionStore {
    /// The stored setting, or `default_days` for every source when none
    /// was ever set.
    pub fn open(data_dir: &Path, default_days: u32) -> Result<RetentionStore, RetentionError> {
        let path = data_dir.join("retention.json");
        let current = match std::fs::read(&path) {
            Ok(bytes) => {
                let stored: Retention =
                    serde_json::from_slice(&bytes).map_err(|error| RetentionError::Read {
                        path: path.clone(),
                        reason: error.to_string(),
                    })?;
                if stored.days != default_days {
                    tracing::info!(
                        days = stored.days,
                        flag = default_days,
                        "retention was set through the API; --retention-days is not used"
                    );
                }
                stored
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Retention::days(default_days)
            }
            Err(error) => {
                return Err(RetentionError::Read {
                    path,
                    reason: error.to_string(),
                });
            }
        };
        Ok(RetentionStore {
            path,
            current: Mutex::new(current),
        })
    }

    pub fn get(&self) -> Retention {
        self.lock().clone()
    }

    /// Writes `next` (durably) and makes it the setting.
    pub fn replace(&self, next: Retention) -> Result<(), RetentionError> {
        let mut current = self.lock();
        let bytes = serde_json::to_vec_pretty(&next).map_err(std::io::Error::other)?;
        evident_durable::replace(&self.path, &bytes)?;
        *current = next;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Retention> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Retention as operations: each change recorded (`@evt.name:
/// audit_trail_settings @asset.type:retention`, with the previous and
/// new values) before it is kept.
impl Evident {
    pub fn retention(&self) -> Retention {
        self.retention.get()
    }

    /// Makes `next` the retention setting for `actor`.
    pub async fn set_retention(
        &self,
        actor: &Actor,
        next: Retention,
    ) -> Result<Retention, AppError> {
        next.check()?;
        // One change at a time, so that each record's previous value is
        // the one it replaced.
        let _serial = self.settings_changes.lock().await;
        let previous = self.retention.get();
        let event = change_event(
            actor,
            "audit_trail_settings",
            "modified",
            json!({
                "type": "retention",
                "id": "retention",
                "name": "Retention",
                "prev_value": previous,
                "new_value": next,
            }),
        );
        self.record(event).await?;
        let store = Arc::clone(&self.retention);
        let stored = next.clone();
        tokio::task::spawn_blocking(move || store.replace(stored))
            .await
            .map_err(|error| AppError::task("retention", error))?
            .map_err(|error| AppError::internal(error.to_string()))?;
        tracing::info!(
            days = next.days,
            sources = next.sources.len(),
            "retention changed"
        );
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(sources: Option<&[&str]>, arrived_days_ago: i64, now: i64) -> SegmentMeta {
        SegmentMeta {
            path: "segment".into(),
            first_sequence: 0,
            end_sequence: 10,
            min_time: 0,
            max_time: 0,
            max_discovery: now - arrived_days_ago * NANOS_PER_DAY,
            bytes: 0,
            min_id: String::new(),
            max_id: String::new(),
            multi_valued: Vec::new(),
            whole_values: true,
            promoted: Vec::new(),
            status_whole: true,
            sources: sources.map(|sources| sources.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn a_segment_goes_when_each_of_its_sources_is_past_its_period() {
        let now = 1_000 * NANOS_PER_DAY;
        let retention = Retention {
            days: 90,
            sources: BTreeMap::from([("github".to_owned(), 30), ("evident".to_owned(), 0)]),
        };
        assert!(retention.expired(&segment(Some(&["github"]), 31, now), now));
        assert!(!retention.expired(&segment(Some(&["github"]), 29, now), now));
        // Shared with a source kept longer: kept as long as it is.
        assert!(!retention.expired(&segment(Some(&["github", "okta"]), 31, now), now));
        assert!(retention.expired(&segment(Some(&["github", "okta"]), 91, now), now));
        assert!(retention.expired(&segment(Some(&[""]), 91, now), now));
        // Forever wins.
        assert!(!retention.expired(&segment(Some(&["evident", "okta"]), 5_000, now), now));
        // Sources unknown: the longest period, here forever.
        assert!(!retention.expired(&segment(None, 5_000, now), now));
        let plain = Retention::days(90);
        assert!(plain.expired(&segment(None, 91, now), now));
        assert!(!Retention::days(0).expired(&segment(Some(&["okta"]), 5_000, now), now));
    }

    fn event(id: &str, source: &str) -> evident_model::StoredEvent {
        evident_model::StoredEvent {
            id: id.to_owned(),
            discovery_timestamp: evident_model::Timestamp::now(),
            tiebreaker: 1,
            random_draw: 0.5,
            ingest_size_in_bytes: 10,
            truncated: false,
            event: evident_model::Event {
                message: Some(format!("event {id}")),
                source: Some(source.to_owned()),
                ..evident_model::Event::default()
            },
        }
    }

    #[test]
    fn sealed_segments_list_their_sources_and_expire_by_them()
    -> Result<(), Box<dyn std::error::Error>> {
        use evident_store::{Store, StoreOptions};
        let directory = tempfile::tempdir()?;
        let store = Store::open(
            directory.path(),
            StoreOptions {
                seal_rows: 2,
                ..StoreOptions::default()
            },
        )?;
        // Oldest first: github alone, then github with okta, then okta.
        for (id, source) in [
            ("1", "github"),
            ("2", "github"),
            ("3", "github"),
            ("4", "okta"),
        ] {
            store.commit(vec![event(id, source)]).wait()?;
        }
        store
            .commit(vec![event("5", "okta"), event("6", "okta")])
            .wait()?;
        store.seal()?;
        let sources: Vec<Option<Vec<String>>> = store
            .segments()
            .into_iter()
            .map(|segment| segment.sources)
            .collect();
        let listed = |names: &[&str]| Some(names.iter().map(|name| (*name).to_owned()).collect());
        assert_eq!(
            sources,
            vec![
                listed(&["github"]),
                listed(&["github", "okta"]),
                listed(&["okta"])
            ]
        );
        let retention = Retention {
            days: 90,
            sources: BTreeMap::from([("github".to_owned(), 30)]),
        };
        let in_31_days = evident_model::Timestamp::now().as_nanos() + 31 * NANOS_PER_DAY;
        // github's own segment goes; the one it shares with okta stays (and
        // so does everything after it).
        assert_eq!(
            store.expire_while(|segment| retention.expired(segment, in_31_days))?,
            2
        );
        assert_eq!(store.segments().len(), 2);
        let in_91_days = in_31_days + 60 * NANOS_PER_DAY;
        assert_eq!(
            store.expire_while(|segment| retention.expired(segment, in_91_days))?,
            4
        );
        Ok(())
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(Retention::days(MAX_DAYS + 1).check().is_err());
        let named = |name: &str, days| Retention {
            days: 90,
            sources: BTreeMap::from([(name.to_owned(), days)]),
        };
        assert!(named("", 30).check().is_err());
        assert!(named("git\nhub", 30).check().is_err());
        assert!(named(&"x".repeat(101), 30).check().is_err());
        assert!(named("github", MAX_DAYS + 1).check().is_err());
        assert!(named("github", 30).check().is_ok());
    }

    #[test]
    fn the_setting_survives_reopening() -> Result<(), Box<dyn std::error::Error>> {
        let directory = tempfile::tempdir()?;
        let store = RetentionStore::open(directory.path(), 90)?;
        assert_eq!(store.get(), Retention::days(90));
        let next = Retention {
            days: 365,
            sources: BTreeMap::from([("github".to_owned(), 30)]),
        };
        store.replace(next.clone())?;
        assert_eq!(RetentionStore::open(directory.path(), 90)?.get(), next);
        std::fs::write(directory.path().join("retention.json"), b"{\"days\": -1}")?;
        assert!(RetentionStore::open(directory.path(), 90).is_err());
        Ok(())
    }
}

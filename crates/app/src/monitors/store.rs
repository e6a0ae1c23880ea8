//! What monitors keep in the data directory, under `monitors/`:
//! `definitions/<id>.json` (each monitor, replaced whole on its change)
//! and `next-id.json` (ids are never reused), `state.json` (where evaluation stands in the log,
//! and the groups that triggered, replaced whole after each evaluation
//! that triggered and every few seconds; windows are rebuilt from the
//! stored events on start) and `values/<id>.bin` (what each new-value
//! monitor learned, appended as it learns). The replaced files go through
//! `evident-durable`, so a crash leaves the old file or the new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use evident_monitor::MonitorState;
use serde::{Deserialize, Serialize};

use super::definition::Monitor;

#[derive(Debug, thiserror::Error)]
pub enum MonitorStoreError {
    #[error("reading {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The definitions.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    /// The id the next monitor gets (ids are never reused).
    pub next_id: i64,
    pub monitors: BTreeMap<i64, Monitor>,
}

#[derive(Debug, Serialize, Deserialize)]
struct NextId {
    next_id: i64,
}

/// One monitor's evaluation state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saved {
    /// The first log position this monitor evaluates (its history before
    /// it was loaded when it was made).
    pub from: u64,
    pub state: MonitorState,
}

/// One monitor's state as written: borrowed, not copied.
#[derive(Debug, Serialize)]
pub struct SavedRef<'a> {
    pub from: u64,
    pub state: &'a MonitorState,
}

/// Where evaluation stands, as written.
#[derive(Debug, Serialize)]
pub struct SavedStateRef<'a> {
    pub position: u64,
    pub monitors: BTreeMap<i64, SavedRef<'a>>,
}

/// Where evaluation stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SavedState {
    /// The next log position to evaluate.
    pub position: u64,
    pub monitors: BTreeMap<i64, Saved>,
}

fn read<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> Result<T, MonitorStoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| MonitorStoreError::Read {
            path: path.to_owned(),
            reason: error.to_string(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(error) => Err(MonitorStoreError::Read {
            path: path.to_owned(),
            reason: error.to_string(),
        }),
    }
}

fn read_one<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, MonitorStoreError> {
    let bytes = std::fs::read(path).map_err(|error| MonitorStoreError::Read {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    serde_json::from_slice(&bytes).map_err(|error| MonitorStoreError::Read {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), MonitorStoreError> {
    let failed = |source| MonitorStoreError::Write {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec(value).map_err(|error| failed(std::io::Error::other(error)))?;
    evident_durable::replace(path, &bytes).map_err(failed)
}

/// A learned value's record: its hash and event time, little-endian.
const VALUE_RECORD: usize = 16;

/// The `monitors/` folder.
#[derive(Debug, Clone)]
pub struct MonitorFiles {
    dir: PathBuf,
}

impl MonitorFiles {
    pub fn open(data_dir: &Path) -> Result<MonitorFiles, MonitorStoreError> {
        let dir = data_dir.join("monitors");
        let failed = |source| MonitorStoreError::Write {
            path: dir.clone(),
            source,
        };
        if !dir.exists() {
            // The folder's name must survive a crash, as its files' do.
            std::fs::create_dir_all(&dir).map_err(failed)?;
            evident_durable::sync_dir(data_dir).map_err(failed)?;
        }
        Ok(MonitorFiles { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every monitor in `definitions/<id>.json`, and the next id.
    pub fn read_definitions(&self) -> Result<Definitions, MonitorStoreError> {
        let dir = self.dir.join("definitions");
        let mut monitors = BTreeMap::new();
        let entries =
            match std::fs::read_dir(&dir) {
                Ok(entries) => entries.collect::<Result<Vec<_>, _>>().map_err(|error| {
                    MonitorStoreError::Read {
                        path: dir.clone(),
                        reason: error.to_string(),
                    }
                })?,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(error) => {
                    return Err(MonitorStoreError::Read {
                        path: dir,
                        reason: error.to_string(),
                    });
                }
            };
        for entry in entries {
            let path = entry.path();
            // Temporaries of an interrupted replace are not monitors.
            if path.extension().and_then(|extension| extension.to_str()) != Some("json") {
                continue;
            }
            let monitor: Monitor = read_one(&path)?;
            monitors.insert(monitor.id, monitor);
        }
        let next =
            read::<Option<NextId>>(&self.dir.join("next-id.json"))?.map_or(1, |next| next.next_id);
        let highest = monitors.keys().next_back().map_or(0, |id| id + 1);
        Ok(Definitions {
            next_id: next.max(highest).max(1),
            monitors,
        })
    }

    /// Writes one monitor's definition (and the next id past it).
    pub fn write_monitor(&self, monitor: &Monitor, next_id: i64) -> Result<(), MonitorStoreError> {
        let dir = self.dir.join("definitions");
        if !dir.exists() {
            let failed = |source| MonitorStoreError::Write {
                path: dir.clone(),
                source,
            };
            std::fs::create_dir_all(&dir).map_err(failed)?;
            evident_durable::sync_dir(&self.dir).map_err(failed)?;
        }
        write(&self.dir.join("next-id.json"), &NextId { next_id })?;
        write(&dir.join(format!("{}.json", monitor.id)), monitor)
    }

    /// Removes one monitor's definition.
    pub fn remove_monitor(&self, id: i64) -> Result<(), MonitorStoreError> {
        let dir = self.dir.join("definitions");
        let path = dir.join(format!("{id}.json"));
        let failed = |source| MonitorStoreError::Write {
            path: path.clone(),
            source,
        };
        match std::fs::remove_file(&path) {
            Ok(()) => evident_durable::sync_dir(&dir).map_err(failed),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(failed(error)),
        }
    }

    pub fn read_state(&self) -> Result<SavedState, MonitorStoreError> {
        read(&self.dir.join("state.json"))
    }

    pub fn write_state(&self, state: &SavedStateRef<'_>) -> Result<(), MonitorStoreError> {
        write(&self.dir.join("state.json"), state)
    }

    /// The values a new-value monitor recorded: `values/<id>.bin`, 16
    /// bytes a record (value hash, event time; little-endian), a torn last
    /// record ignored.
    pub fn read_values(&self, monitor: i64) -> Result<Vec<(u64, i64)>, MonitorStoreError> {
        let path = self.values_path(monitor);
        let bytes = evident_durable::read_records(&path, VALUE_RECORD).map_err(|error| {
            MonitorStoreError::Read {
                path: path.clone(),
                reason: error.to_string(),
            }
        })?;
        Ok(bytes
            .chunks_exact(VALUE_RECORD)
            .map(|record| {
                let mut hash = [0u8; 8];
                let mut time = [0u8; 8];
                hash.copy_from_slice(&record[..8]);
                time.copy_from_slice(&record[8..]);
                (u64::from_le_bytes(hash), i64::from_le_bytes(time))
            })
            .collect())
    }

    /// Appends values learned, synced (they are what a restart knows).
    pub fn append_values(
        &self,
        monitor: i64,
        values: &[(u64, i64)],
    ) -> Result<(), MonitorStoreError> {
        let path = self.values_path(monitor);
        let failed = |source| MonitorStoreError::Write {
            path: path.clone(),
            source,
        };
        let folder = self.dir.join("values");
        if !folder.exists() {
            std::fs::create_dir_all(&folder).map_err(failed)?;
            evident_durable::sync_dir(&self.dir).map_err(failed)?;
        }
        let mut bytes = Vec::with_capacity(values.len() * VALUE_RECORD);
        for (hash, time) in values {
            bytes.extend_from_slice(&hash.to_le_bytes());
            bytes.extend_from_slice(&time.to_le_bytes());
        }
        evident_durable::append_records(&path, VALUE_RECORD, &bytes).map_err(failed)
    }

    /// Forgets a monitor's values (deleted, or its query changed).
    pub fn remove_values(&self, monitor: i64) -> Result<(), MonitorStoreError> {
        match std::fs::remove_file(self.values_path(monitor)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(MonitorStoreError::Write {
                    path: self.values_path(monitor),
                    source: error,
                })
            }
            _ => Ok(()),
        }
    }

    fn values_path(&self, monitor: i64) -> PathBuf {
        self.dir.join("values").join(format!("{monitor}.bin"))
    }
}

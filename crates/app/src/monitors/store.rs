//! What monitors keep in the data directory, under `monitors/`:
//! `monitors.json` (the definitions, replaced whole on each change, as
//! saved views are) and `state.json` (where evaluation stands in the log,
//! and each monitor's groups and windows, replaced whole after each
//! evaluation that changed them). Both go through `evident-durable`, so
//! a crash leaves the old file or the new one.

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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Definitions {
    /// The id the next monitor gets (ids are never reused).
    pub next_id: i64,
    pub monitors: Vec<Monitor>,
}

/// One monitor's evaluation state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saved {
    /// The first log position this monitor evaluates (its history before
    /// it was loaded when it was made).
    pub from: u64,
    pub state: MonitorState,
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

fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), MonitorStoreError> {
    let failed = |source| MonitorStoreError::Write {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec(value).map_err(|error| failed(std::io::Error::other(error)))?;
    evident_durable::replace(path, &bytes).map_err(failed)
}

/// The `monitors/` folder.
#[derive(Debug, Clone)]
pub struct MonitorFiles {
    dir: PathBuf,
}

impl MonitorFiles {
    pub fn open(data_dir: &Path) -> Result<MonitorFiles, MonitorStoreError> {
        let dir = data_dir.join("monitors");
        std::fs::create_dir_all(&dir).map_err(|source| MonitorStoreError::Write {
            path: dir.clone(),
            source,
        })?;
        Ok(MonitorFiles { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn read_definitions(&self) -> Result<Definitions, MonitorStoreError> {
        let mut definitions: Definitions = read(&self.dir.join("monitors.json"))?;
        definitions.next_id = definitions.next_id.max(1);
        Ok(definitions)
    }

    pub fn write_definitions(&self, definitions: &Definitions) -> Result<(), MonitorStoreError> {
        write(&self.dir.join("monitors.json"), definitions)
    }

    pub fn read_state(&self) -> Result<SavedState, MonitorStoreError> {
        read(&self.dir.join("state.json"))
    }

    pub fn write_state(&self, state: &SavedState) -> Result<(), MonitorStoreError> {
        write(&self.dir.join("state.json"), state)
    }
}

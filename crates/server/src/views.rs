//! Saved views of the explorer (name, query, time range, columns), kept
//! server-side in `views.json` in the data directory, rewritten whole and
//! atomically on each change (they are few and small).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub id: String,
    pub name: String,
    pub query: String,
    pub from: String,
    pub to: String,
    pub columns: Vec<String>,
    /// Epoch milliseconds.
    pub created: i64,
    pub updated: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("reading saved views from {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("writing saved views: {0}")]
    Write(#[from] std::io::Error),
}

#[derive(Debug)]
pub struct ViewStore {
    path: PathBuf,
    views: Mutex<Vec<View>>,
}

impl ViewStore {
    pub fn open(data_dir: &Path) -> Result<ViewStore, ViewError> {
        let path = data_dir.join("views.json");
        let views = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| ViewError::Read {
                path: path.clone(),
                reason: error.to_string(),
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                return Err(ViewError::Read {
                    path,
                    reason: error.to_string(),
                });
            }
        };
        Ok(ViewStore {
            path,
            views: Mutex::new(views),
        })
    }

    pub fn list(&self) -> Vec<View> {
        self.lock().clone()
    }

    /// Applies `change` to the views and writes them; nothing changes if
    /// the write fails.
    pub fn update<T>(&self, change: impl FnOnce(&mut Vec<View>) -> T) -> Result<T, ViewError> {
        let mut views = self.lock();
        let mut changed = views.clone();
        let result = change(&mut changed);
        self.write(&changed)?;
        *views = changed;
        Ok(result)
    }

    fn write(&self, views: &[View]) -> Result<(), std::io::Error> {
        let bytes = serde_json::to_vec_pretty(views).map_err(std::io::Error::other)?;
        evident_durable::replace(&self.path, &bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<View>> {
        self.views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_survive_reopening() -> Result<(), Box<dyn std::error::Error>> {
        let directory = tempfile::tempdir()?;
        let store = ViewStore::open(directory.path())?;
        let view = View {
            id: "v1".into(),
            name: "api keys".into(),
            query: "@evt.name:api_key".into(),
            from: "now-7d".into(),
            to: "now".into(),
            columns: vec!["timestamp".into()],
            created: 1,
            updated: 1,
        };
        store.update(|views| views.push(view.clone()))?;
        assert_eq!(ViewStore::open(directory.path())?.list(), vec![view]);
        std::fs::write(directory.path().join("views.json"), b"{not json")?;
        assert!(ViewStore::open(directory.path()).is_err());
        Ok(())
    }
}

//! Saved views of the explorer (name, query, time range, columns), kept
//! server-side in `views.json` in the data directory, rewritten whole and
//! atomically on each change (they are few and small).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use evident_model::{Timestamp, parse_time};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Evident;
use crate::activity::change_event;
use crate::actor::Actor;
use crate::error::AppError;

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

/// The fields of a view a request sets (all optional on a change).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewBody {
    name: Option<String>,
    query: Option<String>,
    from: Option<String>,
    to: Option<String>,
    columns: Option<Vec<String>>,
}

const MAX_NAME: usize = 200;
const MAX_COLUMNS: usize = 50;

fn now_millis() -> i64 {
    Timestamp::now().as_nanos() / 1_000_000
}

/// Checks the fields given and writes them into `view`.
fn apply(body: ViewBody, view: &mut View) -> Result<(), AppError> {
    if let Some(name) = body.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(AppError::invalid(format!(
                "a view's name has 1 to {MAX_NAME} characters"
            )));
        }
        view.name = name.to_owned();
    }
    if let Some(query) = body.query {
        evident_search::parse(&query)
            .map_err(|error| AppError::invalid(format!("invalid query: {error}")))?;
        view.query = query;
    }
    let now = Timestamp::now();
    for (text, slot, name) in [
        (body.from, &mut view.from, "from"),
        (body.to, &mut view.to, "to"),
    ] {
        if let Some(text) = text {
            parse_time(&text, now)
                .map_err(|error| AppError::invalid(format!("invalid {name}: {error}")))?;
            *slot = text;
        }
    }
    if let Some(columns) = body.columns {
        if columns.len() > MAX_COLUMNS
            || columns
                .iter()
                .any(|column| column.is_empty() || column.len() > MAX_NAME)
        {
            return Err(AppError::invalid(format!(
                "at most {MAX_COLUMNS} columns, each a field name"
            )));
        }
        view.columns = columns;
    }
    Ok(())
}

/// Saved views as operations: each change is recorded as evident's own
/// audit event (`@evt.name:saved_view`) before it is made.
impl Evident {
    /// Every saved view, by name.
    pub fn list_views(&self) -> Vec<View> {
        let mut views = self.views.list();
        views.sort_by_key(|view| view.name.to_lowercase());
        views
    }

    fn find_view(&self, id: &str) -> Result<View, AppError> {
        self.views
            .list()
            .into_iter()
            .find(|view| view.id == id)
            .ok_or_else(|| AppError::not_found(format!("no saved view {id:?}")))
    }

    async fn view_changed(&self, actor: &Actor, action: &str, view: &View) -> Result<(), AppError> {
        let event = change_event(
            actor,
            "saved_view",
            action,
            json!({"type": "saved_view", "id": view.id, "name": view.name}),
        );
        self.record(event).await
    }

    async fn write_views<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Vec<View>) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let views = Arc::clone(&self.views);
        tokio::task::spawn_blocking(move || views.update(change))
            .await
            .map_err(|error| AppError::task("saved views", error))?
            .map_err(|error| AppError::internal(error.to_string()))
    }

    /// A new view made by `actor`.
    pub async fn create_view(&self, actor: &Actor, body: ViewBody) -> Result<View, AppError> {
        if body.name.is_none() {
            return Err(AppError::invalid("a view needs a name"));
        }
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|error| AppError::internal(error.to_string()))?;
        let now = now_millis();
        let mut view = View {
            id: bytes.iter().map(|byte| format!("{byte:02x}")).collect(),
            name: String::new(),
            query: String::new(),
            from: "now-15m".into(),
            to: "now".into(),
            columns: Vec::new(),
            created: now,
            updated: now,
        };
        apply(body, &mut view)?;
        self.view_changed(actor, "created", &view).await?;
        let stored = view.clone();
        self.write_views(move |views| views.push(stored)).await?;
        Ok(view)
    }

    /// The view `id` with the fields of `body` changed by `actor`.
    pub async fn update_view(
        &self,
        actor: &Actor,
        id: &str,
        body: ViewBody,
    ) -> Result<View, AppError> {
        let mut view = self.find_view(id)?;
        apply(body, &mut view)?;
        view.updated = now_millis();
        self.view_changed(actor, "modified", &view).await?;
        let stored = view.clone();
        self.write_views(move |views| {
            if let Some(slot) = views.iter_mut().find(|slot| slot.id == stored.id) {
                *slot = stored;
            }
        })
        .await?;
        Ok(view)
    }

    /// Deletes the view `id` for `actor`.
    pub async fn delete_view(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        let view = self.find_view(id)?;
        self.view_changed(actor, "deleted", &view).await?;
        let id = id.to_owned();
        self.write_views(move |views| views.retain(|slot| slot.id != id))
            .await
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

//! Notifications due and delivered, in `monitors/outbox.jsonl`: a
//! notification is appended (and synced) when its trigger is decided,
//! before evaluation moves on, and each delivery to one of its `@handle`s
//! is appended as done when it ends. On start the notifications with a
//! handle not done are delivered again, so a crash (kill -9 included)
//! between a trigger and its delivery loses nothing; a trigger decided
//! again after a crash carries the same key and is not appended twice.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use evident_durable::JsonLines;
use evident_monitor::{Cause, Level};
use serde::{Deserialize, Serialize};

/// A notification of one trigger of one monitor group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `<monitor id>:<group>:<trigger number>`: one per trigger.
    pub key: String,
    pub monitor_id: i64,
    pub monitor_name: String,
    pub group: String,
    pub group_values: BTreeMap<String, String>,
    pub from: Level,
    pub to: Level,
    pub cause: Cause,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// The end of the window judged, ns since the epoch.
    pub at: i64,
    /// When it was decided, ns since the epoch.
    pub decided: i64,
    pub title: String,
    /// The rendered message.
    pub text: String,
    pub handles: Vec<String>,
    pub tags: Vec<String>,
    pub priority: Option<i64>,
    pub query: String,
}

impl Notification {
    /// Datadog's alert transition name: `Triggered`, `Recovered`, `Warn`,
    /// `No Data`, `Re-Triggered`.
    pub fn transition(&self) -> &'static str {
        match (&self.cause, self.to) {
            (Cause::Renotify, _) => "Re-Triggered",
            (_, Level::Ok) => "Recovered",
            (_, Level::Alert) => "Triggered",
            (_, Level::Warn) => "Warn",
            (_, Level::NoData) => "No Data",
        }
    }

    pub fn is_recovery(&self) -> bool {
        self.to == Level::Ok
    }
}

/// A delivery that ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub key: String,
    pub handle: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub attempts: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Due(Box<Notification>),
    Done(Done),
}

/// One notification to one handle.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub notification: std::sync::Arc<Notification>,
    pub handle: String,
}

#[derive(Debug)]
pub struct Outbox {
    file: JsonLines,
    keys: HashSet<String>,
}

impl Outbox {
    /// Opens the outbox; the deliveries not done yet.
    pub fn open(dir: &Path) -> std::io::Result<(Outbox, Vec<Delivery>)> {
        let (file, bytes) = JsonLines::open(&dir.join("outbox.jsonl"))?;
        let mut due: Vec<std::sync::Arc<Notification>> = Vec::new();
        let mut done: HashSet<(String, String)> = HashSet::new();
        let mut keys = HashSet::new();
        for line in bytes
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
        {
            match serde_json::from_slice::<Line>(line) {
                Ok(Line::Due(notification)) => {
                    keys.insert(notification.key.clone());
                    due.push(std::sync::Arc::new(*notification));
                }
                Ok(Line::Done(finished)) => {
                    done.insert((finished.key, finished.handle));
                }
                Err(error) => {
                    tracing::warn!(%error, "an outbox line does not read: skipped");
                }
            }
        }
        let pending = due
            .iter()
            .flat_map(|notification| {
                notification.handles.iter().map(|handle| Delivery {
                    notification: std::sync::Arc::clone(notification),
                    handle: handle.clone(),
                })
            })
            .filter(|delivery| {
                !done.contains(&(delivery.notification.key.clone(), delivery.handle.clone()))
            })
            .collect();
        Ok((Outbox { file, keys }, pending))
    }

    /// Appends the notifications not appended before (by key), synced;
    /// answers those.
    pub fn add(&mut self, notifications: Vec<Notification>) -> std::io::Result<Vec<Notification>> {
        let fresh: Vec<Notification> = notifications
            .into_iter()
            .filter(|notification| !self.keys.contains(&notification.key))
            .collect();
        if fresh.is_empty() {
            return Ok(fresh);
        }
        let lines = fresh
            .iter()
            .map(|notification| serde_json::to_vec(&Line::Due(Box::new(notification.clone()))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(std::io::Error::other)?;
        self.file.append(&lines)?;
        self.keys
            .extend(fresh.iter().map(|notification| notification.key.clone()));
        Ok(fresh)
    }

    /// Whether a trigger's notification was appended already.
    pub fn knows(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Records a delivery's end, synced.
    pub fn done(&mut self, done: Done) -> std::io::Result<()> {
        let line = serde_json::to_vec(&Line::Done(done)).map_err(std::io::Error::other)?;
        self.file.append(&[line])
    }
}

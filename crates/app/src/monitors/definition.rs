//! A monitor as Datadog's monitor API shapes it (`type: "audit alert"`,
//! `query`, `message`, `tags`, `options`, `priority`), stored as given,
//! and checked by compiling it to what the evaluator runs.

use std::collections::BTreeMap;
use std::time::Duration;

use evident_monitor::query::Kind;
use evident_monitor::{Definition, MonitorQuery, Thresholds, template};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AppError;

/// The only monitor type evident evaluates.
pub const AUDIT_ALERT: &str = "audit alert";
const MAX_NAME: usize = 1_000;
const MAX_MESSAGE: usize = 64 * 1024;
const MAX_TAGS: usize = 100;
/// `no_data_timeframe` and `renotify_interval` are minutes, as Datadog's.
const MAX_MINUTES: u64 = 7 * 24 * 60;
/// `evaluation_delay` is seconds: at most a day.
const MAX_DELAY_SECONDS: u64 = 86_400;

/// `options.thresholds` as a request gives it (all optional: the critical
/// threshold may come from the query alone).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_recovery: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_recovery: Option<f64>,
}

/// `options`: what evident evaluates, and Datadog's other options kept as
/// given (they change nothing here; a name Datadog does not know is refused).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<ThresholdOptions>,
    #[serde(default)]
    pub notify_no_data: bool,
    /// Minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_timeframe: Option<u64>,
    /// Minutes; none or 0: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renotify_interval: Option<u64>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_delay: Option<u64>,
    #[serde(default)]
    pub notify_audit: bool,
    #[serde(default = "yes")]
    pub include_tags: bool,
    /// Muted scopes (`*` or a group, `usr.email:bob@example.com`) and
    /// when each ends (epoch seconds; none: until unmuted).
    #[serde(default)]
    pub silenced: BTreeMap<String, Option<i64>>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

fn yes() -> bool {
    true
}

/// Datadog's monitor options that evident keeps but does not act on.
const KEPT_OPTIONS: &[&str] = &[
    "aggregation",
    "enable_logs_sample",
    "enable_samples",
    "escalation_message",
    "group_retention_duration",
    "groupby_simple_monitor",
    "locked",
    "new_group_delay",
    "new_host_delay",
    "notification_preset_name",
    "notify_by",
    "on_missing_data",
    "renotify_occurrences",
    "renotify_statuses",
    "require_full_window",
    "timeout_h",
];

/// A monitor as stored and answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub query: String,
    pub message: String,
    pub tags: Vec<String>,
    pub options: MonitorOptions,
    pub priority: Option<i64>,
    /// RFC 3339.
    pub created: String,
    pub modified: String,
    pub creator: Creator,
}

/// Who made a monitor, as Datadog's `creator`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Creator {
    pub email: Option<String>,
    pub handle: String,
    pub name: Option<String>,
}

/// The fields a request sets (`POST` all of the required ones; `PUT`
/// those it changes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorBody {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub query: Option<String>,
    pub message: Option<String>,
    pub tags: Option<Vec<String>>,
    pub options: Option<MonitorOptions>,
    pub priority: Option<Option<i64>>,
    // Read-only fields a client may send back unchanged.
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    pub created: Option<Value>,
    #[serde(default)]
    pub modified: Option<Value>,
    #[serde(default)]
    pub creator: Option<Value>,
    #[serde(default)]
    pub overall_state: Option<Value>,
    #[serde(default)]
    pub state: Option<Value>,
    #[serde(default)]
    pub multi: Option<Value>,
    #[serde(default)]
    pub deleted: Option<Value>,
    #[serde(default)]
    pub restricted_roles: Option<Value>,
    #[serde(default)]
    pub matching_downtimes: Option<Value>,
    #[serde(default)]
    pub draft_status: Option<Value>,
}

impl MonitorBody {
    /// Writes the fields given into `monitor`.
    pub fn apply(self, monitor: &mut Monitor) {
        if let Some(name) = self.name {
            monitor.name = name.trim().to_owned();
        }
        if let Some(kind) = self.kind {
            monitor.kind = kind;
        }
        if let Some(query) = self.query {
            monitor.query = query;
        }
        if let Some(message) = self.message {
            monitor.message = message;
        }
        if let Some(tags) = self.tags {
            monitor.tags = tags;
        }
        if let Some(options) = self.options {
            monitor.options = options;
        }
        if let Some(priority) = self.priority {
            monitor.priority = priority;
        }
    }
}

/// A monitor checked and compiled: what the evaluator runs.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub definition: Definition,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::invalid(message)
}

impl Monitor {
    /// Writes the query's threshold as `options.thresholds.critical`, as
    /// Datadog answers it (when the query parses).
    pub fn fill_thresholds(&mut self) {
        if let Ok(query) = evident_monitor::parse(&self.query)
            && let Kind::Threshold { threshold, .. } = query.kind
        {
            let thresholds = self
                .options
                .thresholds
                .get_or_insert_with(ThresholdOptions::default);
            thresholds.critical = Some(threshold);
        }
    }

    /// Checks every field and compiles the query with the options; the
    /// error names the field at fault (and the query's column).
    pub fn compile(&self) -> Result<Compiled, AppError> {
        if self.name.is_empty() || self.name.chars().count() > MAX_NAME {
            return Err(invalid(format!(
                "a monitor's name has 1 to {MAX_NAME} characters"
            )));
        }
        if self.kind != AUDIT_ALERT {
            return Err(invalid(format!(
                "unsupported monitor type {:?}: evident evaluates \"{AUDIT_ALERT}\" monitors",
                self.kind
            )));
        }
        if self.message.len() > MAX_MESSAGE {
            return Err(invalid("a monitor's message is at most 64 KiB"));
        }
        template::check(&self.message)
            .map_err(|error| invalid(format!("invalid message: {error}")))?;
        if self.tags.len() > MAX_TAGS
            || self
                .tags
                .iter()
                .any(|tag| tag.is_empty() || tag.len() > 200)
        {
            return Err(invalid(format!(
                "at most {MAX_TAGS} tags, each 1 to 200 characters"
            )));
        }
        if let Some(priority) = self.priority
            && !(1..=5).contains(&priority)
        {
            return Err(invalid("priority is 1 (highest) to 5"));
        }
        if let Some(name) = self
            .options
            .other
            .keys()
            .find(|name| !KEPT_OPTIONS.contains(&name.as_str()))
        {
            return Err(invalid(format!("unknown monitor option {name:?}")));
        }
        let query = evident_monitor::parse(&self.query)
            .map_err(|error| invalid(format!("invalid query: {error}")))?;
        let options = &self.options;
        let given = options.thresholds.clone().unwrap_or_default();
        let thresholds = match &query.kind {
            Kind::Threshold {
                comparator,
                threshold,
                ..
            } => {
                if let Some(critical) = given.critical
                    && critical != *threshold
                {
                    return Err(invalid(format!(
                        "options.thresholds.critical ({critical}) differs from the query's threshold ({threshold})"
                    )));
                }
                let thresholds = Thresholds {
                    critical: *threshold,
                    warning: given.warning,
                    critical_recovery: given.critical_recovery,
                    warning_recovery: given.warning_recovery,
                };
                thresholds
                    .check(*comparator)
                    .map_err(|error| invalid(format!("invalid thresholds: {error}")))?;
                thresholds
            }
            Kind::NewValue { .. } => {
                if given != ThresholdOptions::default() {
                    return Err(invalid("a new-value monitor takes no thresholds"));
                }
                if options.notify_no_data {
                    return Err(invalid(
                        "a new-value monitor has no 'no data' state: alert on a window with '< 1' instead",
                    ));
                }
                Thresholds::default()
            }
        };
        let minutes = |value: Option<u64>, name: &str| -> Result<Option<Duration>, AppError> {
            match value {
                None | Some(0) => Ok(None),
                Some(minutes) if minutes <= MAX_MINUTES => {
                    Ok(Some(Duration::from_secs(minutes * 60)))
                }
                Some(_) => Err(invalid(format!("{name} is at most {MAX_MINUTES} minutes"))),
            }
        };
        let no_data = if options.notify_no_data {
            let timeframe = minutes(options.no_data_timeframe, "no_data_timeframe")?;
            Some(timeframe.unwrap_or_else(|| default_no_data(&query)))
        } else {
            None
        };
        let renotify_interval = minutes(options.renotify_interval, "renotify_interval")?;
        let delay = options.evaluation_delay.unwrap_or(0);
        if delay > MAX_DELAY_SECONDS {
            return Err(invalid(format!(
                "evaluation_delay is at most {MAX_DELAY_SECONDS} seconds"
            )));
        }
        for (scope, end) in &options.silenced {
            if scope.is_empty() || scope.len() > 1_000 || end.is_some_and(|end| end < 0) {
                return Err(invalid(
                    "options.silenced maps a scope ('*' or 'field:value') to an end in epoch seconds, or null",
                ));
            }
        }
        Ok(Compiled {
            definition: Definition {
                query,
                thresholds,
                no_data,
                renotify_interval,
                evaluation_delay: Duration::from_secs(delay),
            },
        })
    }
}

/// Datadog's default `no_data_timeframe`: twice the window (at least 2
/// minutes).
fn default_no_data(query: &MonitorQuery) -> Duration {
    match &query.kind {
        Kind::Threshold { window, .. } => (*window * 2).max(Duration::from_secs(120)),
        Kind::NewValue { .. } => Duration::from_secs(120),
    }
}

//! Monitors: alerts on the audit trail within seconds of the events that
//! cause them. Definitions in Datadog's monitor API shape
//! ([`definition`]), kept in `monitors/` ([`store`]); the runner follows
//! the log and evaluates every monitor on each acknowledged event, with a
//! tick a second for windows that close and for no data ([`runner`]);
//! triggers become audit events and notifications in a durable outbox
//! ([`outbox`], [`events`]), delivered to webhooks, Slack and PagerDuty
//! by the dispatcher ([`dispatch`], [`channels`]) with timeouts and
//! bounded retries, apart from evaluation so that a slow channel never
//! delays it. Every change to a monitor or a channel is recorded before
//! it is kept.

mod channel_ops;
pub mod channels;
pub mod definition;
pub mod dispatch;
pub mod events;
pub mod inbox;
pub mod outbox;
pub mod runner;
pub mod store;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use evident_model::Timestamp;
use evident_monitor::Level;
use serde_json::{Value, json};

pub use self::channel_ops::ChannelBody;
use self::channels::Channels;
use self::definition::{Creator, Monitor, MonitorBody};
use self::inbox::Inbox;
use self::outbox::{Delivery, Outbox};
use self::runner::{Running, Runtime};
use self::store::{Definitions, MonitorFiles, Saved};
use crate::Evident;
use crate::activity::change_event;
use crate::actor::Actor;
use crate::error::AppError;

/// The most monitors a server keeps.
pub const MAX_MONITORS: usize = 10_000;

/// Monitors' part of the service.
#[derive(Debug)]
pub struct Monitors {
    pub(crate) files: MonitorFiles,
    definitions: Mutex<Definitions>,
    pub(crate) runtime: Mutex<Runtime>,
    pub(crate) outbox: Mutex<Outbox>,
    /// What the intake prepares for evaluation.
    pub(crate) inbox: Inbox,
    pub(crate) channels: Channels,
    /// Deliveries found pending at start, taken by the dispatcher.
    pending: Mutex<Vec<Delivery>>,
    /// Where the runner hands new deliveries to the dispatcher.
    pub(crate) dispatcher: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Delivery>>>,
    /// Each monitor's last delivery, as its page shows it.
    last_delivery: Mutex<std::collections::HashMap<i64, Value>>,
    /// Counts for `/metrics`.
    pub(crate) counts: Counts,
}

/// What monitors did since the server started, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    pub triggers: std::sync::atomic::AtomicU64,
    pub delivered: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
    /// Events judged from the intake's observations.
    pub prepared: std::sync::atomic::AtomicU64,
    /// Events read back from the log to be judged.
    pub read_back: std::sync::atomic::AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn internal(error: impl std::fmt::Display) -> AppError {
    AppError::internal(error.to_string())
}

impl Monitors {
    /// Opens what `data_dir` holds; a monitor without saved state (made
    /// just before a crash) loads its history again. Blocks.
    pub fn open(data_dir: &Path, store: &evident_store::Store) -> Result<Monitors, AppError> {
        let files = MonitorFiles::open(data_dir).map_err(internal)?;
        let definitions = files.read_definitions().map_err(internal)?;
        let saved = files.read_state().map_err(internal)?;
        let end = evident_query::log_end(store);
        let mut runtime = Runtime::new(if saved.monitors.is_empty() {
            end
        } else {
            saved.position.min(end)
        });
        let mut saved_monitors = saved.monitors;
        for monitor in definitions.monitors.values() {
            let compiled = match monitor.compile() {
                Ok(compiled) => compiled,
                Err(error) => {
                    tracing::error!(monitor = monitor.id, %error, "a stored monitor does not compile: not evaluated");
                    continue;
                }
            };
            let saved = match saved_monitors.remove(&monitor.id) {
                Some(mut saved) => {
                    runner::restore(
                        store,
                        &files,
                        monitor.id,
                        &compiled,
                        &mut saved.state,
                        runtime.position,
                    )?;
                    saved
                }
                None => Saved {
                    from: end,
                    state: runner::preload(store, &compiled, end)?,
                },
            };
            runtime.running.insert(
                monitor.id,
                Running {
                    monitor: monitor.clone(),
                    compiled,
                    saved,
                },
            );
        }
        let (outbox, pending) = Outbox::open(files.dir()).map_err(internal)?;
        if !pending.is_empty() {
            tracing::info!(
                deliveries = pending.len(),
                "monitor notifications left undelivered are sent again"
            );
        }
        let channels = Channels::open(files.dir()).map_err(internal)?;
        Ok(Monitors {
            files,
            definitions: Mutex::new(definitions),
            runtime: Mutex::new(runtime),
            outbox: Mutex::new(outbox),
            inbox: Inbox::default(),
            channels,
            pending: Mutex::new(pending),
            dispatcher: Mutex::new(None),
            last_delivery: Mutex::new(std::collections::HashMap::new()),
            counts: Counts::default(),
        })
    }

    /// The monitors' gauges and counters, read at each render of `/metrics`.
    pub(crate) fn samples(
        &self,
        store: &evident_store::Store,
        samples: &mut Vec<crate::metrics::Sample>,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let (monitors, groups, lag) = {
            let runtime = lock(&self.runtime);
            let groups: usize = runtime
                .running
                .values()
                .map(|running| running.saved.state.groups.len())
                .sum();
            let values: usize = runtime
                .running
                .values()
                .map(|running| running.saved.state.values_seen())
                .sum();
            let lag = evident_query::log_end(store).saturating_sub(runtime.position);
            (runtime.running.len(), (groups, values), lag)
        };
        let (groups, values) = groups;
        let sample = |name, kind, help, value| crate::metrics::Sample {
            name,
            kind,
            help,
            value,
        };
        samples.extend([
            sample(
                "evident_monitors",
                "gauge",
                "Monitors evaluated.",
                monitors as u64,
            ),
            sample(
                "evident_monitor_groups",
                "gauge",
                "Groups the monitors hold.",
                groups as u64,
            ),
            sample(
                "evident_monitor_values",
                "gauge",
                "Values the new-value monitors remember (at most 1,000,000 each).",
                values as u64,
            ),
            sample(
                "evident_monitor_events_prepared_total",
                "counter",
                "Events judged from what the intake prepared as it parsed them, since the server started.",
                self.counts.prepared.load(Relaxed),
            ),
            sample(
                "evident_monitor_events_read_back_total",
                "counter",
                "Events the monitors read back from the log to judge them, since the server started.",
                self.counts.read_back.load(Relaxed),
            ),
            sample(
                "evident_monitor_lag_events",
                "gauge",
                "Acknowledged events the monitors have not evaluated yet.",
                lag,
            ),
            sample(
                "evident_monitor_triggers_total",
                "counter",
                "State changes, reminders and new values that notified, since the server started.",
                self.counts.triggers.load(Relaxed),
            ),
            sample(
                "evident_monitor_notifications_delivered_total",
                "counter",
                "Notifications delivered to a handle, since the server started.",
                self.counts.delivered.load(Relaxed),
            ),
            sample(
                "evident_monitor_notifications_failed_total",
                "counter",
                "Notifications whose every attempt failed, since the server started.",
                self.counts.failed.load(Relaxed),
            ),
        ]);
    }

    /// Notes how a delivery of `monitor`'s ended.
    pub(crate) fn note_delivery(
        &self,
        monitor: i64,
        handle: &str,
        error: &Option<String>,
        status_code: Option<u16>,
    ) {
        let count = if error.is_none() {
            &self.counts.delivered
        } else {
            &self.counts.failed
        };
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&self.last_delivery).insert(
            monitor,
            json!({
                "handle": handle,
                "ok": error.is_none(),
                "status_code": status_code,
                "error": error,
                "at": Timestamp::now().to_string(),
            }),
        );
    }

    pub(crate) fn take_pending(&self) -> Vec<Delivery> {
        std::mem::take(&mut *lock(&self.pending))
    }

    fn find(&self, id: i64) -> Result<Monitor, AppError> {
        lock(&self.definitions)
            .monitors
            .get(&id)
            .cloned()
            .ok_or_else(|| AppError::not_found(format!("no monitor {id}")))
    }
}

/// A monitor as the API answers it, with its state.
fn render(monitor: &Monitor, running: Option<&Running>, last_delivery: Option<&Value>) -> Value {
    let mut value = serde_json::to_value(monitor).unwrap_or(Value::Null);
    let state = running.map(|running| &running.saved.state);
    let overall = state.map_or(Level::Ok, evident_monitor::MonitorState::overall);
    let mut groups = serde_json::Map::new();
    if let Some(state) = state {
        for (name, group) in &state.groups {
            let mut entry = json!({
                "name": name,
                "status": group.level.name(),
                "last_triggered_ts": (group.level != Level::Ok).then_some(group.since / 1_000_000_000),
                "last_notified_ts": group.last_notified.map(|at| at / 1_000_000_000),
            });
            if let Some(value) = group.value {
                entry["value"] = json!(value);
            }
            groups.insert(name.clone(), entry);
        }
    }
    let now = Timestamp::now().as_nanos();
    let muted = runner::muted(monitor, "*", now);
    if let Value::Object(map) = &mut value {
        map.insert("overall_state".into(), json!(overall.name()));
        map.insert("state".into(), json!({"groups": groups}));
        map.insert(
            "multi".into(),
            json!(
                monitor.compile().is_ok_and(|compiled| !compiled
                    .definition
                    .query
                    .group_by
                    .is_empty())
            ),
        );
        map.insert("deleted".into(), Value::Null);
        map.insert("restricted_roles".into(), Value::Null);
        map.insert("matching_downtimes".into(), json!([]));
        map.insert("muted".into(), json!(muted));
        if let Some(delivery) = last_delivery {
            map.insert("last_notification".into(), delivery.clone());
        }
    }
    value
}

/// Monitors as operations: each change is recorded (`@evt.name:monitor`,
/// with the previous and new definition) before it is kept.
impl Evident {
    fn monitors(&self) -> &Monitors {
        &self.monitors
    }

    /// One evaluation step (the runner's loop calls it): new events
    /// through the monitors, triggers recorded and queued, deliveries
    /// handed to the dispatcher. Blocks.
    pub fn evaluate_monitors(&self) {
        let monitors = self.monitors();
        let record = |events: Vec<evident_model::StoredEvent>| {
            let events = events
                .into_iter()
                .map(|event| self.located(event))
                .collect();
            self.store
                .commit(events)
                .wait()
                .map(|_| ())
                .map_err(|error| AppError::from_wal(&error, "a monitor's alert"))
        };
        // Steps until caught up, so a burst is not spread over many ticks.
        for _ in 0..100 {
            let step = {
                let mut runtime = lock(&monitors.runtime);
                runner::step(
                    &self.store,
                    &monitors.files,
                    &mut runtime,
                    &monitors.outbox,
                    &monitors.inbox,
                    &monitors.counts,
                    &record,
                )
            };
            match step {
                Ok(step) => {
                    if !step.deliveries.is_empty() {
                        let sender = lock(&monitors.dispatcher).clone();
                        for delivery in step.deliveries {
                            match &sender {
                                Some(sender) => {
                                    let _ = sender.send(delivery);
                                }
                                // No dispatcher (a stopped data directory): sent at the next start.
                                None => lock(&monitors.pending).push(delivery),
                            }
                        }
                    }
                    if step.events < runner::STEP_EVENTS {
                        return;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "monitor evaluation failed; retried at the next step");
                    return;
                }
            }
        }
    }

    /// A webhook's stored settings (for a change that gives only some).
    pub fn monitor_webhook(&self, name: &str) -> Option<channels::Webhook> {
        self.monitors().channels.webhook(name)
    }

    /// Sends the message of a monitor being written to its handles once,
    /// as if it alerted now (value: just past the threshold), and answers
    /// how each handle took it; each attempt is recorded (`test: true`).
    pub async fn test_monitor_notification(
        &self,
        actor: &Actor,
        body: MonitorBody,
    ) -> Result<Value, AppError> {
        let mut monitor = blank(actor, 0);
        body.apply(&mut monitor);
        if monitor.name.is_empty() {
            monitor.name = "Test notification".into();
        }
        let compiled = monitor.compile()?;
        self.check_handles(&monitor.message)?;
        let value = match &compiled.definition.query.kind {
            evident_monitor::Kind::Threshold {
                threshold,
                comparator,
                ..
            } => {
                if comparator.upward() {
                    threshold + 1.0
                } else {
                    (threshold - 1.0).max(0.0)
                }
            }
            evident_monitor::Kind::NewValue { .. } => 1.0,
        };
        let mut group_values = BTreeMap::new();
        for (name, _) in &compiled.definition.query.group_by {
            group_values.insert(name.trim_start_matches('@').to_owned(), "(test)".to_owned());
        }
        if matches!(
            compiled.definition.query.kind,
            evident_monitor::Kind::NewValue { .. }
        ) {
            group_values.insert("new_value".into(), "(test)".into());
        }
        let now = Timestamp::now().as_nanos();
        let trigger = evident_monitor::Trigger {
            group: evident_monitor::evaluator::WHOLE.into(),
            group_values,
            from: Level::Ok,
            to: Level::Alert,
            cause: evident_monitor::Cause::Transition,
            value: Some(value),
            number: 0,
            at: now,
        };
        let mut notification = runner::notification(&monitor, &compiled, &trigger, now);
        notification.key = format!("test:{}:{now}", actor.id);
        notification.title = format!("[Test] {}", notification.title);
        let client = dispatch::client();
        let mut results = Vec::new();
        for handle in notification.handles.clone() {
            let channel = self
                .monitors()
                .channels
                .resolve(&handle)
                .map_err(|reason| {
                    AppError::invalid(format!("unknown notification handle @{handle}: {reason}"))
                })?;
            let outcome = dispatch::send(&client, &channel, &notification).await;
            let event = events::notification_event(&events::Attempt {
                notification: &notification,
                handle: &handle,
                channel: channel.kind(),
                attempt: 1,
                status_code: outcome.status_code,
                error: outcome.error.as_deref(),
                final_attempt: true,
                test: true,
            });
            let mut event = event;
            actor.describe(&mut event.event.attributes);
            self.record(event).await?;
            results.push(json!({
                "handle": handle,
                "ok": outcome.error.is_none(),
                "status_code": outcome.status_code,
                "error": outcome.error,
            }));
        }
        Ok(json!({"message": notification.text, "title": notification.title, "results": results}))
    }

    /// Saves where evaluation stands (at a clean stop). Blocks.
    pub fn save_monitor_state(&self) {
        let mut runtime = lock(&self.monitors().runtime);
        if let Err(error) = runtime.save(&self.monitors().files) {
            tracing::error!(%error, "the monitors' state could not be saved");
        }
    }

    /// Starts delivering notifications (those left from before first).
    pub fn start_monitor_dispatch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let (sender, task) = dispatch::start(self);
        *lock(&self.monitors.dispatcher) = Some(sender);
        task
    }

    /// Every monitor, by id; `name` filters by a part of the name, `tags`
    /// (comma-separated) keeps the monitors carrying all of them.
    pub fn list_monitors(&self, name: Option<&str>, tags: Option<&str>) -> Vec<Value> {
        let definitions: Vec<Monitor> = lock(&self.monitors().definitions)
            .monitors
            .values()
            .cloned()
            .collect();
        let deliveries = lock(&self.monitors().last_delivery).clone();
        let runtime = lock(&self.monitors().runtime);
        let wanted: Vec<&str> = tags
            .map(|tags| {
                tags.split(',')
                    .map(str::trim)
                    .filter(|tag| !tag.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let name = name.map(str::to_lowercase);
        definitions
            .iter()
            .filter(|monitor| {
                name.as_ref()
                    .is_none_or(|name| monitor.name.to_lowercase().contains(name.as_str()))
                    && wanted
                        .iter()
                        .all(|tag| monitor.tags.iter().any(|have| have == tag))
            })
            .map(|monitor| {
                render(
                    monitor,
                    runtime.running.get(&monitor.id),
                    deliveries.get(&monitor.id),
                )
            })
            .collect()
    }

    pub fn get_monitor(&self, id: i64) -> Result<Value, AppError> {
        let monitor = self.monitors().find(id)?;
        let delivery = lock(&self.monitors().last_delivery).get(&id).cloned();
        let runtime = lock(&self.monitors().runtime);
        Ok(render(
            &monitor,
            runtime.running.get(&id),
            delivery.as_ref(),
        ))
    }

    /// Checks a monitor without saving it: `Ok` when it would be accepted.
    pub fn validate_monitor(&self, body: MonitorBody, actor: &Actor) -> Result<(), AppError> {
        let mut monitor = blank(actor, 0);
        body.apply(&mut monitor);
        monitor.compile()?;
        self.check_handles(&monitor.message)
    }

    /// Every `@handle` of a message names a channel evident knows.
    fn check_handles(&self, message: &str) -> Result<(), AppError> {
        for handle in evident_monitor::template::handles(message) {
            if let Err(reason) = self.monitors().channels.resolve(&handle) {
                return Err(AppError::invalid(format!(
                    "unknown notification handle @{handle}: {reason}"
                )));
            }
        }
        Ok(())
    }

    async fn monitor_changed(
        &self,
        actor: &Actor,
        action: &str,
        previous: Option<&Monitor>,
        next: Option<&Monitor>,
    ) -> Result<(), AppError> {
        let shown = next.or(previous);
        let mut asset = json!({
            "type": "monitor",
            "id": shown.map(|monitor| monitor.id.to_string()),
            "name": shown.map(|monitor| monitor.name.clone()),
        });
        if let Some(previous) = previous {
            asset["prev_value"] = json!(previous);
        }
        if let Some(next) = next {
            asset["new_value"] = json!(next);
        }
        self.record(change_event(actor, "monitor", action, asset))
            .await
    }

    /// Saves `monitor` (new or changed) and (re)starts its evaluation
    /// with its history loaded.
    async fn keep_monitor(&self, monitor: Monitor, fresh_state: bool) -> Result<(), AppError> {
        let evident_monitors = Arc::clone(&self.monitors);
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            let compiled = monitor.compile()?;
            let mut definitions = lock(&evident_monitors.definitions);
            let next_id = definitions.next_id.max(monitor.id + 1);
            // The runtime is held while the history loads, so that no
            // event is counted twice or missed between the two.
            let mut runtime = lock(&evident_monitors.runtime);
            let from = runtime.position.max(evident_query::log_end(&store));
            let previous = runtime.running.remove(&monitor.id);
            let saved = match previous {
                Some(mut previous) if !fresh_state => {
                    previous.saved.state.keep_quiet_groups = compiled.definition.no_data.is_some();
                    previous.saved
                }
                _ => {
                    // What the monitor learned under its old query is forgotten.
                    evident_monitors
                        .files
                        .remove_values(monitor.id)
                        .map_err(internal)?;
                    Saved {
                        from,
                        state: runner::preload(&store, &compiled, from)?,
                    }
                }
            };
            evident_monitors
                .files
                .write_monitor(&monitor, next_id)
                .map_err(internal)?;
            definitions.next_id = next_id;
            definitions.monitors.insert(monitor.id, monitor.clone());
            runtime.running.insert(
                monitor.id,
                Running {
                    monitor,
                    compiled,
                    saved,
                },
            );
            runtime.monitors_changed();
            Ok(())
        })
        .await
        .map_err(|error| AppError::task("monitors", error))?
    }

    /// A new monitor made by `actor`.
    pub async fn create_monitor(
        &self,
        actor: &Actor,
        body: MonitorBody,
    ) -> Result<Value, AppError> {
        for (field, given) in [
            ("name", body.name.is_some()),
            ("type", body.kind.is_some()),
            ("query", body.query.is_some()),
        ] {
            if !given {
                return Err(AppError::invalid(format!("a monitor needs a {field}")));
            }
        }
        let _serial = self.settings_changes.lock().await;
        let (id, count) = {
            let definitions = lock(&self.monitors().definitions);
            (definitions.next_id, definitions.monitors.len())
        };
        if count >= MAX_MONITORS {
            return Err(AppError::new(
                crate::ErrorKind::LimitExceeded,
                format!("at most {MAX_MONITORS} monitors"),
            ));
        }
        let mut monitor = blank(actor, id);
        body.apply(&mut monitor);
        monitor.compile()?;
        self.check_handles(&monitor.message)?;
        self.monitor_changed(actor, "created", None, Some(&monitor))
            .await?;
        self.keep_monitor(monitor.clone(), true).await?;
        tracing::info!(monitor = id, name = %monitor.name, "monitor created");
        self.get_monitor(id)
    }

    /// The monitor `id` with the fields of `body` changed by `actor`.
    pub async fn update_monitor(
        &self,
        actor: &Actor,
        id: i64,
        body: MonitorBody,
    ) -> Result<Value, AppError> {
        let _serial = self.settings_changes.lock().await;
        let previous = self.monitors().find(id)?;
        let mut monitor = previous.clone();
        let new_query = body.query.is_some();
        let new_thresholds = body
            .options
            .as_ref()
            .is_some_and(|options| options.thresholds.is_some());
        body.apply(&mut monitor);
        // A new query with its own threshold and no thresholds given: the
        // query's threshold is the critical one.
        if new_query
            && !new_thresholds
            && let Some(thresholds) = &mut monitor.options.thresholds
        {
            thresholds.critical = None;
        }
        monitor.modified = Timestamp::now().to_string();
        monitor.compile()?;
        monitor.fill_thresholds();
        self.check_handles(&monitor.message)?;
        self.monitor_changed(actor, "modified", Some(&previous), Some(&monitor))
            .await?;
        // A new query or new thresholds start from history; a new name,
        // message, tags or mute keep the groups' state.
        let fresh = previous.query != monitor.query
            || previous.options.thresholds != monitor.options.thresholds
            || previous.options.evaluation_delay != monitor.options.evaluation_delay
            || previous.options.notify_no_data != monitor.options.notify_no_data
            || previous.options.no_data_timeframe != monitor.options.no_data_timeframe;
        self.keep_monitor(monitor, fresh).await?;
        self.get_monitor(id)
    }

    /// Deletes the monitor `id` for `actor`.
    pub async fn delete_monitor(&self, actor: &Actor, id: i64) -> Result<Value, AppError> {
        let _serial = self.settings_changes.lock().await;
        let previous = self.monitors().find(id)?;
        self.monitor_changed(actor, "deleted", Some(&previous), None)
            .await?;
        let monitors = Arc::clone(&self.monitors);
        tokio::task::spawn_blocking(move || {
            let mut definitions = lock(&monitors.definitions);
            monitors.files.remove_monitor(id).map_err(internal)?;
            definitions.monitors.remove(&id);
            let mut runtime = lock(&monitors.runtime);
            runtime.running.remove(&id);
            runtime.monitors_changed();
            Ok::<_, AppError>(())
        })
        .await
        .map_err(|error| AppError::task("monitors", error))??;
        Ok(json!({"deleted_monitor_id": id}))
    }

    /// Mutes the monitor (scope `*`) or one group until `end` (epoch
    /// seconds; none: until unmuted).
    pub async fn mute_monitor(
        &self,
        actor: &Actor,
        id: i64,
        scope: Option<String>,
        end: Option<i64>,
    ) -> Result<Value, AppError> {
        let scope = scope.unwrap_or_else(|| "*".into());
        if end.is_some_and(|end| end <= Timestamp::now().as_nanos() / 1_000_000_000) {
            return Err(AppError::invalid(
                "a mute's end is in the future (epoch seconds)",
            ));
        }
        let mut silenced = self.monitors().find(id)?.options.silenced;
        silenced.insert(scope, end);
        self.set_silenced(actor, id, silenced, "muted").await
    }

    /// Ends a mute: of `scope` (default `*`), or of every scope.
    pub async fn unmute_monitor(
        &self,
        actor: &Actor,
        id: i64,
        scope: Option<String>,
        all_scopes: bool,
    ) -> Result<Value, AppError> {
        let mut silenced = self.monitors().find(id)?.options.silenced;
        if all_scopes {
            silenced.clear();
        } else {
            let scope = scope.unwrap_or_else(|| "*".into());
            if silenced.remove(&scope).is_none() {
                return Err(AppError::invalid(format!(
                    "the monitor is not muted on {scope:?}"
                )));
            }
        }
        self.set_silenced(actor, id, silenced, "unmuted").await
    }

    async fn set_silenced(
        &self,
        actor: &Actor,
        id: i64,
        silenced: BTreeMap<String, Option<i64>>,
        action: &str,
    ) -> Result<Value, AppError> {
        let _serial = self.settings_changes.lock().await;
        let previous = self.monitors().find(id)?;
        let mut monitor = previous.clone();
        monitor.options.silenced = silenced;
        monitor.modified = Timestamp::now().to_string();
        self.monitor_changed(actor, action, Some(&previous), Some(&monitor))
            .await?;
        self.keep_monitor(monitor, false).await?;
        self.get_monitor(id)
    }
}

/// A monitor with its defaults, made by `actor`.
fn blank(actor: &Actor, id: i64) -> Monitor {
    let now = Timestamp::now().to_string();
    Monitor {
        id,
        name: String::new(),
        kind: definition::AUDIT_ALERT.into(),
        query: String::new(),
        message: String::new(),
        tags: Vec::new(),
        options: definition::MonitorOptions {
            include_tags: true,
            ..definition::MonitorOptions::default()
        },
        priority: None,
        created: now.clone(),
        modified: now,
        creator: Creator {
            email: actor.email.clone(),
            handle: actor.email.clone().unwrap_or_else(|| actor.id.clone()),
            name: actor.name.clone(),
        },
    }
}

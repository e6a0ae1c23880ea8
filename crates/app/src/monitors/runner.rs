//! Evaluation: the runner follows the log from where it stands, gives each
//! acknowledged event to the monitors whose filter it matches, ticks them
//! every second, and turns their triggers into notifications: recorded as
//! audit events and appended to the outbox (both durable) before the
//! state that produced them is saved, so a crash replays a trigger rather
//! than loses it (and the outbox knows it by its key).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use evident_model::{Event, StoredEvent, Timestamp};
use evident_monitor::query::Kind;
use evident_monitor::watch::{EventSource, Scratch, Watch};
use evident_monitor::{Level, MonitorState, Trigger, template};
use evident_store::Store;
use evident_store::term_index::{event_term_hashes, term_hash};

use super::definition::{Compiled, Monitor};
use super::events::alert_event;
use super::inbox::{Inbox, Observations, Waiting};
use super::outbox::{Delivery, Notification, Outbox};
use super::store::{MonitorFiles, Saved, SavedRef, SavedStateRef};
use crate::error::AppError;

/// Events read from the log per step.
pub const STEP_EVENTS: usize = 10_000;
/// Without a trigger, state (the log position, windows' groups) is
/// saved this often: a restart evaluates again what came after.
const SAVE_EVERY: Duration = Duration::from_secs(10);
const TICK_EVERY: Duration = Duration::from_secs(1);

/// A monitor being evaluated.
#[derive(Debug)]
pub struct Running {
    pub monitor: Monitor,
    pub compiled: Compiled,
    pub saved: Saved,
}

/// Everything evaluation holds.
#[derive(Debug)]
pub struct Runtime {
    pub position: u64,
    pub running: BTreeMap<i64, Running>,
    /// The monitors filed for percolation; rebuilt after a change.
    watch: Option<Arc<Watch>>,
    /// Counts the changes: the generation of the next watch.
    generation: u64,
    /// Observations the intake prepared, by position.
    waiting: Waiting,
    scratch: Scratch,
    dirty: bool,
    last_saved: Instant,
    last_tick: Option<Instant>,
}

impl Runtime {
    pub fn new(position: u64) -> Runtime {
        Runtime {
            position,
            running: BTreeMap::new(),
            watch: None,
            generation: 0,
            waiting: Waiting::default(),
            scratch: Scratch::default(),
            dirty: false,
            last_saved: Instant::now(),
            last_tick: None,
        }
    }

    /// A monitor was added, changed or removed: file them again.
    pub fn monitors_changed(&mut self) {
        self.watch = None;
        self.generation += 1;
        self.waiting.clear();
        self.dirty = true;
    }

    /// The monitors filed for percolation, built (and published to the
    /// intake) after a change.
    fn watch(&mut self, inbox: &Inbox) -> Arc<Watch> {
        if let Some(watch) = &self.watch {
            return Arc::clone(watch);
        }
        let watch = Arc::new(Watch::new(
            self.generation,
            self.running
                .iter()
                .map(|(id, running)| (*id, running.compiled.definition.clone())),
            term_hash,
        ));
        inbox.publish((!watch.is_empty()).then(|| Arc::clone(&watch)));
        self.watch = Some(Arc::clone(&watch));
        watch
    }

    /// Writes where evaluation stands: the values new-value monitors
    /// learned first (appended, synced), then the state that counts on
    /// them. Blocks.
    pub fn save(&mut self, files: &MonitorFiles) -> Result<(), AppError> {
        for (id, running) in &mut self.running {
            let values = running.saved.state.take_unrecorded_values();
            if !values.is_empty() {
                files
                    .append_values(*id, &values)
                    .map_err(|error| AppError::internal(error.to_string()))?;
            }
        }
        let state = SavedStateRef {
            position: self.position,
            monitors: self
                .running
                .iter()
                .map(|(id, running)| {
                    (
                        *id,
                        SavedRef {
                            from: running.saved.from,
                            state: &running.saved.state,
                        },
                    )
                })
                .collect(),
        };
        files
            .write_state(&state)
            .map_err(|error| AppError::internal(error.to_string()))?;
        self.dirty = false;
        self.last_saved = Instant::now();
        Ok(())
    }
}

/// What one step did.
#[derive(Debug, Default)]
pub struct Step {
    pub events: usize,
    pub deliveries: Vec<Delivery>,
}

fn now_nanos() -> i64 {
    Timestamp::now().as_nanos()
}

/// Whether `group` of `monitor` is muted at `now` (ns).
pub fn muted(monitor: &Monitor, group: &str, now: i64) -> bool {
    let seconds = now / 1_000_000_000;
    monitor.options.silenced.iter().any(|(scope, end)| {
        let active = end.is_none_or(|end| end > seconds);
        let covers = scope == "*"
            || scope == group
            || group.split(',').any(|part| part == scope)
            || group.split('|').next().is_some_and(|head| head == scope);
        active && covers
    })
}

/// The notification of `trigger` of `monitor`.
pub fn notification(
    monitor: &Monitor,
    compiled: &Compiled,
    trigger: &Trigger,
    now: i64,
) -> Notification {
    let (threshold, warning) = match &compiled.definition.query.kind {
        Kind::Threshold { threshold, .. } => {
            (Some(*threshold), compiled.definition.thresholds.warning)
        }
        Kind::NewValue { .. } => (None, None),
    };
    let mut context = template::Context::default();
    let format = |value: f64| {
        if value.fract() == 0.0 && value.abs() < 1e15 {
            format!("{}", value as i64)
        } else {
            format!("{value}")
        }
    };
    if let Some(value) = trigger.value {
        context.variables.insert("value".into(), format(value));
    }
    if let Some(threshold) = threshold {
        context
            .variables
            .insert("threshold".into(), format(threshold));
    }
    if let Some(warning) = warning {
        context
            .variables
            .insert("warn_threshold".into(), format(warning));
    }
    context
        .variables
        .insert("monitor.name".into(), monitor.name.clone());
    context
        .variables
        .insert("monitor.id".into(), monitor.id.to_string());
    context
        .variables
        .insert("group".into(), trigger.group.clone());
    context.variables.insert(
        "last_triggered_at".into(),
        Timestamp::from_nanos(trigger.at).to_string(),
    );
    for (field, value) in &trigger.group_values {
        context.variables.insert(field.clone(), value.clone());
    }
    let renotify = trigger.cause == evident_monitor::Cause::Renotify;
    let recovery = trigger.to == Level::Ok;
    for (flag, on) in [
        ("is_alert", trigger.to == Level::Alert),
        ("is_warning", trigger.to == Level::Warn),
        ("is_no_data", trigger.to == Level::NoData),
        ("is_recovery", recovery),
        (
            "is_alert_recovery",
            recovery && trigger.from == Level::Alert,
        ),
        (
            "is_warning_recovery",
            recovery && trigger.from == Level::Warn,
        ),
        ("is_renotify", renotify),
    ] {
        context.flags.insert(flag, on);
    }
    // Checked when the monitor was saved; a failure here still notifies.
    let text =
        template::render(&monitor.message, &context).unwrap_or_else(|_| monitor.message.clone());
    let handles = template::handles(&text);
    let status = match trigger.to {
        Level::Ok => "Recovered",
        Level::Warn => "Warn",
        Level::Alert => "Triggered",
        Level::NoData => "No Data",
    };
    let on = if trigger.group == evident_monitor::evaluator::WHOLE {
        String::new()
    } else {
        format!(" on {}", trigger.group)
    };
    Notification {
        key: format!("{}:{}:{}", monitor.id, trigger.group, trigger.number),
        monitor_id: monitor.id,
        monitor_name: monitor.name.clone(),
        group: trigger.group.clone(),
        group_values: trigger.group_values.clone(),
        from: trigger.from,
        to: trigger.to,
        cause: trigger.cause.clone(),
        value: trigger.value,
        threshold,
        at: trigger.at,
        decided: now,
        title: format!("[{status}] {}{on}", monitor.name),
        text,
        handles,
        tags: monitor.tags.clone(),
        priority: monitor.priority,
        query: monitor.query.clone(),
    }
}

/// One step: the log's new events through every monitor, a tick when due,
/// triggers recorded and appended, state saved when it changed. Blocks.
pub fn step(
    store: &Store,
    files: &MonitorFiles,
    runtime: &mut Runtime,
    outbox: &std::sync::Mutex<Outbox>,
    inbox: &Inbox,
    counts: &super::Counts,
    record: &dyn Fn(Vec<StoredEvent>) -> Result<(), AppError>,
) -> Result<Step, AppError> {
    let mut step = Step::default();
    let now = now_nanos();
    if runtime.running.is_empty() {
        runtime.position = evident_query::log_end(store);
        inbox.publish(None);
        inbox.take();
        return Ok(step);
    }
    let all =
        evident_search::parse_filter("*").map_err(|error| AppError::internal(error.to_string()))?;
    let arrivals = evident_query::arrivals(store, &all, runtime.position, STEP_EVENTS)
        .map_err(|error| AppError::internal(format!("monitors could not read the log: {error}")))?;
    let watch = runtime.watch(inbox);
    runtime
        .waiting
        .receive(inbox.take(), watch.generation(), runtime.position);
    let mut triggers: Vec<(i64, Trigger)> = Vec::new();
    let mut terms = Vec::new();
    let mut read_back = 0u64;
    for arrival in &arrivals.events {
        let position = arrival.position;
        let observations = match runtime.waiting.take(position) {
            Some(observations) => observations,
            None => {
                read_back += 1;
                observe_arrival(&watch, arrival, &mut terms, &mut runtime.scratch)
            }
        };
        for (index, observation) in &observations {
            let Some(watched) = watch.monitor(*index as usize) else {
                continue;
            };
            let Some(running) = runtime.running.get_mut(&watched.id) else {
                continue;
            };
            if position < running.saved.from {
                continue;
            }
            let definition = &running.compiled.definition;
            for trigger in running.saved.state.apply(definition, observation, now) {
                triggers.push((watched.id, trigger));
            }
            runtime.dirty = true;
        }
    }
    runtime.waiting.forget_before(arrivals.next);
    let prepared = arrivals.events.len() as u64 - read_back;
    counts.prepared.fetch_add(prepared, Ordering::Relaxed);
    counts.read_back.fetch_add(read_back, Ordering::Relaxed);
    step.events = arrivals.events.len();
    let tick_due = runtime
        .last_tick
        .is_none_or(|last| last.elapsed() >= TICK_EVERY);
    if tick_due {
        runtime.last_tick = Some(Instant::now());
        for (id, running) in &mut runtime.running {
            for trigger in running.saved.state.tick(&running.compiled.definition, now) {
                triggers.push((*id, trigger));
            }
        }
        // Windows slide with the clock: what a tick changed is saved with
        // the next save.
        runtime.dirty = true;
    }
    if !triggers.is_empty() {
        let mut notifications = Vec::new();
        let mut events = Vec::new();
        let known = |key: &str| {
            outbox
                .lock()
                .map(|outbox| outbox.knows(key))
                .unwrap_or(false)
        };
        for (id, trigger) in &triggers {
            let Some(running) = runtime.running.get(id) else {
                continue;
            };
            let notification = notification(&running.monitor, &running.compiled, trigger, now);
            if known(&notification.key) {
                // Decided before a crash, already recorded and queued.
                continue;
            }
            let silenced = muted(&running.monitor, &trigger.group, now);
            events.push(alert_event(&notification, silenced));
            let mut queued = notification;
            if silenced {
                queued.handles.clear();
            }
            notifications.push(queued);
        }
        counts
            .triggers
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        // The record first: an alert may be recorded twice after a crash, never lost.
        if !events.is_empty() {
            record(events)?;
        }
        let fresh = outbox
            .lock()
            .map_err(|_| AppError::internal("the outbox lock is poisoned"))?
            .add(notifications)
            .map_err(|error| {
                AppError::internal(format!("writing the monitors' outbox: {error}"))
            })?;
        for notification in fresh {
            let notification = Arc::new(notification);
            for handle in &notification.handles {
                step.deliveries.push(Delivery {
                    notification: Arc::clone(&notification),
                    handle: handle.clone(),
                });
            }
        }
        runtime.dirty = true;
    }
    if arrivals.next != runtime.position {
        runtime.position = arrivals.next;
        runtime.dirty = true;
    }
    if runtime.dirty && (!triggers.is_empty() || runtime.last_saved.elapsed() >= SAVE_EVERY) {
        runtime.save(files)?;
    }
    Ok(step)
}

/// An event the intake prepared nothing for (written by someone else,
/// or prepared for another watch), as `watch` sees it: the tail's term
/// hashes pick the candidates, and it is parsed only if one needs it.
fn observe_arrival(
    watch: &Watch,
    arrival: &evident_query::Arrival,
    terms: &mut Vec<u64>,
    scratch: &mut Scratch,
) -> Observations {
    let position = arrival.position;
    if let Some(unsealed) = &arrival.unsealed {
        let mut source = Unparsed {
            payload: &arrival.payload,
            position,
            parsed: None,
        };
        return watch.observe(
            &unsealed.facts.terms,
            unsealed.facts.time,
            &mut source,
            scratch,
        );
    }
    match StoredEvent::from_bytes(&arrival.payload) {
        Ok(stored) => {
            event_term_hashes(&stored.event, terms);
            watch.observe(terms, stored.time_nanos(), &mut &stored.event, scratch)
        }
        Err(error) => {
            tracing::warn!(position, %error, "monitors skipped an event that does not parse");
            Vec::new()
        }
    }
}

/// A stored event parsed when first asked for.
struct Unparsed<'a> {
    payload: &'a [u8],
    position: u64,
    parsed: Option<Option<StoredEvent>>,
}

impl EventSource for Unparsed<'_> {
    fn event(&mut self) -> Option<&Event> {
        let (payload, position) = (self.payload, self.position);
        self.parsed
            .get_or_insert_with(|| match StoredEvent::from_bytes(payload) {
                Ok(stored) => Some(stored),
                Err(error) => {
                    tracing::warn!(position, %error, "monitors skipped an event that does not parse");
                    None
                }
            })
            .as_ref()
            .map(|stored| &stored.event)
    }
}

/// The stored events `definition`'s live window can see, at log
/// positions before `before`, oldest first: what `visit` is given. Blocks.
fn visit_history(
    store: &Store,
    definition: &evident_monitor::Definition,
    span: Duration,
    before: u64,
    visit: &mut dyn FnMut(&evident_model::Event),
) -> Result<usize, AppError> {
    let now = now_nanos();
    let span = i64::try_from(span.as_nanos()).unwrap_or(i64::MAX);
    let window = evident_query::Window {
        from: now.saturating_sub(span),
        to: now.saturating_add(1),
    };
    let mut after = None;
    let mut visited = 0usize;
    const PAGE: usize = 1000;
    const MAX_HISTORY: usize = 2_000_000;
    loop {
        let page = evident_query::search(
            store,
            &definition.query.filter,
            window,
            evident_query::Order::OldestFirst,
            after,
            PAGE,
        )
        .map_err(|error| AppError::internal(format!("loading a monitor's history: {error}")))?;
        for (key, raw) in &page.hits {
            after = Some(*key);
            if key.position >= before {
                continue;
            }
            let Ok(stored) = StoredEvent::from_bytes(raw) else {
                continue;
            };
            let mut event = stored.event;
            event.timestamp = Some(event.timestamp.unwrap_or(stored.discovery_timestamp));
            visit(&event);
            visited += 1;
        }
        if !page.more || visited >= MAX_HISTORY {
            if visited >= MAX_HISTORY {
                tracing::warn!(
                    visited,
                    "a monitor's history was loaded in part: too many events"
                );
            }
            return Ok(visited);
        }
    }
}

/// After a restart: a saved monitor's windows counted again from the
/// stored events before `before` (the position evaluation resumes at),
/// and its learned values read back. Blocks.
pub fn restore(
    store: &Store,
    files: &MonitorFiles,
    id: i64,
    compiled: &Compiled,
    state: &mut MonitorState,
    before: u64,
) -> Result<(), AppError> {
    let definition = &compiled.definition;
    state.keep_quiet_groups = definition.no_data.is_some();
    match &definition.query.kind {
        Kind::Threshold { window, .. } => {
            let now = now_nanos();
            // A minute more than the window: the tick's clock moved on meanwhile.
            let span = *window + definition.evaluation_delay + Duration::from_secs(60);
            visit_history(store, definition, span, before, &mut |event| {
                state.rebuild_window(definition, event, now)
            })?;
        }
        Kind::NewValue { .. } => {
            let values = files
                .read_values(id)
                .map_err(|error| AppError::internal(error.to_string()))?;
            state.restore_values(values);
        }
    }
    Ok(())
}

/// A new or changed monitor's starting state: its window (or, for new
/// values, its learning period) loaded from the stored events before
/// `from`, the log's end when it was made. Blocks.
pub fn preload(store: &Store, compiled: &Compiled, from: u64) -> Result<MonitorState, AppError> {
    let definition = &compiled.definition;
    let now = now_nanos();
    let span = match &definition.query.kind {
        Kind::Threshold { window, .. } => *window + definition.evaluation_delay,
        Kind::NewValue { learning, .. } => *learning,
    };
    let mut state = MonitorState::default();
    state.keep_quiet_groups = definition.no_data.is_some();
    visit_history(store, definition, span, from, &mut |event| {
        // History sets the baseline: it does not notify.
        let _ = state.observe(definition, event, now);
    })?;
    state.settle_history(definition, now);
    Ok(state)
}

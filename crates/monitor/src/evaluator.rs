//! One monitor's evaluation: events in (as they are acknowledged), a tick
//! every second (for windows that close and for no data), triggers out.
//!
//! Time is the events' own: an event counts in the buckets of its
//! timestamp, and the live window ends at `now - evaluation_delay`. An
//! event older than the live window (a backfill of last week's files)
//! is judged in the window that ends at its own time; such a judgement can
//! raise a group's level but never lower it, and holds it for one window
//! (at most 5 minutes) of wall-clock time after the last one, so that a
//! backfill raises one alert per group and one recovery after it, not one
//! per burst it contains. A new-value monitor judges each value by the
//! time of the event that brings it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use evident_model::Event;
use serde::{Deserialize, Serialize};

use crate::observation::{Observation, hash};
use crate::query::{Kind, MonitorQuery, Rollup};
use crate::state::{Level, Thresholds};
use crate::window::Window;

/// The longest a backfill's alert is held after its last breach.
pub const MAX_HOLD: Duration = Duration::from_secs(300);
/// The most groups one monitor keeps; events of further groups are
/// counted in no group (and the monitor says so).
pub const MAX_GROUPS: usize = 10_000;
/// The most values a new-value monitor remembers; past it the values
/// seen longest ago are forgotten first (and may alert again).
pub const MAX_VALUES: usize = 1_000_000;
/// Every this many ticks, every group is judged (and stale buckets
/// dropped); in between, only those whose level may move.
const FULL_PASS: u64 = 10;
/// How long a new-value monitor shows `Alert` after a new value.
pub const NEW_VALUE_ALERT: Duration = Duration::from_secs(300);
/// The group of a monitor without `.by`.
pub const WHOLE: &str = "*";
/// What a group takes for an event without the field.
pub const MISSING: &str = "N/A";

/// What a monitor is asked to watch, with its options.
#[derive(Debug, Clone)]
pub struct Definition {
    pub query: MonitorQuery,
    pub thresholds: Thresholds,
    /// `options.notify_no_data` with `no_data_timeframe`.
    pub no_data: Option<Duration>,
    pub renotify_interval: Option<Duration>,
    pub evaluation_delay: Duration,
}

const SECOND: i64 = 1_000_000_000;

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// Why a notification is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The group moved from one level to another.
    Transition,
    /// Still not OK after `renotify_interval`.
    Renotify,
    /// A value not seen in the learning period.
    NewValue { value: String },
}

/// A notification due: a group's transition, a reminder, a new value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// The group's key (`*` without `.by`; its values joined otherwise).
    pub group: String,
    /// The group's values by field name without `@` (`usr.email`).
    pub group_values: BTreeMap<String, String>,
    pub from: Level,
    pub to: Level,
    pub cause: Cause,
    /// The window's value when judged.
    pub value: Option<f64>,
    /// The group's count of triggers: with the monitor's id, it names the
    /// notification, so a re-evaluation after a crash is recognised.
    pub number: u64,
    /// The end of the window judged (ns since the epoch).
    pub at: i64,
}

/// A group's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    pub level: Level,
    /// Wall-clock ns when the level was entered.
    pub since: i64,
    /// Wall-clock ns when the group was first seen.
    #[serde(default)]
    pub created: i64,
    pub value: Option<f64>,
    /// Wall-clock ns of the last notification.
    pub last_notified: Option<i64>,
    pub triggers: u64,
    /// Wall-clock ns before which a backfill's breach holds the level.
    pub held_until: i64,
    /// The newest event time seen for the group.
    pub last_event: Option<i64>,
    pub values: BTreeMap<String, String>,
    /// An event came since the last tick.
    #[serde(skip)]
    pub touched: bool,
}

/// A value a new-value monitor has seen: when last, and when that was
/// last handed out to be recorded (so that, with `.forget`, a value seen
/// again and again is recorded again only now and then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    last: i64,
    recorded: i64,
}

/// A monitor's state: groups, their windows, the values learned.
///
/// Serialized, it keeps what cannot be derived again: the groups that
/// ever triggered or are not OK (their levels and trigger counts: a
/// trigger's key must never repeat), the learning period's end, and every
/// group of a monitor that reports no data (`keep_quiet_groups`). Windows
/// are rebuilt from the stored events ([`MonitorState::rebuild_window`]);
/// a new-value monitor's values are recorded apart, as they are learned
/// ([`MonitorState::take_unrecorded_values`], [`MonitorState::restore_values`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MonitorState {
    #[serde(default)]
    pub groups: BTreeMap<String, GroupState>,
    #[serde(skip)]
    windows: HashMap<String, Window>,
    #[serde(skip)]
    seen: HashMap<u64, Seen>,
    #[serde(skip)]
    unrecorded: Vec<(u64, i64)>,
    /// New-value monitors: values seen before this event time are learned
    /// silently.
    #[serde(default)]
    pub learning_until: Option<i64>,
    /// Events that fell in no group because the monitor had too many.
    #[serde(default)]
    pub dropped_groups: u64,
    /// Whether quiet groups are kept when saved (a monitor with no data).
    #[serde(default)]
    pub keep_quiet_groups: bool,
    /// Ticks so far, and the end of the live window the last one judged.
    #[serde(skip)]
    ticks: u64,
    #[serde(skip)]
    judged_through: i64,
}

impl Serialize for MonitorState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let groups: BTreeMap<&String, &GroupState> = self
            .groups
            .iter()
            .filter(|(_, group)| {
                self.keep_quiet_groups
                    || group.triggers > 0
                    || group.level != Level::Ok
                    || group.held_until > 0
            })
            .collect();
        let mut state = serializer.serialize_struct("MonitorState", 4)?;
        state.serialize_field("groups", &groups)?;
        state.serialize_field("learning_until", &self.learning_until)?;
        state.serialize_field("dropped_groups", &self.dropped_groups)?;
        state.serialize_field("keep_quiet_groups", &self.keep_quiet_groups)?;
        state.end()
    }
}

impl MonitorState {
    /// The worst level of any group, as the monitor's overall state.
    pub fn overall(&self) -> Level {
        self.groups
            .values()
            .map(|group| group.level)
            .max_by_key(|level| level.severity())
            .unwrap_or(Level::Ok)
    }

    /// Values remembered by a new-value monitor.
    pub fn values_seen(&self) -> usize {
        self.seen.len()
    }

    /// Buckets held across the groups' windows.
    pub fn buckets(&self) -> usize {
        self.windows.values().map(Window::buckets).sum()
    }
}

/// The groups of an observation: its own, or the whole group.
fn groups_in(observation: &Observation) -> impl Iterator<Item = (&str, &BTreeMap<String, String>)> {
    static NONE: BTreeMap<String, String> = BTreeMap::new();
    let whole = observation.groups.is_empty().then_some((WHOLE, &NONE));
    whole.into_iter().chain(
        observation
            .groups
            .iter()
            .map(|(key, values)| (key.as_str(), values)),
    )
}

impl MonitorState {
    /// Takes one acknowledged event (which the caller has matched against
    /// the monitor's filter), at wall-clock `now`; the triggers it causes.
    pub fn observe(&mut self, definition: &Definition, event: &Event, now: i64) -> Vec<Trigger> {
        let Some(time) = event.timestamp.map(|time| time.as_nanos()) else {
            return Vec::new();
        };
        self.apply(definition, &Observation::of(definition, event, time), now)
    }

    /// [`MonitorState::observe`] of an event already taken apart.
    pub fn apply(
        &mut self,
        definition: &Definition,
        observation: &Observation,
        now: i64,
    ) -> Vec<Trigger> {
        let time = observation.time;
        match &definition.query.kind {
            Kind::NewValue {
                learning, forget, ..
            } => self.observe_value(observation, (*learning, *forget), now),
            Kind::Threshold {
                window, comparator, ..
            } => {
                let live_end = now - nanos(definition.evaluation_delay);
                // Older than the live window: judged in its own window.
                let historical = time < live_end - nanos(*window) && comparator.upward();
                let mut triggers = Vec::new();
                for (key, values) in groups_in(observation) {
                    if !self.count_in_group(key, values, observation, *window, (now, 0)) {
                        self.dropped_groups += 1;
                        continue;
                    }
                    if historical {
                        triggers.extend(self.judge(definition, key, time, now, true));
                    }
                }
                triggers
            }
        }
    }

    /// Counts `observation` in group `key`'s window, the group made when
    /// new (with `values`, at `now`, marked `created`) unless there are
    /// too many already: whether it was counted. Allocates only for a new
    /// group.
    fn count_in_group(
        &mut self,
        key: &str,
        values: &BTreeMap<String, String>,
        observation: &Observation,
        width: Duration,
        (now, created): (i64, i64),
    ) -> bool {
        let time = observation.time;
        if let Some(group) = self.groups.get_mut(key) {
            group.last_event = Some(group.last_event.map_or(time, |last| last.max(time)));
            group.touched = true;
        } else {
            if self.groups.len() >= MAX_GROUPS {
                return false;
            }
            let group = GroupState {
                since: now,
                created,
                values: values.clone(),
                last_event: Some(time),
                touched: true,
                ..GroupState::default()
            };
            self.groups.insert(key.to_owned(), group);
        }
        match self.windows.get_mut(key) {
            Some(window) => window.add(time, &observation.contribution),
            None => {
                let mut window = Window::new(width);
                window.add(time, &observation.contribution);
                self.windows.insert(key.to_owned(), window);
            }
        }
        true
    }

    fn observe_value(
        &mut self,
        observation: &Observation,
        (learning, forget): (Duration, Option<Duration>),
        now: i64,
    ) -> Vec<Trigger> {
        let time = observation.time;
        let learning_until = *self
            .learning_until
            .get_or_insert(time.saturating_add(nanos(learning)));
        let forget = forget.map(nanos);
        let mut triggers = Vec::new();
        for (key, group_values) in groups_in(observation) {
            for value in &observation.values {
                let hashed = hash(&[key, value]);
                let previous = self.seen.get(&hashed).copied();
                let known = previous.is_some_and(|seen| {
                    forget.is_none_or(|forget| time.saturating_sub(seen.last) <= forget)
                });
                match previous {
                    None => {
                        self.seen.insert(
                            hashed,
                            Seen {
                                last: time,
                                recorded: time,
                            },
                        );
                        self.unrecorded.push((hashed, time));
                    }
                    Some(seen) if time > seen.last => {
                        // Recorded again once a quarter of the forget period
                        // has passed, so a reload forgets no later than due.
                        let stale = forget.is_some_and(|forget| time - seen.recorded > forget / 4);
                        let recorded = if stale || !known { time } else { seen.recorded };
                        if recorded != seen.recorded {
                            self.unrecorded.push((hashed, time));
                        }
                        self.seen.insert(
                            hashed,
                            Seen {
                                last: time,
                                recorded,
                            },
                        );
                    }
                    // Seen later already (events out of order).
                    Some(_) => {}
                }
                if known || time <= learning_until {
                    continue;
                }
                let group_key = format!("{key}|{value}");
                let group = self.groups.entry(group_key.clone()).or_default();
                let from = group.level;
                group.level = Level::Alert;
                group.since = now;
                group.values = group_values.clone();
                group.last_event = Some(time);
                group.triggers += 1;
                group.last_notified = Some(now);
                group.held_until = now + nanos(NEW_VALUE_ALERT);
                let mut values = group_values.clone();
                values.insert("new_value".into(), value.clone());
                triggers.push(Trigger {
                    group: group_key,
                    group_values: values,
                    from,
                    to: Level::Alert,
                    cause: Cause::NewValue {
                        value: value.clone(),
                    },
                    value: None,
                    number: group.triggers,
                    at: time,
                });
            }
        }
        if self.seen.len() > MAX_VALUES {
            self.forget_oldest_values();
        }
        triggers
    }

    /// The values learned or seen again since the last call, to record:
    /// (value hash, event time).
    pub fn take_unrecorded_values(&mut self) -> Vec<(u64, i64)> {
        std::mem::take(&mut self.unrecorded)
    }

    /// Values recorded before (a later record of a value wins).
    pub fn restore_values(&mut self, values: impl IntoIterator<Item = (u64, i64)>) {
        for (hashed, time) in values {
            let seen = self.seen.entry(hashed).or_insert(Seen {
                last: time,
                recorded: time,
            });
            if time >= seen.last {
                *seen = Seen {
                    last: time,
                    recorded: time,
                };
            }
        }
        if self.seen.len() > MAX_VALUES {
            self.forget_oldest_values();
        }
    }

    /// Counts a stored event in its group's window again, judging nothing:
    /// how windows come back after a restart.
    pub fn rebuild_window(&mut self, definition: &Definition, event: &Event, now: i64) {
        let Kind::Threshold { window, .. } = &definition.query.kind else {
            return;
        };
        let Some(time) = event.timestamp.map(|time| time.as_nanos()) else {
            return;
        };
        let observation = Observation::of(definition, event, time);
        for (key, values) in groups_in(&observation) {
            self.count_in_group(key, values, &observation, *window, (now, now));
        }
    }

    /// Forgets the tenth of the values seen longest ago.
    fn forget_oldest_values(&mut self) {
        let mut times: Vec<i64> = self.seen.values().map(|seen| seen.last).collect();
        let cut = times.len() / 10;
        times.select_nth_unstable(cut);
        let before = times[cut];
        self.seen.retain(|_, seen| seen.last > before);
    }

    /// After history was loaded into a new monitor: its groups start OK
    /// and unheld, so that the first pass judges the live window and
    /// notifies what is wrong now, and a spike of last week neither
    /// alerts nor recovers; a new-value monitor has learned what history
    /// holds.
    pub fn settle_history(&mut self, definition: &Definition, now: i64) {
        if matches!(definition.query.kind, Kind::NewValue { .. }) {
            // History learned is the baseline: a value new from now on
            // alerts. With no history, the learning period starts at the
            // first event.
            if !self.seen.is_empty() {
                self.learning_until = Some(now);
            }
            self.groups.clear();
            return;
        }
        for group in self.groups.values_mut() {
            *group = GroupState {
                since: now,
                created: now,
                last_event: group.last_event,
                values: std::mem::take(&mut group.values),
                ..GroupState::default()
            };
        }
    }

    /// The periodic pass at wall-clock `now`: every group judged in the
    /// live window, no data, renotification, new values expiring.
    pub fn tick(&mut self, definition: &Definition, now: i64) -> Vec<Trigger> {
        let live_end = now - nanos(definition.evaluation_delay);
        let mut triggers = Vec::new();
        match &definition.query.kind {
            Kind::NewValue { .. } => {
                // A new value's alert ends quietly: there is nothing to recover.
                self.groups.retain(|_, group| group.held_until > now);
            }
            Kind::Threshold {
                window,
                rollup,
                comparator,
                ..
            } => {
                // A monitor without groups is judged with no events at all.
                if definition.query.group_by.is_empty() && !self.groups.contains_key(WHOLE) {
                    self.groups.insert(
                        WHOLE.to_owned(),
                        GroupState {
                            since: now,
                            ..GroupState::default()
                        },
                    );
                }
                self.ticks += 1;
                // A count or a cardinality only falls as time passes: above
                // its threshold, a quiet OK group stays OK. Every group is
                // judged every FULL_PASS ticks all the same (so its shown
                // value follows), and always when the value may rise alone.
                let falls_alone = comparator.upward()
                    && matches!(rollup, Rollup::Count | Rollup::Cardinality(..))
                    && definition.no_data.is_none();
                let full_pass = !falls_alone || self.ticks % FULL_PASS == 1;
                let judged_through = self.judged_through;
                let keys: Vec<String> = self
                    .groups
                    .iter_mut()
                    .filter_map(|(key, group)| {
                        // An event stamped past the last live end enters the
                        // window as time passes, touched or not.
                        let entering = group.last_event.is_some_and(|last| last > judged_through);
                        let due =
                            full_pass || group.touched || entering || group.level != Level::Ok;
                        group.touched = false;
                        due.then(|| key.clone())
                    })
                    .collect();
                for key in keys {
                    triggers.extend(self.judge(definition, &key, live_end, now, false));
                }
                self.judged_through = live_end;
                if full_pass {
                    // Buckets no live window will see again, and groups
                    // with nothing left to say.
                    let forget = live_end - nanos(*window);
                    for window in self.windows.values_mut() {
                        window.forget_before(forget);
                    }
                    self.windows.retain(|_, window| !window.is_empty());
                    let grouped = !definition.query.group_by.is_empty();
                    let windows = &self.windows;
                    self.groups.retain(|key, group| {
                        !grouped
                            || group.level != Level::Ok
                            || windows.contains_key(key)
                            || group.held_until > now
                    });
                }
            }
        }
        if let Some(interval) = definition.renotify_interval {
            for (key, group) in &mut self.groups {
                if group.level == Level::Ok {
                    continue;
                }
                let due = group
                    .last_notified
                    .is_some_and(|last| now - last >= nanos(interval));
                if due {
                    group.triggers += 1;
                    group.last_notified = Some(now);
                    triggers.push(Trigger {
                        group: key.clone(),
                        group_values: group.values.clone(),
                        from: group.level,
                        to: group.level,
                        cause: Cause::Renotify,
                        value: group.value,
                        number: group.triggers,
                        at: live_end,
                    });
                }
            }
        }
        triggers
    }

    /// Judges `key`'s window ending at `end`; a transition if its level
    /// changes.
    fn judge(
        &mut self,
        definition: &Definition,
        key: &str,
        end: i64,
        now: i64,
        historical: bool,
    ) -> Option<Trigger> {
        let Kind::Threshold {
            rollup,
            window,
            comparator,
            ..
        } = &definition.query.kind
        else {
            return None;
        };
        let value = self
            .windows
            .get(key)
            .map_or(Some(0.0), |window| window.value(rollup, end));
        let group = self.groups.get_mut(key)?;
        let mut level = match value {
            Some(value) => definition.thresholds.judge(*comparator, group.level, value),
            None => group.level,
        };
        if let Some(no_data) = definition.no_data {
            let silent = group
                .last_event
                .is_none_or(|last| end - last >= nanos(no_data));
            let old_enough = now - group.created >= nanos(no_data);
            if silent && old_enough && !historical {
                level = Level::NoData;
            }
        }
        if historical {
            if level.severity() <= group.level.severity() {
                return None;
            }
            group.held_until = now + nanos((*window).min(MAX_HOLD));
        } else if level.severity() < group.level.severity() && now < group.held_until {
            return None;
        }
        group.value = value;
        if level == group.level {
            return None;
        }
        let from = group.level;
        group.level = level;
        group.since = now;
        group.triggers += 1;
        group.last_notified = Some(now);
        Some(Trigger {
            group: key.to_owned(),
            group_values: group.values.clone(),
            from,
            to: level,
            cause: Cause::Transition,
            value,
            number: group.triggers,
            at: end.max(SECOND),
        })
    }
}

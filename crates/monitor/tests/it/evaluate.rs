use std::time::Duration;

use evident_model::{Event, Timestamp};
use evident_monitor::{Cause, Definition, Level, MonitorState, Thresholds, Trigger, parse};
use serde_json::json;

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
/// A fixed "now": 2026-12-01T00:00:00Z.
const NOW: i64 = 1_796_083_200 * SECOND;

fn event(time: i64, attributes: serde_json::Value) -> Event {
    Event {
        timestamp: Some(Timestamp::from_nanos(time)),
        attributes: attributes.as_object().cloned().unwrap_or_default(),
        ..Event::default()
    }
}

pub(crate) fn definition(query: &str, critical: f64) -> Definition {
    Definition {
        query: parse(query).expect(query),
        thresholds: Thresholds {
            critical,
            ..Thresholds::default()
        },
        no_data: None,
        renotify_interval: None,
        evaluation_delay: Duration::ZERO,
    }
}

/// Feeds `events` (which match the monitor) at their own time, ticking
/// each second of wall clock from the first to `until`.
fn run(
    definition: &Definition,
    state: &mut MonitorState,
    events: &[Event],
    until: i64,
) -> Vec<Trigger> {
    let mut triggers = Vec::new();
    let mut events = events.iter().peekable();
    let start = events
        .peek()
        .and_then(|event| event.timestamp)
        .map_or(NOW, Timestamp::as_nanos);
    let mut now = start;
    while now <= until {
        while let Some(event) =
            events.next_if(|event| event.timestamp.is_some_and(|time| time.as_nanos() <= now))
        {
            triggers.extend(state.observe(definition, event, now));
        }
        triggers.extend(state.tick(definition, now));
        now += SECOND;
    }
    triggers
}

#[test]
fn a_threshold_alerts_when_crossed_and_recovers_when_the_window_passes() {
    let monitor = definition(
        r#"audits("@aegis.decision:BLOCKED").rollup("count").last("5m") > 10"#,
        10.0,
    );
    let mut state = MonitorState::default();
    let blocked: Vec<Event> = (0..11)
        .map(|index| {
            event(
                NOW + index * SECOND,
                json!({"aegis": {"decision": "BLOCKED"}}),
            )
        })
        .collect();
    let triggers = run(&monitor, &mut state, &blocked, NOW + 10 * MINUTE);
    let moves: Vec<(Level, Level, i64)> = triggers
        .iter()
        .map(|trigger| (trigger.from, trigger.to, (trigger.at - NOW) / SECOND))
        .collect();
    // The 11th event (at +10 s) crosses 10; the window lets go of them 5 minutes later.
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert_eq!((moves[0].0, moves[0].1), (Level::Ok, Level::Alert));
    assert_eq!(moves[0].2, 10);
    assert_eq!((moves[1].0, moves[1].1), (Level::Alert, Level::Ok));
    assert!((300..=306).contains(&moves[1].2), "{moves:?}");
    assert_eq!(triggers[0].value, Some(11.0));
    assert_eq!(triggers[0].number, 1);
    assert_eq!(triggers[1].number, 2);
}

#[test]
fn events_behind_the_evaluation_delay_alert_once_the_live_window_reaches_them() {
    // Ticks judge only the groups whose level may move: a group touched
    // long before its events enter the live window must still be judged
    // when they do, with no event since.
    let mut monitor = definition(
        r#"audits("*").rollup("count").by("@usr.email").last("5m") > 2"#,
        2.0,
    );
    monitor.evaluation_delay = Duration::from_secs(95);
    let mut state = MonitorState::default();
    let events: Vec<Event> = (0..3)
        .map(|index| {
            event(
                NOW + index * SECOND,
                json!({"usr": {"email": "bob@example.com"}}),
            )
        })
        .collect();
    let triggers = run(&monitor, &mut state, &events, NOW + 3 * MINUTE);
    let alerts: Vec<i64> = triggers
        .iter()
        .filter(|trigger| trigger.to == Level::Alert)
        .map(|trigger| (trigger.at - NOW) / SECOND)
        .collect();
    // Their 5-second bucket is in the live window from +95 s of wall clock
    // (the live end then being +0 s), not from the next full pass (+100 s).
    assert_eq!(alerts, vec![0], "{triggers:?}");
}

#[test]
fn a_quiet_group_is_judged_again_when_the_window_lets_go() {
    // Untouched OK groups are skipped between full passes; an alerting one
    // is judged every tick, so it recovers as soon as its window empties.
    let monitor = definition(
        r#"audits("*").rollup("count").by("@usr.email").last("1m") > 1"#,
        1.0,
    );
    let mut state = MonitorState::default();
    let events: Vec<Event> = (0..2)
        .map(|index| {
            event(
                NOW + index * SECOND,
                json!({"usr": {"email": "ann@example.com"}}),
            )
        })
        .collect();
    let triggers = run(&monitor, &mut state, &events, NOW + 3 * MINUTE);
    let moves: Vec<(Level, i64)> = triggers
        .iter()
        .map(|trigger| (trigger.to, (trigger.at - NOW) / SECOND))
        .collect();
    assert_eq!(moves, vec![(Level::Alert, 1), (Level::Ok, 60)]);
}

#[test]
fn grouped_monitors_alert_per_group() {
    let monitor = definition(
        r#"audits("*").rollup("count").by("@usr.email").last("5m") > 2"#,
        2.0,
    );
    let mut state = MonitorState::default();
    let mut events = Vec::new();
    for index in 0..3 {
        events.push(event(
            NOW + index * SECOND,
            json!({"usr": {"email": "bob@example.com"}}),
        ));
        events.push(event(
            NOW + index * SECOND,
            json!({"usr": {"email": "ann@example.com"}}),
        ));
    }
    events.push(event(
        NOW + 5 * SECOND,
        json!({"usr": {"email": "cid@example.com"}}),
    ));
    let triggers = run(&monitor, &mut state, &events, NOW + 20 * SECOND);
    let alerted: Vec<&str> = triggers
        .iter()
        .map(|trigger| trigger.group_values["usr.email"].as_str())
        .collect();
    assert_eq!(alerted, vec!["ann@example.com", "bob@example.com"]);
    assert_eq!(triggers[0].group, "usr.email:ann@example.com");
    assert_eq!(state.overall(), Level::Alert);
}

#[test]
fn no_data_alerts_with_no_event_at_all_and_recovers_when_events_come() {
    let monitor = definition(
        r#"audits("@event.dataset:aegis.preflight").rollup("count").last("30m") < 1"#,
        1.0,
    );
    let mut state = MonitorState::default();
    // Nothing arrives: the first pass already finds fewer than 1 in the window.
    let triggers = run(&monitor, &mut state, &[], NOW);
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].to, Level::Alert);
    assert_eq!(triggers[0].value, Some(0.0));
    let one = [event(
        NOW + MINUTE,
        json!({"event": {"dataset": "aegis.preflight"}}),
    )];
    let triggers = run(&monitor, &mut state, &one, NOW + MINUTE);
    assert_eq!(
        (triggers[0].from, triggers[0].to),
        (Level::Alert, Level::Ok)
    );
    // 30 minutes later it is gone from the window again.
    let triggers = run(&monitor, &mut state, &[], NOW + 32 * MINUTE);
    assert_eq!(
        triggers.last().map(|trigger| trigger.to),
        Some(Level::Alert)
    );
}

#[test]
fn notify_no_data_reports_a_silent_group_as_no_data() {
    let mut monitor = definition(r#"audits("*").rollup("count").last("5m") > 100"#, 100.0);
    monitor.no_data = Some(Duration::from_secs(120));
    let mut state = MonitorState::default();
    let triggers = run(
        &monitor,
        &mut state,
        &[event(NOW, json!({}))],
        NOW + 3 * MINUTE,
    );
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    assert_eq!(triggers[0].to, Level::NoData);
}

#[test]
fn renotify_repeats_while_alerting() {
    let mut monitor = definition(r#"audits("*").rollup("count").last("1h") > 0"#, 0.0);
    monitor.renotify_interval = Some(Duration::from_secs(600));
    let mut state = MonitorState::default();
    let triggers = run(
        &monitor,
        &mut state,
        &[event(NOW, json!({}))],
        NOW + 25 * MINUTE,
    );
    let causes: Vec<&Cause> = triggers.iter().map(|trigger| &trigger.cause).collect();
    assert_eq!(
        causes,
        vec![&Cause::Transition, &Cause::Renotify, &Cause::Renotify]
    );
}

#[test]
fn a_backfill_alerts_once_per_group_and_recovers_once() {
    let monitor = definition(
        r#"audits("*").rollup("count").by("@usr.email").last("5m") > 3"#,
        3.0,
    );
    let mut state = MonitorState::default();
    // A week ago, bursts of 5 events every 10 minutes for 10 hours, imported now in a few seconds.
    let week_ago = NOW - 7 * 24 * 60 * MINUTE;
    let mut triggers = Vec::new();
    for burst in 0..60 {
        for index in 0..5 {
            let old = event(
                week_ago + burst * 10 * MINUTE + index * SECOND,
                json!({"usr": {"email": "bob@example.com"}}),
            );
            triggers.extend(state.observe(&monitor, &old, NOW + burst * SECOND / 10));
        }
        triggers.extend(state.tick(&monitor, NOW + burst * SECOND / 10));
    }
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    assert_eq!(triggers[0].to, Level::Alert);
    assert!(
        triggers[0].at < NOW - 6 * 24 * 60 * MINUTE,
        "judged at the events' own time"
    );
    // After the hold (one window), the live window recovers it, once.
    let later = run(&monitor, &mut state, &[], NOW + 6 * MINUTE);
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(later[0].to, Level::Ok);
}

#[test]
fn new_values_alert_once_each_after_the_learning_period() {
    let monitor = definition(
        r#"audits("@aegis.actor_id:* @event.dataset:aegis.preflight").new_value("@aegis.actor_id").learning("1h").forget("1h")"#,
        0.0,
    );
    let mut state = MonitorState::default();
    let actor = |time: i64, id: &str| {
        event(
            time,
            json!({"aegis": {"actor_id": id}, "event": {"dataset": "aegis.preflight"}}),
        )
    };
    let mut triggers = Vec::new();
    for (time, id) in [
        (0, "a"),
        (10, "b"),
        (50, "a"),
        (59, "c"),
        (62, "d"),
        (63, "d"),
        (64, "b"),
        (70, "e"),
        (300, "a"),
    ] {
        triggers.extend(state.observe(
            &monitor,
            &actor(NOW + time * MINUTE, id),
            NOW + time * MINUTE,
        ));
    }
    let values: Vec<String> = triggers
        .iter()
        .map(|trigger| match &trigger.cause {
            Cause::NewValue { value } => value.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    // Learned in the first hour: a, b, c. New after it: d, e; and a again,
    // unseen for more than the forget period (50 → 300 min).
    assert_eq!(values, vec!["d", "e", "a"]);
}

#[test]
fn without_forget_a_value_seen_once_is_never_new_again() {
    let monitor = definition(r#"audits("*").new_value("@usr.id").learning("1m")"#, 0.0);
    let mut state = MonitorState::default();
    let mut fired = Vec::new();
    for (minute, id) in [
        (0, "a"),
        (5, "b"),
        (60 * 24 * 365, "a"),
        (60 * 24 * 365, "b"),
    ] {
        let at = NOW + minute * MINUTE;
        fired.extend(state.observe(&monitor, &event(at, json!({"usr": {"id": id}})), at));
    }
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].cause, Cause::NewValue { value: "b".into() });
}

#[test]
fn state_survives_a_restart_with_windows_rebuilt_and_values_restored()
-> Result<(), Box<dyn std::error::Error>> {
    let monitor = definition(
        r#"audits("*").rollup("count").by("@usr.email").last("5m") > 2"#,
        2.0,
    );
    let mut state = MonitorState::default();
    let bob = |second: i64| {
        event(
            NOW + second * SECOND,
            json!({"usr": {"email": "bob@example.com"}}),
        )
    };
    let events: Vec<Event> = (0..2).map(bob).collect();
    assert!(run(&monitor, &mut state, &events, NOW + 2 * SECOND).is_empty());
    // Quiet groups are not saved: they come back with their windows.
    let saved = serde_json::to_string(&state)?;
    assert!(!saved.contains("bob@example.com"), "{saved}");
    let mut restored: MonitorState = serde_json::from_str(&saved)?;
    for event in &events {
        restored.rebuild_window(&monitor, event, NOW + 2 * SECOND);
    }
    // The third event crosses the threshold in the restored state as in the first.
    let before = state.observe(&monitor, &bob(3), NOW + 3 * SECOND);
    let after = restored.observe(&monitor, &bob(3), NOW + 3 * SECOND);
    let before_ticks = state.tick(&monitor, NOW + 3 * SECOND);
    let after_ticks = restored.tick(&monitor, NOW + 3 * SECOND);
    assert_eq!(before, after);
    assert_eq!(before_ticks, after_ticks);
    assert_eq!(before_ticks.len(), 1);
    // A group that triggered is saved, with its count of triggers.
    let saved: MonitorState = serde_json::from_str(&serde_json::to_string(&state)?)?;
    assert_eq!(saved.groups["usr.email:bob@example.com"].triggers, 1);
    assert_eq!(
        saved.groups["usr.email:bob@example.com"].level,
        Level::Alert
    );

    let values = definition(r#"audits("*").new_value("@usr.id").learning("1m")"#, 0.0);
    let mut learned = MonitorState::default();
    learned.observe(&values, &event(NOW, json!({"usr": {"id": "a"}})), NOW);
    let recorded = learned.take_unrecorded_values();
    assert_eq!(recorded.len(), 1);
    assert!(learned.take_unrecorded_values().is_empty());
    let mut restored: MonitorState = serde_json::from_str(&serde_json::to_string(&learned)?)?;
    restored.restore_values(recorded);
    assert_eq!(restored.values_seen(), 1);
    // "a" is known after the restart; "b" is new.
    let later = NOW + 10 * MINUTE;
    assert!(
        restored
            .observe(&values, &event(later, json!({"usr": {"id": "a"}})), later)
            .is_empty()
    );
    assert_eq!(
        restored
            .observe(&values, &event(later, json!({"usr": {"id": "b"}})), later)
            .len(),
        1
    );
    Ok(())
}

//! A watch judges what one monitor at a time would: over a mix of monitor
//! kinds and a stream of events, the observations a watch takes (from term
//! hashes, confirming outright what the terms decide, parsing only when a
//! candidate needs it) give every monitor the same triggers as matching
//! each event against each monitor's filter and observing it.

use evident_model::{Event, Timestamp};
use evident_monitor::watch::{EventSource, Scratch, Watch};
use evident_monitor::{Definition, MonitorState, Trigger, parse};
use serde_json::json;
use twox_hash::XxHash3_64;

const SECOND: i64 = 1_000_000_000;
const NOW: i64 = 1_796_083_200 * SECOND;

fn hash(term: &str) -> u64 {
    XxHash3_64::oneshot(term.as_bytes())
}

/// A monitor whose critical threshold is its query's.
fn definition(query: &str) -> Definition {
    let critical = match parse(query).expect(query).kind {
        evident_monitor::Kind::Threshold { threshold, .. } => threshold,
        evident_monitor::Kind::NewValue { .. } => 0.0,
    };
    super::evaluate::definition(query, critical)
}

/// An event's term hashes, sorted and distinct, as the intake derives them.
fn terms(event: &Event) -> Vec<u64> {
    let mut terms = Vec::new();
    evident_search::terms::visit_event_terms(event, &mut |term| terms.push(hash(term)));
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// An event source that counts how often it was asked.
struct Counting<'a> {
    event: &'a Event,
    asked: usize,
}

impl EventSource for Counting<'_> {
    fn event(&mut self) -> Option<&Event> {
        self.asked += 1;
        Some(self.event)
    }
}

#[test]
fn a_watch_gives_every_monitor_what_matching_each_one_would() {
    let queries = [
        r#"audits("@aegis.decision:BLOCKED").rollup("count").last("5m") > 3"#,
        r#"audits("@aegis.destination:VENDOR @aegis.decision:BLOCKED").rollup("count").by("@usr.email").last("1h") > 2"#,
        r#"audits("@aegis.actor_id:* @event.dataset:aegis.preflight").new_value("@aegis.actor_id").learning("1m")"#,
        r#"audits("@event.dataset:aegis.preflight").rollup("count").last("30m") < 1"#,
        r#"audits("-@aegis.decision:ALLOWED service:web").rollup("cardinality", "@usr.email").last("5m") > 1"#,
        r#"audits("@evt.name:login OR @evt.name:logout").rollup("count").last("5m") >= 4"#,
        r#"audits("*").rollup("count").last("1m") > 20"#,
        r#"audits("suspicious").rollup("count").last("5m") > 0"#,
    ];
    let definitions: Vec<Definition> = queries.iter().map(|query| definition(query)).collect();
    let watch = Watch::new(
        1,
        definitions
            .iter()
            .enumerate()
            .map(|(index, definition)| (index as i64, definition.clone())),
        hash,
    );
    let mut by_watch = vec![MonitorState::default(); definitions.len()];
    let mut one_by_one = vec![MonitorState::default(); definitions.len()];
    let (mut from_watch, mut from_each) = (Vec::<Trigger>::new(), Vec::<Trigger>::new());
    let mut scratch = Scratch::default();
    for second in 0..600i64 {
        let now = NOW + second * SECOND;
        for index in 0..(second % 4) {
            let n = second * 4 + index;
            let service = ["web", "api"][(n % 2) as usize];
            let name = ["login", "logout", "create"][(n % 3) as usize];
            let attributes = json!({
                "aegis": {
                    "decision": if n % 3 == 0 { "BLOCKED" } else { "ALLOWED" },
                    "destination": if n % 5 == 0 { "VENDOR" } else { "INTERNAL" },
                    "actor_id": format!("actor-{}", n % 37),
                },
                "event": {"dataset": if n % 7 == 0 { "aegis.preflight" } else { "aegis.gateway" }},
                "usr": {"email": format!("user{}@example.com", n % 11)},
                "evt": {"name": name},
            });
            let event = Event {
                timestamp: Some(Timestamp::from_nanos(now - (n % 5) * SECOND)),
                service: Some(service.to_owned()),
                message: Some(
                    if n % 50 == 0 {
                        "a suspicious request"
                    } else {
                        "a request"
                    }
                    .to_owned(),
                ),
                attributes: attributes.as_object().cloned().unwrap_or_default(),
                ..Event::default()
            };
            let time = event.timestamp.map_or(now, Timestamp::as_nanos);
            let mut source = &event;
            for (index, observation) in
                watch.observe(&terms(&event), time, &mut source, &mut scratch)
            {
                let index = index as usize;
                from_watch.extend(by_watch[index].apply(&definitions[index], &observation, now));
            }
            for (index, definition) in definitions.iter().enumerate() {
                if evident_search::matches(&definition.query.filter, &event) {
                    from_each.extend(one_by_one[index].observe(definition, &event, now));
                }
            }
        }
        for (index, definition) in definitions.iter().enumerate() {
            from_watch.extend(by_watch[index].tick(definition, now));
            from_each.extend(one_by_one[index].tick(definition, now));
        }
    }
    assert!(from_each.len() > 20, "{} triggers", from_each.len());
    assert_eq!(from_watch, from_each);
    for (watched, each) in by_watch.iter().zip(&one_by_one) {
        assert_eq!(watched.groups, each.groups);
    }
}

#[test]
fn counts_whose_terms_decide_them_never_ask_for_the_event() {
    let definitions = [
        definition(
            r#"audits("@aegis.decision:BLOCKED service:web").rollup("count").last("5m") > 3"#,
        ),
        definition(
            r#"audits("@evt.name:login OR @evt.name:logout").rollup("count").last("5m") > 3"#,
        ),
        definition(r#"audits("@evt.name:login").rollup("count").by("@usr.email").last("5m") > 3"#),
    ];
    let watch = Watch::new(
        7,
        definitions
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, d)| (i as i64, d)),
        hash,
    );
    assert_eq!(watch.generation(), 7);
    let event = |attributes: serde_json::Value| Event {
        timestamp: Some(Timestamp::from_nanos(NOW)),
        service: Some("web".to_owned()),
        attributes: attributes.as_object().cloned().unwrap_or_default(),
        ..Event::default()
    };
    let observe = |event: &Event| {
        let mut source = Counting { event, asked: 0 };
        let observations = watch.observe(&terms(event), NOW, &mut source, &mut Scratch::default());
        let indexes: Vec<u32> = observations.iter().map(|(index, _)| *index).collect();
        (indexes, source.asked)
    };
    // Only terms: nothing parsed.
    let blocked_logout =
        event(json!({"aegis": {"decision": "BLOCKED"}, "evt": {"name": "logout"}}));
    assert_eq!(observe(&blocked_logout), (vec![0, 1], 0));
    // A grouped monitor reads its group from the event.
    let login = event(json!({"evt": {"name": "login"}, "usr": {"email": "a@b.c"}}));
    assert_eq!(observe(&login), (vec![1, 2], 1));
    let other = event(json!({"evt": {"name": "create"}}));
    assert_eq!(observe(&other), (vec![], 0));
}

//! Where the intake hands the evaluator what it already knows: the
//! monitors' current [`Watch`], published by the evaluator, and the
//! observations the intake took from the events it parsed, by log
//! position. The evaluator judges those instead of parsing the events
//! again; an event without them (other writers, a full inbox, a watch
//! changed meanwhile) is read back from the log, so the inbox only saves
//! work and never decides what is evaluated.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use evident_monitor::Observation;
use evident_monitor::watch::Watch;

/// Events whose observations may wait; past it the intake's are dropped
/// (and the evaluator reads those events back from the log).
const MAX_WAITING_EVENTS: usize = 200_000;

/// Each event's observations, by monitor index of one watch.
pub type Observations = Vec<(u32, Observation)>;

/// The observations of consecutive events, from log position `first`.
#[derive(Debug)]
pub struct Prepared {
    /// The watch's generation they were taken with.
    pub generation: u64,
    pub first: u64,
    /// Each event's, until the evaluator takes them.
    pub events: Vec<Option<Observations>>,
}

#[derive(Debug, Default)]
pub struct Inbox {
    watch: Mutex<Option<Arc<Watch>>>,
    prepared: Mutex<Vec<Prepared>>,
    waiting: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inbox {
    /// The monitors as the evaluator watches them now (none: nothing to
    /// prepare).
    pub fn watch(&self) -> Option<Arc<Watch>> {
        lock(&self.watch).clone()
    }

    pub fn publish(&self, watch: Option<Arc<Watch>>) {
        *lock(&self.watch) = watch;
    }

    /// Hands over observations of acknowledged events, unless too many
    /// wait already.
    pub fn push(&self, prepared: Prepared) {
        let events = prepared.events.len();
        if self.waiting.fetch_add(events, Ordering::Relaxed) + events > MAX_WAITING_EVENTS {
            self.waiting.fetch_sub(events, Ordering::Relaxed);
            return;
        }
        lock(&self.prepared).push(prepared);
    }

    /// Everything handed over since the last call.
    pub fn take(&self) -> Vec<Prepared> {
        let taken = std::mem::take(&mut *lock(&self.prepared));
        let events: usize = taken.iter().map(|prepared| prepared.events.len()).sum();
        self.waiting.fetch_sub(events, Ordering::Relaxed);
        taken
    }
}

/// The evaluator's side: prepared observations by first position.
#[derive(Debug, Default)]
pub struct Waiting {
    by_first: BTreeMap<u64, Prepared>,
}

impl Waiting {
    /// Adds what the inbox held, keeping those of `generation` and of
    /// events at `position` or later.
    pub fn receive(&mut self, taken: Vec<Prepared>, generation: u64, position: u64) {
        for prepared in taken {
            let end = prepared.first + prepared.events.len() as u64;
            if prepared.generation == generation && end > position {
                self.by_first.insert(prepared.first, prepared);
            }
        }
    }

    /// The observations prepared for the event at `position`, taken out
    /// (asked again, the event is read back).
    pub fn take(&mut self, position: u64) -> Option<Observations> {
        let (first, prepared) = self.by_first.range_mut(..=position).next_back()?;
        let offset = usize::try_from(position - first).ok()?;
        prepared.events.get_mut(offset)?.take()
    }

    /// Forgets what lies before `position` (judged, or read back).
    pub fn forget_before(&mut self, position: u64) {
        self.by_first
            .retain(|first, prepared| first + prepared.events.len() as u64 > position);
    }

    /// Forgets everything (the watch changed).
    pub fn clear(&mut self) {
        self.by_first.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(generation: u64, first: u64, events: usize) -> Prepared {
        Prepared {
            generation,
            first,
            events: (0..events)
                .map(|offset| Some(vec![(0, Observation::at((first + offset as u64) as i64))]))
                .collect(),
        }
    }

    #[test]
    fn observations_are_found_by_position_and_only_for_the_current_watch() {
        let inbox = Inbox::default();
        inbox.push(prepared(1, 10, 5));
        inbox.push(prepared(1, 0, 10));
        inbox.push(prepared(0, 15, 5));
        let mut waiting = Waiting::default();
        waiting.receive(inbox.take(), 1, 2);
        assert!(inbox.take().is_empty());
        let time_at = |waiting: &mut Waiting, position| {
            waiting
                .take(position)
                .and_then(|observations| observations.first().map(|(_, o)| o.time))
        };
        assert_eq!(time_at(&mut waiting, 3), Some(3));
        assert_eq!(time_at(&mut waiting, 12), Some(12));
        // Taken once; another generation's are not kept.
        assert_eq!(time_at(&mut waiting, 12), None);
        assert_eq!(time_at(&mut waiting, 16), None);
        waiting.forget_before(10);
        assert_eq!(time_at(&mut waiting, 4), None);
        assert_eq!(time_at(&mut waiting, 13), Some(13));
    }

    #[test]
    fn a_full_inbox_refuses_more() {
        let inbox = Inbox::default();
        inbox.push(prepared(1, 0, MAX_WAITING_EVENTS));
        inbox.push(prepared(1, MAX_WAITING_EVENTS as u64, 1));
        assert_eq!(inbox.take().len(), 1);
        inbox.push(prepared(1, MAX_WAITING_EVENTS as u64, 1));
        assert_eq!(inbox.take().len(), 1);
    }
}

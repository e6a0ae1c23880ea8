//! A set of monitors made ready to watch events: filed for percolation,
//! with what each reads of an event. Built once per change of the
//! monitors and shared, it turns an event into the observations of the
//! monitors it matches wherever the event is at hand: at intake, where
//! the event was just parsed (many requests at once), or in the
//! evaluator, which parses an event only when a candidate needs it.

use evident_model::Event;

use crate::evaluator::Definition;
use crate::observation::{Observation, reads_only_time};
use crate::percolate::{Candidate, Percolator};

/// One monitor being watched.
#[derive(Debug)]
pub struct Watched {
    pub id: i64,
    pub definition: Definition,
    /// Whether the monitor reads nothing of an event but its time.
    only_time: bool,
}

/// Where a watched event comes from: parsed already, or parsed when a
/// candidate first needs it (`None`: it does not parse).
pub trait EventSource {
    fn event(&mut self) -> Option<&Event>;
}

impl EventSource for &Event {
    fn event(&mut self) -> Option<&Event> {
        Some(self)
    }
}

/// Buffers one caller reuses from event to event.
#[derive(Debug, Default)]
pub struct Scratch {
    found: Vec<Candidate>,
    marks: Vec<u8>,
}

/// Monitors filed for percolation, known by a generation that changes
/// with them: observations taken with one generation are judged only by
/// the same (an index means a monitor within its own watch).
#[derive(Debug)]
pub struct Watch {
    generation: u64,
    percolator: Percolator,
    monitors: Vec<Watched>,
}

impl Watch {
    /// Files `monitors` (id and definition); `hash` is the hash of the
    /// event term hashes [`Watch::observe`] is given.
    pub fn new(
        generation: u64,
        monitors: impl IntoIterator<Item = (i64, Definition)>,
        hash: impl Fn(&str) -> u64,
    ) -> Watch {
        let monitors: Vec<Watched> = monitors
            .into_iter()
            .map(|(id, definition)| Watched {
                id,
                only_time: reads_only_time(&definition),
                definition,
            })
            .collect();
        let percolator = Percolator::new(
            monitors
                .iter()
                .map(|watched| &watched.definition.query.filter),
            hash,
        );
        Watch {
            generation,
            percolator,
            monitors,
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_empty(&self) -> bool {
        self.monitors.is_empty()
    }

    /// The monitor at `index` of this watch.
    pub fn monitor(&self, index: usize) -> Option<&Watched> {
        self.monitors.get(index)
    }

    /// The observations, by monitor index, of an event holding `terms`
    /// (its term hashes, sorted and distinct) stamped `time` (ns), for
    /// every monitor it matches, in index order. The event is asked of
    /// `source` only when a candidate needs it; an event that does not
    /// parse matches only the monitors its terms decide.
    pub fn observe(
        &self,
        terms: &[u64],
        time: i64,
        source: &mut dyn EventSource,
        scratch: &mut Scratch,
    ) -> Vec<(u32, Observation)> {
        let mut observations = Vec::new();
        if self.monitors.is_empty() {
            return observations;
        }
        self.percolator
            .candidates(terms, &mut scratch.found, &mut scratch.marks);
        for candidate in &scratch.found {
            let Some(watched) = self.monitors.get(candidate.index) else {
                continue;
            };
            let observation = if candidate.confirmed && watched.only_time {
                Observation::at(time)
            } else {
                let Some(event) = source.event() else {
                    continue;
                };
                if !candidate.confirmed
                    && !evident_search::matches(&watched.definition.query.filter, event)
                {
                    continue;
                }
                Observation::of(&watched.definition, event, time)
            };
            if let Ok(index) = u32::try_from(candidate.index) {
                observations.push((index, observation));
            }
        }
        observations
    }
}

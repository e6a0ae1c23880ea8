//! Monitors over the audit trail, without IO: what a monitor query means,
//! how a group's window counts, how its state moves, and what a message
//! says. The application layer (`evident-app`) feeds it acknowledged
//! events and a tick, stores what it returns and delivers notifications.
//!
//! - [`query`]: the monitor query (`audits("...").rollup("count").by("@usr.email").last("5m") > 10`,
//!   `audits("...").new_value("@usr.id").learning("30d")`), with positioned errors;
//! - [`window`]: a group's rolling window in buckets by event time;
//! - [`state`]: levels (OK, Warn, Alert, No Data) and thresholds, with
//!   recovery thresholds;
//! - [`observation`]: what one event brings to one monitor, taken once;
//! - [`evaluator`]: a monitor's groups, events (or observations) in and
//!   ticks, triggers out;
//! - [`percolate`]: which monitors an event may match, by its term hashes;
//! - [`watch`]: a set of monitors filed for percolation, turning events
//!   into observations wherever they are parsed;
//! - [`template`]: message variables, conditional blocks and `@handle`s.

pub mod evaluator;
pub mod observation;
pub mod percolate;
pub mod query;
pub mod state;
pub mod template;
pub mod watch;
pub mod window;

pub use evaluator::{Cause, Definition, MonitorState, Trigger};
pub use observation::Observation;
pub use query::{Comparator, Kind, MonitorQuery, QueryError, Rollup, parse};
pub use state::{Level, Thresholds};

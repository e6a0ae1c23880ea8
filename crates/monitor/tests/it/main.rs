//! The monitor crate from outside: the seed monitors' queries, and
//! evaluation over streams of events.

mod evaluate;
mod percolate;
mod query;
mod watch;

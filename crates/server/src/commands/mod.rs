//! One module per subcommand.

pub mod match_events;

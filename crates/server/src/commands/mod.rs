//! One module per subcommand.

pub mod gateway;
pub mod import;
pub mod match_events;
pub mod replay;
pub mod search;
pub mod serve;
pub mod sql;
pub mod verify;

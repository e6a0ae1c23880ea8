//! One module per subcommand that needs no server of its own.

pub mod access;
pub mod import;
pub mod match_events;
pub mod monitor;
pub mod replay;
pub mod search;
pub mod sql;
pub mod verify;

mod disk_full;
mod import;
mod match_command;
mod server;
mod sql;
mod support;

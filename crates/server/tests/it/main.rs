mod disk_full;
mod match_command;
mod server;
mod sql;
mod support;

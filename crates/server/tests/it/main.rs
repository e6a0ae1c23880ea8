mod disk_full;
mod geoip;
mod import;
mod match_command;
mod server;
mod sql;
mod support;

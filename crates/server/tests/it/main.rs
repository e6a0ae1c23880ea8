mod disk_full;
mod geoip;
mod hardening;
mod import;
mod match_command;
mod server;
mod sql;
mod support;

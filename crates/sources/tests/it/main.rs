//! The sources against the real audit logs in `shared/data`.

mod cloudtrail;
mod digest;
mod geoip;
mod others;
mod sources;
mod support;

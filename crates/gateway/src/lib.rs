//! evident's audit gateway: a reverse proxy in front of an HTTP API that
//! authenticates each caller by an OIDC bearer token, forwards the call
//! with a credential the caller never sees, and records every request and
//! response as an audit event in evident.
//!
//! A call flows through [`proxy::Gateway::handle`]:
//! - [`oidc`]: the token checked against the issuer's keys (discovery,
//!   JWKS cached and refreshed on an unknown `kid`) → an `Identity`;
//! - [`path`]: one canonical spelling of the path (ambiguous ones refused)
//!   for everything below;
//! - routing by path prefix, then [`policy`] (first matching allow/deny
//!   rule) and [`rate_limit`] (a token bucket per identity);
//! - forwarding over hyper with the route's injected headers ([`config`]
//!   resolves them from `env:` / `file:` references), bodies streaming
//!   through [`body`], which keeps the first bytes and masks the injected
//!   values in what comes back;
//! - [`event`]: the call as a dd.audit event (`@evt.name:gateway.request`),
//!   passed through [`redact`] and queued to [`recorder`], which sends
//!   batches to evident's Datadog intake.
//!
//! [`spool`] keeps audit events on disk while evident is unreachable;
//! [`secrets`] finds the values never to pass on or store;
//! [`server`] accepts connections and stops gracefully; [`replay`] sends a
//! recorded session again to another upstream and diffs the answers.

pub mod body;
pub mod config;
pub mod error;
pub mod event;
pub mod oidc;
pub mod path;
pub mod policy;
pub mod proxy;
pub mod rate_limit;
pub mod recorder;
pub mod redact;
pub mod replay;
pub mod secrets;
pub mod server;
pub mod spool;

pub use config::Config;
pub use error::{AuthError, ConfigError};
pub use server::Running;

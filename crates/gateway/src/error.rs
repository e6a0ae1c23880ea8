//! The gateway's errors.

use std::path::PathBuf;

/// A configuration that cannot be used; the gateway does not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("secret {0} is not set or empty")]
    MissingSecret(String),
    #[error("reading secret file {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("oidc issuer: {0}")]
    Issuer(String),
    #[error("listening on {address}: {source}")]
    Listen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("tls roots: {0}")]
    Tls(String),
}

/// Why a bearer token was refused; the text goes back to the caller in the
/// 401 and into the audit event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send Authorization: Bearer <token>")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token expired")]
    Expired,
    #[error("token not yet valid (nbf)")]
    NotYetValid,
    #[error("token issuer is not {0}")]
    WrongIssuer(String),
    #[error("token audience does not include {0}")]
    WrongAudience(String),
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token key id {0:?} is not among the issuer's keys")]
    UnknownKey(String),
    #[error("token algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("token lacks the {0} claim")]
    MissingClaim(String),
    #[error("issuer keys unavailable: {0}")]
    IssuerUnavailable(String),
}

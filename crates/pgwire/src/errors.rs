//! Application errors as PostgreSQL errors: each kind's SQLSTATE, from one
//! table.

use evident_app::{AppError, ErrorKind};
use pgwire::error::{ErrorInfo, PgWireError};

/// The SQLSTATE of each kind of application error.
pub fn sqlstate(kind: ErrorKind) -> &'static str {
    match kind {
        // syntax_error_or_access_rule_violation
        ErrorKind::InvalidArgument => "42000",
        // invalid_authorization_specification
        ErrorKind::Unauthenticated => "28000",
        // insufficient_privilege
        ErrorKind::PermissionDenied => "42501",
        // undefined_object
        ErrorKind::NotFound => "42704",
        ErrorKind::Conflict => "23505",
        // program_limit_exceeded
        ErrorKind::TooLarge | ErrorKind::LimitExceeded => "54000",
        // feature_not_supported
        ErrorKind::UnsupportedFormat => "0A000",
        // too_many_connections: retry
        ErrorKind::Busy => "53300",
        ErrorKind::RateLimited => "53400",
        // object_not_in_prerequisite_state
        ErrorKind::NotReady => "55000",
        // disk_full
        ErrorKind::StorageFull => "53100",
        // system_error (the statement's audit record could not be stored)
        ErrorKind::Unavailable => "58000",
        // internal_error
        ErrorKind::Internal => "XX000",
    }
}

/// An `ERROR` (the session goes on) with the kind's SQLSTATE.
pub fn user_error(error: AppError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        sqlstate(error.kind).into(),
        error.message,
    )))
}

//! What went wrong, as a kind every surface understands. Each surface maps
//! a kind to its own code with one table: HTTP statuses in `evident-http`
//! (`errors.rs`), SQLSTATEs in `evident-pgwire` (`errors.rs`); the command
//! line prints the message and exits 2 for the caller's mistakes, 1 else.

use evident_store::StoreError;
use evident_store::wal::WalError;

/// The kinds of failure an operation reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or asks for something impossible.
    InvalidArgument,
    /// No credential, or one that is not evident's.
    Unauthenticated,
    /// A valid credential that may not do this.
    PermissionDenied,
    /// What the request names does not exist.
    NotFound,
    /// What the request would create exists already (an email, a name).
    Conflict,
    /// The request is larger than evident takes at once.
    TooLarge,
    /// The request's encoding or content type is not one evident reads.
    UnsupportedFormat,
    /// A statement went beyond a limit (memory, time, value sizes).
    LimitExceeded,
    /// Too much at once: retry shortly (the caller did nothing wrong).
    Busy,
    /// Too many attempts from this caller (sign-ins): wait, then retry.
    RateLimited,
    /// Not ready yet (an event not yet covered by a checkpoint): retry.
    NotReady,
    /// The disk is full: nothing of the request was stored.
    StorageFull,
    /// Storage failed or is stopping; the request was not carried out.
    Unavailable,
    /// A fault of evident's.
    Internal,
}

impl ErrorKind {
    /// Whether the caller's request (not evident) is at fault.
    pub fn is_callers(self) -> bool {
        matches!(
            self,
            ErrorKind::InvalidArgument
                | ErrorKind::Unauthenticated
                | ErrorKind::PermissionDenied
                | ErrorKind::NotFound
                | ErrorKind::Conflict
                | ErrorKind::TooLarge
                | ErrorKind::UnsupportedFormat
                | ErrorKind::LimitExceeded
        )
    }

    /// Whether the same request may succeed when retried later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Busy | ErrorKind::RateLimited | ErrorKind::NotReady | ErrorKind::Unavailable
        )
    }
}

/// A failed operation: its kind and a lowercase message that never repeats
/// the request's content at length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AppError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> AppError {
        AppError {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::InvalidArgument, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::PermissionDenied, message)
    }

    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::NotFound, message)
    }

    pub fn too_large(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::TooLarge, message)
    }

    pub fn busy(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Busy, message)
    }

    pub fn unavailable(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Unavailable, message)
    }

    /// A fault of evident's: logged here, once, with the message.
    pub fn internal(message: impl Into<String>) -> AppError {
        let message = message.into();
        tracing::error!(error = %message, "internal error");
        AppError::new(ErrorKind::Internal, message)
    }

    /// A failed write to the log.
    pub fn from_wal(error: &WalError, what: &str) -> AppError {
        if error.is_disk_full() {
            AppError::new(
                ErrorKind::StorageFull,
                format!("the disk is full; nothing of {what} was stored"),
            )
        } else {
            tracing::error!(%error, what, "could not store");
            AppError::unavailable(format!("storage unavailable: {error}"))
        }
    }

    /// A failed read or proof of the store.
    pub fn from_store(error: StoreError) -> AppError {
        match error {
            StoreError::UnknownEvent(id) => AppError::not_found(format!("no event with id {id:?}")),
            StoreError::NotYetCheckpointed(_) => {
                AppError::new(ErrorKind::NotReady, error.to_string())
            }
            StoreError::Ledger(error) => AppError::invalid(error.to_string()),
            other => AppError::internal(other.to_string()),
        }
    }

    /// A task of blocking work that panicked or was cancelled.
    pub(crate) fn task(what: &str, error: tokio::task::JoinError) -> AppError {
        AppError::internal(format!("{what} task failed: {error}"))
    }
}

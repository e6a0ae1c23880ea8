//! Error bodies in Datadog's shapes: the intake answers
//! `{"errors":[{"status","title","detail"}]}`, the query APIs
//! `{"errors":["..."]}`. Messages are cut at 1 KiB, so an error body never
//! grows with the request that caused it. An application error's kind
//! becomes a status by [`status`], the one table; 503 and 429 carry
//! `Retry-After`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use evident_app::{AppError, ErrorKind};
use serde_json::json;

/// The HTTP status of each kind of application error.
pub fn status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument | ErrorKind::LimitExceeded => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedFormat => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Busy | ErrorKind::NotReady | ErrorKind::Unavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorKind::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Senders back off for this long before retrying.
fn retry_after(response: &mut Response) {
    if matches!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
    ) {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        response
            .headers_mut()
            .insert("x-ratelimit-reset", HeaderValue::from_static("1"));
    }
}

impl From<AppError> for IntakeError {
    fn from(error: AppError) -> IntakeError {
        IntakeError::new(status(error.kind), error.message)
    }
}

impl From<AppError> for QueryError {
    fn from(error: AppError) -> QueryError {
        QueryError {
            status: status(error.kind),
            message: error.message,
        }
    }
}

#[derive(Debug)]
pub struct IntakeError {
    pub status: StatusCode,
    pub detail: String,
}

impl IntakeError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> IntakeError {
        IntakeError {
            status,
            detail: detail.into(),
        }
    }
}

impl IntoResponse for IntakeError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = json!({"errors": [{"status": self.status.as_str(), "title": title, "detail": bounded(&self.detail)}]});
        let mut response = (self.status, Json(body)).into_response();
        retry_after(&mut response);
        response
    }
}

#[derive(Debug)]
pub struct QueryError {
    pub status: StatusCode,
    pub message: String,
}

impl QueryError {
    pub fn bad_request(message: impl Into<String>) -> QueryError {
        QueryError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> QueryError {
        QueryError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }
    pub fn forbidden(message: impl Into<String>) -> QueryError {
        QueryError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> QueryError {
        QueryError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> QueryError {
        QueryError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"errors": [bounded(&self.message)]})),
        )
            .into_response();
        retry_after(&mut response);
        response
    }
}

/// No error body grows with the request: a message that quotes something
/// long (a query, a name) is cut.
const MAX_ERROR_MESSAGE: usize = 1024;

fn bounded(message: &str) -> &str {
    if message.len() <= MAX_ERROR_MESSAGE {
        return message;
    }
    let mut end = MAX_ERROR_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

//! Error bodies in Datadog's shapes: the intake answers
//! `{"errors":[{"status","title","detail"}]}`, the query APIs
//! `{"errors":["..."]}`. Messages are cut at 1 KiB, so an error body never
//! grows with the request that caused it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

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
        if matches!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ) {
            // Senders back off for this long before retrying.
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            response
                .headers_mut()
                .insert("x-ratelimit-reset", HeaderValue::from_static("1"));
        }
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
        (
            self.status,
            Json(json!({"errors": [bounded(&self.message)]})),
        )
            .into_response()
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

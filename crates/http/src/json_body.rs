//! JSON request bodies of the query and management APIs.
//!
//! A body is read only after the caller's credentials were checked (the
//! router's access layer runs before any extractor), at most `LIMIT` bytes
//! of it are kept (a larger one is refused once its length is known or the
//! limit is crossed, its rest dropped unread past 16 MiB), and a body that
//! does not parse is refused with a short message that never repeats the
//! body: a position, and what was expected, with string values from the
//! body left out.

use axum::body::Body;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::http::{StatusCode, header};
use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::QueryError;

/// The largest JSON body of the query and management APIs: 1 MiB.
pub const JSON_BODY_LIMIT: usize = 1 << 20;

/// A body refused as too large is still read (and dropped) up to this
/// many bytes before the answer, so that an ordinary client that is still
/// sending gets the 413 rather than a reset connection; past it the
/// connection is closed at once.
const DRAIN_LIMIT: u64 = 16 << 20;

/// Messages about a body that does not parse are cut to this many bytes.
const MAX_MESSAGE: usize = 200;

/// A JSON body of at most `LIMIT` bytes, parsed into `T`.
#[derive(Debug)]
pub struct JsonBody<T, const LIMIT: usize = JSON_BODY_LIMIT>(pub T);

impl<T, S, const LIMIT: usize> FromRequest<S> for JsonBody<T, LIMIT>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = QueryError;

    async fn from_request(request: Request, _: &S) -> Result<Self, QueryError> {
        if !is_json(&request) {
            return Err(QueryError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "expected a JSON body with Content-Type: application/json".into(),
            });
        }
        let declared = declared_length(&request);
        let bytes = read_limited(request.into_body(), LIMIT, declared).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// A request without a `Content-Type` has no body to parse (`None`), as
/// with axum's own `Json`.
impl<T, S, const LIMIT: usize> OptionalFromRequest<S> for JsonBody<T, LIMIT>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = QueryError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, QueryError> {
        if request.headers().get(header::CONTENT_TYPE).is_none() {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .is_some_and(|mime| {
            mime == "application/json"
                || mime.starts_with("application/") && mime.ends_with("+json")
        })
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// Keeps at most `limit` bytes of `body`: a declared or actual length
/// above it is a 413 (what follows is dropped, up to [`DRAIN_LIMIT`]).
async fn read_limited(
    body: Body,
    limit: usize,
    declared: Option<u64>,
) -> Result<Vec<u8>, QueryError> {
    let mut stream = body.into_data_stream();
    if declared.is_some_and(|length| length > limit as u64) {
        if declared.is_some_and(|length| length <= DRAIN_LIMIT) {
            drain(&mut stream, DRAIN_LIMIT).await;
        }
        return Err(too_large(limit));
    }
    let mut bytes = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| QueryError::bad_request("the request body could not be read"))?;
        if bytes.len() + chunk.len() > limit {
            drain(&mut stream, DRAIN_LIMIT.saturating_sub(bytes.len() as u64)).await;
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Reads and drops up to `at_most` more bytes of a body.
async fn drain(stream: &mut axum::body::BodyDataStream, at_most: u64) {
    let mut dropped = 0u64;
    while dropped < at_most {
        match stream.next().await {
            Some(Ok(chunk)) => dropped += chunk.len() as u64,
            _ => return,
        }
    }
}

fn too_large(limit: usize) -> QueryError {
    QueryError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("the body is larger than {limit} bytes"),
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, QueryError> {
    serde_json::from_slice(bytes).map_err(|error| QueryError::bad_request(describe(&error)))
}

/// What went wrong and where, without the body's own strings.
fn describe(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let (line, column) = (error.line(), error.column());
    match error.classify() {
        Category::Syntax | Category::Eof => {
            format!("the body is not valid JSON (line {line}, column {column})")
        }
        Category::Io => "the request body could not be read".to_owned(),
        Category::Data => {
            let mut what = without_string_values(&error.to_string());
            // serde appends " at line L column C"; the position is given apart.
            if let Some(at) = what.rfind(" at line ") {
                what.truncate(at);
            }
            cut(&mut what, MAX_MESSAGE);
            format!(
                "the body does not have the expected shape (line {line}, column {column}): {what}"
            )
        }
    }
}

/// serde quotes string values as `"..."`: each becomes `a string`.
fn without_string_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE));
    let mut rest = message;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        match rest[start + 1..].rfind('"') {
            Some(end) => {
                out.push_str("a string");
                rest = &rest[start + 1 + end + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // Field names are quoted with backticks; a long one is the body's.
    let mut cleaned = String::with_capacity(out.len());
    for (index, part) in out.split('`').enumerate() {
        if index > 0 {
            cleaned.push('`');
        }
        if index % 2 == 1 && part.len() > 40 {
            cleaned.push('…');
        } else {
            cleaned.push_str(part);
        }
    }
    cleaned
}

fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        query: String,
        limit: Option<i64>,
    }

    #[test]
    fn messages_never_repeat_the_body() {
        let secret = "s3cr3t-value-".repeat(1000);
        for body in [
            format!("{{\"query\": \"{secret}"),
            format!("{{\"query\": 1, \"x\": \"{secret}\"}}"),
            format!("{{\"limit\": \"{secret}\", \"query\": \"a\"}}"),
            format!("{{\"{secret}\": 1}}"),
            format!("[\"{secret}\"]"),
        ] {
            let Err(error) = parse::<Shape>(body.as_bytes()) else {
                panic!("{body:.40} parsed");
            };
            assert!(!error.message.contains("s3cr3t"), "{}", error.message);
            assert!(error.message.len() < 400, "{}", error.message);
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn messages_say_where_and_what() {
        let Err(error) = parse::<Shape>(b"{\"limit\": 3}") else {
            panic!("parsed");
        };
        assert!(
            error.message.contains("missing field `query`"),
            "{}",
            error.message
        );
        let Err(error) = parse::<Shape>(b"{\"query\": ") else {
            panic!("parsed");
        };
        assert!(
            error.message.contains("not valid JSON (line 1"),
            "{}",
            error.message
        );
    }
}

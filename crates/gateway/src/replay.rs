//! Replay: the calls of one recorded session read back from evident (its
//! search API), sent again in their order to another upstream, and each
//! answer compared with the recorded one: status code, and body (as JSON
//! values when both are JSON, so key order and spacing do not count).

use std::fmt::Write;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::event::{EVENT_NAME, Outcome};
use crate::redact::REDACTED;

/// Where the recordings are and where they go.
#[derive(Debug, Clone)]
pub struct ReplayTarget {
    /// The evident server holding the recordings.
    pub evident_url: String,
    pub api_key: String,
    pub application_key: String,
    /// Earliest time searched (`now-30d`, ISO 8601, epoch ms).
    pub from: String,
    /// The upstream the calls go to now.
    pub target: String,
    /// Headers added to every replayed call (the sandbox's credentials:
    /// the recordings hold none).
    pub headers: Vec<(String, String)>,
}

/// One recorded call, as replay needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    pub sequence: u64,
    pub started_ns: u64,
    pub method: String,
    /// Path and query as sent upstream.
    pub path_and_query: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<Vec<u8>>,
    pub request_truncated: bool,
    pub status: u16,
    pub response_body: Option<Vec<u8>>,
    pub response_truncated: bool,
}

/// What replaying one call showed.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub call: RecordedCall,
    /// Why it was not sent again, when it was not.
    pub skipped: Option<String>,
    pub status: Option<u16>,
    /// A unified diff of the bodies, when they differ.
    pub body_diff: Option<String>,
}

impl Replayed {
    pub fn differs(&self) -> bool {
        self.status.is_some_and(|status| status != self.call.status) || self.body_diff.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("searching {url}: {reason}")]
    Search { url: String, reason: String },
    #[error("no recorded calls for session {0:?} (forwarded calls with @evt.name:gateway.request)")]
    Empty(String),
}

/// Request headers not sent again: they belong to the recording's hop, or
/// were redacted.
const NOT_REPLAYED: [&str; 6] = [
    "host",
    "content-length",
    "accept-encoding",
    "connection",
    "transfer-encoding",
    "x-evident-session",
];

/// The forwarded calls of a session, in the order they were made.
pub async fn recorded_session(
    http: &reqwest::Client,
    target: &ReplayTarget,
    session: &str,
) -> Result<Vec<RecordedCall>, ReplayError> {
    let url = format!(
        "{}/api/v2/audit/events/search",
        target.evident_url.trim_end_matches('/')
    );
    let quoted = session.replace('\\', "\\\\").replace('"', "\\\"");
    let query = format!(
        "@evt.name:{EVENT_NAME} @gateway.session_id:\"{quoted}\" @gateway.outcome:({} OR {} OR {})",
        Outcome::Forwarded.as_str(),
        Outcome::UpstreamError.as_str(),
        Outcome::UpstreamTimeout.as_str(),
    );
    let failed = |reason: String| ReplayError::Search {
        url: url.clone(),
        reason,
    };
    let mut calls = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut body = json!({
            "filter": {"query": query, "from": target.from, "to": "now"},
            "sort": "timestamp",
            "page": {"limit": 1000},
        });
        if let Some(cursor) = &cursor {
            body["page"]["cursor"] = json!(cursor);
        }
        let response = http
            .post(&url)
            .header("DD-API-KEY", &target.api_key)
            .header("DD-APPLICATION-KEY", &target.application_key)
            .json(&body)
            .send()
            .await
            .map_err(|error| failed(error.to_string()))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|error| failed(error.to_string()))?;
        if !status.is_success() {
            return Err(failed(format!("status {status}: {answer}")));
        }
        let hits = answer["data"].as_array().cloned().unwrap_or_default();
        calls.extend(
            hits.iter()
                .filter_map(|hit| recorded_call(&hit["attributes"]["attributes"])),
        );
        cursor = answer["meta"]["page"]["after"].as_str().map(str::to_owned);
        if cursor.is_none() || hits.is_empty() {
            break;
        }
    }
    if calls.is_empty() {
        return Err(ReplayError::Empty(session.to_owned()));
    }
    calls.sort_by_key(|call| (call.started_ns, call.sequence));
    Ok(calls)
}

fn recorded_call(attributes: &Value) -> Option<RecordedCall> {
    let gateway = &attributes["gateway"];
    let http = &attributes["http"];
    let path = gateway["upstream_path"].as_str()?;
    let path_and_query = match gateway["query"].as_str() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let request_headers = http["request"]["headers"]
        .as_object()
        .map(|headers| {
            headers
                .iter()
                .filter(|(name, value)| {
                    !NOT_REPLAYED.contains(&name.as_str()) && value.as_str() != Some(REDACTED)
                })
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Some(RecordedCall {
        sequence: gateway["sequence"].as_u64().unwrap_or(0),
        started_ns: gateway["started_ns"].as_u64().unwrap_or(0),
        method: http["method"].as_str()?.to_owned(),
        path_and_query,
        request_headers,
        request_body: body_bytes(&http["request"]),
        request_truncated: http["request"]["body_truncated"].as_bool().unwrap_or(false),
        status: http["status_code"]
            .as_u64()
            .and_then(|code| u16::try_from(code).ok())?,
        response_body: body_bytes(&http["response"]),
        response_truncated: http["response"]["body_truncated"]
            .as_bool()
            .unwrap_or(false),
    })
}

fn body_bytes(fields: &Value) -> Option<Vec<u8>> {
    let text = fields["body"].as_str()?;
    if fields["body_encoding"].as_str() == Some("base64") {
        base64::engine::general_purpose::STANDARD.decode(text).ok()
    } else {
        Some(text.as_bytes().to_vec())
    }
}

/// Sends each call again, one after the other, and compares.
pub async fn replay(
    http: &reqwest::Client,
    target: &ReplayTarget,
    calls: Vec<RecordedCall>,
) -> Vec<Replayed> {
    let base = target.target.trim_end_matches('/');
    let mut results = Vec::with_capacity(calls.len());
    for call in calls {
        if call.request_truncated {
            results.push(Replayed {
                call,
                skipped: Some("its request body was recorded truncated".to_owned()),
                status: None,
                body_diff: None,
            });
            continue;
        }
        let Ok(method) = reqwest::Method::from_bytes(call.method.as_bytes()) else {
            results.push(Replayed {
                call,
                skipped: Some("unknown method".to_owned()),
                status: None,
                body_diff: None,
            });
            continue;
        };
        let mut request = http.request(method, format!("{base}{}", call.path_and_query));
        for (name, value) in &call.request_headers {
            request = request.header(name, value);
        }
        for (name, value) in &target.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &call.request_body {
            request = request.body(body.clone());
        }
        let sent = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response
                    .bytes()
                    .await
                    .map(|bytes| (status, bytes))
                    .map_err(|error| error.to_string())
            }
            Err(error) => Err(error.to_string()),
        };
        match sent {
            Ok((status, bytes)) => {
                let body_diff = diff_bodies(&call, &bytes);
                results.push(Replayed {
                    call,
                    skipped: None,
                    status: Some(status),
                    body_diff,
                });
            }
            Err(error) => results.push(Replayed {
                call,
                skipped: Some(format!("sending failed: {error}")),
                status: None,
                body_diff: None,
            }),
        }
    }
    results
}

fn diff_bodies(call: &RecordedCall, replayed: &[u8]) -> Option<String> {
    let recorded = call.response_body.clone().unwrap_or_default();
    let replayed = if call.response_truncated {
        // Only the recorded prefix can be compared.
        &replayed[..replayed.len().min(recorded.len())]
    } else {
        replayed
    };
    if recorded == replayed {
        return None;
    }
    let as_json = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).ok();
    let (old, new) = match (as_json(&recorded), as_json(replayed)) {
        (Some(old), Some(new)) => {
            if old == new {
                return None;
            }
            let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default();
            (pretty(&old), pretty(&new))
        }
        _ => (
            String::from_utf8_lossy(&recorded).into_owned(),
            String::from_utf8_lossy(replayed).into_owned(),
        ),
    };
    let diff = similar::TextDiff::from_lines(&old, &new);
    Some(
        diff.unified_diff()
            .context_radius(2)
            .header("recorded", "replayed")
            .to_string(),
    )
}

/// The report `evident replay` prints.
pub fn report(session: &str, results: &[Replayed]) -> String {
    let mut text = String::new();
    let differing = results.iter().filter(|result| result.differs()).count();
    let skipped = results
        .iter()
        .filter(|result| result.skipped.is_some())
        .count();
    for (index, result) in results.iter().enumerate() {
        let call = &result.call;
        let head = format!("#{} {} {}", index + 1, call.method, call.path_and_query);
        match (&result.skipped, result.status) {
            (Some(reason), _) => {
                let _ = writeln!(text, "{head}: skipped, {reason}");
            }
            (None, Some(status)) if status != call.status => {
                let _ = writeln!(text, "{head}: status {} -> {status}", call.status);
            }
            (None, _) if result.body_diff.is_some() => {
                let _ = writeln!(text, "{head}: status {} (same), body differs", call.status);
            }
            (None, _) => {
                let _ = writeln!(text, "{head}: same ({})", call.status);
            }
        }
        if let Some(diff) = &result.body_diff {
            for line in diff.lines() {
                let _ = writeln!(text, "    {line}");
            }
        }
    }
    let _ = writeln!(
        text,
        "session {session}: {} calls replayed, {differing} differ, {skipped} skipped",
        results.len() - skipped
    );
    text
}

/// A report as JSON (`--json`).
pub fn report_json(session: &str, results: &[Replayed]) -> Value {
    let calls: Vec<Value> = results
        .iter()
        .map(|result| {
            let mut call = Map::new();
            call.insert("method".to_owned(), json!(result.call.method));
            call.insert("path".to_owned(), json!(result.call.path_and_query));
            call.insert("recorded_status".to_owned(), json!(result.call.status));
            call.insert("replayed_status".to_owned(), json!(result.status));
            call.insert("differs".to_owned(), json!(result.differs()));
            call.insert("skipped".to_owned(), json!(result.skipped));
            call.insert("body_diff".to_owned(), json!(result.body_diff));
            Value::Object(call)
        })
        .collect();
    json!({"session": session, "calls": calls})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str, truncated: bool) -> RecordedCall {
        RecordedCall {
            sequence: 1,
            started_ns: 1,
            method: "GET".to_owned(),
            path_and_query: "/x".to_owned(),
            request_headers: Vec::new(),
            request_body: None,
            request_truncated: false,
            status: 200,
            response_body: Some(body.as_bytes().to_vec()),
            response_truncated: truncated,
        }
    }

    #[test]
    fn json_bodies_compare_as_values() {
        assert_eq!(
            diff_bodies(
                &call(r#"{"a":1,"b":[1,2]}"#, false),
                br#"{ "b": [1, 2], "a": 1 }"#
            ),
            None
        );
        let diff = diff_bodies(&call(r#"{"a":1}"#, false), br#"{"a":2}"#).unwrap_or_default();
        assert!(
            diff.contains("-  \"a\": 1") && diff.contains("+  \"a\": 2"),
            "{diff}"
        );
        assert_eq!(diff_bodies(&call("abc", true), b"abcdef"), None);
        assert!(diff_bodies(&call("abc", false), b"abcdef").is_some());
    }

    #[test]
    fn recorded_calls_are_read_from_events() {
        let attributes = json!({
            "gateway": {"upstream_path": "/v1/x", "query": "a=1", "sequence": 7, "started_ns": 99},
            "http": {"method": "POST", "status_code": 201,
                     "request": {"headers": {"content-type": "application/json", "dd-api-key": "[redacted]", "host": "h"},
                                 "body": "{}", "body_truncated": false},
                     "response": {"body": "AAE=", "body_encoding": "base64", "body_truncated": false}}
        });
        let call = recorded_call(&attributes);
        assert_eq!(
            call.as_ref().map(|call| call.path_and_query.as_str()),
            Some("/v1/x?a=1")
        );
        assert_eq!(
            call.as_ref().map(|call| call.request_headers.clone()),
            Some(vec![(
                "content-type".to_owned(),
                "application/json".to_owned()
            )])
        );
        assert_eq!(
            call.as_ref().and_then(|call| call.response_body.clone()),
            Some(vec![0, 1])
        );
        assert_eq!(
            call.map(|call| (call.status, call.sequence)),
            Some((201, 7))
        );
    }
}

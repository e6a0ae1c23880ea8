//! A running server's API, for the commands that work through it
//! (`--server`): the keys from `EVIDENT_API_KEY` and `EVIDENT_APP_KEY`,
//! one JSON request, the server's own error messages.

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::Value;

/// Where commands look for a server by default.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8844";

/// Posts `body` to `path` of `server` with the read keys. `Err(message)`
/// inside: the server refused the request itself (400, 404, 409), to show
/// as is.
pub fn post(
    client: &reqwest::blocking::Client,
    server: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<Result<Value, String>> {
    send(client, server, Method::POST, path, Some(body))
}

/// Sends one request with the keys; an answer without a body is `null`.
pub fn send(
    client: &reqwest::blocking::Client,
    server: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Result<Value, String>> {
    let api_key =
        std::env::var("EVIDENT_API_KEY").context("set EVIDENT_API_KEY to work on a server")?;
    let app_key =
        std::env::var("EVIDENT_APP_KEY").context("set EVIDENT_APP_KEY to work on a server")?;
    let mut request = client
        .request(method, format!("{}{path}", server.trim_end_matches('/')))
        .header("DD-API-KEY", api_key)
        .header("DD-APPLICATION-KEY", app_key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .with_context(|| format!("reaching {server}"))?;
    let status = response.status();
    let text = response
        .text()
        .with_context(|| format!("reading the answer of {server}"))?;
    let answer: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).with_context(|| format!("reading the answer of {server}"))?
    };
    if status.is_success() {
        return Ok(Ok(answer));
    }
    let message = answer["errors"][0]
        .as_str()
        .map_or_else(|| answer.to_string(), str::to_string);
    if matches!(status.as_u16(), 400 | 404 | 409) {
        return Ok(Err(message));
    }
    bail!("{server} answered {status}: {message}")
}

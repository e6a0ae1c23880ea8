//! A running server's query API, for the commands that read through it
//! (`--server`): the keys from `EVIDENT_API_KEY` and `EVIDENT_APP_KEY`,
//! one JSON request, the server's own error messages.

use anyhow::{Context, bail};
use serde_json::Value;

/// Where commands look for a server by default.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8844";

/// Posts `body` to `path` of `server` with the read keys. `Err(message)`
/// inside: the server refused the request itself (400), to show as is.
pub fn post(
    client: &reqwest::blocking::Client,
    server: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<Result<Value, String>> {
    let api_key =
        std::env::var("EVIDENT_API_KEY").context("set EVIDENT_API_KEY to read from a server")?;
    let app_key =
        std::env::var("EVIDENT_APP_KEY").context("set EVIDENT_APP_KEY to read from a server")?;
    let response = client
        .post(format!("{}{path}", server.trim_end_matches('/')))
        .header("DD-API-KEY", api_key)
        .header("DD-APPLICATION-KEY", app_key)
        .json(body)
        .send()
        .with_context(|| format!("reaching {server}"))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .with_context(|| format!("reading the answer of {server}"))?;
    if status.is_success() {
        return Ok(Ok(answer));
    }
    let message = answer["errors"][0]
        .as_str()
        .map_or_else(|| answer.to_string(), str::to_string);
    if status.as_u16() == 400 {
        return Ok(Err(message));
    }
    bail!("{server} answered {status}: {message}")
}

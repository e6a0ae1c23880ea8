//! Monitors in Datadog's v1 shape, so that `datadog-api-client`'s
//! `MonitorsApi` works unchanged: `GET/POST /api/v1/monitor`,
//! `POST /api/v1/monitor/validate`, `GET/PUT/DELETE /api/v1/monitor/{id}`,
//! `POST /api/v1/monitor/{id}/mute` and `/unmute`; and the notification
//! channels their `@handle`s name: Datadog's webhooks integration
//! (`/api/v1/integration/webhooks/configuration/webhooks`), PagerDuty
//! services (`/api/v1/integration/pagerduty/configuration/services`) and
//! evident's Slack incoming webhooks
//! (`/api/v1/integration/slack/configuration/channels`). Every change is
//! recorded by the service before it is answered.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use evident_app::Actor;
use evident_app::monitors::ChannelBody;
use evident_app::monitors::channels::{Kind, PagerDuty, Slack, Webhook};
use evident_app::monitors::definition::MonitorBody;
use serde::Deserialize;
use serde_json::json;

use super::{JsonBody, QueryError, SharedState};

fn answer(result: Result<serde_json::Value, evident_app::AppError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

fn monitor_id(text: &str) -> Result<i64, QueryError> {
    text.parse::<i64>()
        .map_err(|_| QueryError::bad_request(format!("a monitor id is a number, not {text:?}")))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    name: Option<String>,
    monitor_tags: Option<String>,
    // Datadog's other list parameters, accepted.
    #[allow(dead_code)]
    group_states: Option<String>,
    #[allow(dead_code)]
    with_downtimes: Option<bool>,
    #[allow(dead_code)]
    tags: Option<String>,
    #[allow(dead_code)]
    id_offset: Option<i64>,
    #[allow(dead_code)]
    page: Option<i64>,
    #[allow(dead_code)]
    page_size: Option<i64>,
}

pub async fn list(State(state): State<SharedState>, Query(params): Query<ListParams>) -> Response {
    Json(
        state
            .evident
            .list_monitors(params.name.as_deref(), params.monitor_tags.as_deref()),
    )
    .into_response()
}

const EXPECTED: &str = "expected a JSON monitor: {\"name\", \"type\": \"audit alert\", \"query\", \"message\", \"options\"}";

pub async fn create(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<MonitorBody>>,
) -> Response {
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request(EXPECTED).into_response();
    };
    answer(state.evident.create_monitor(&actor, body).await)
}

pub async fn validate(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<MonitorBody>>,
) -> Response {
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request(EXPECTED).into_response();
    };
    answer(
        state
            .evident
            .validate_monitor(body, &actor)
            .map(|()| json!({})),
    )
}

/// `POST /api/v1/monitor/notify_test`: the message sent once to its
/// handles, as if the monitor alerted now (evident's addition, for the
/// editor's "test notification").
pub async fn notify_test(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<MonitorBody>>,
) -> Response {
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request(EXPECTED).into_response();
    };
    answer(state.evident.test_monitor_notification(&actor, body).await)
}

pub async fn get(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    match monitor_id(&id) {
        Ok(id) => answer(state.evident.get_monitor(id)),
        Err(error) => error.into_response(),
    }
}

pub async fn update(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<MonitorBody>>,
) -> Response {
    let id = match monitor_id(&id) {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request("expected the monitor's fields to change as JSON")
            .into_response();
    };
    answer(state.evident.update_monitor(&actor, id, body).await)
}

pub async fn delete(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Response {
    match monitor_id(&id) {
        Ok(id) => answer(state.evident.delete_monitor(&actor, id).await),
        Err(error) => error.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    scope: Option<String>,
    end: Option<i64>,
    #[serde(default)]
    all_scopes: bool,
}

pub async fn mute(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<MuteBody>>,
) -> Response {
    let id = match monitor_id(&id) {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    answer(
        state
            .evident
            .mute_monitor(&actor, id, body.scope, body.end)
            .await,
    )
}

pub async fn unmute(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<JsonBody<MuteBody>>,
) -> Response {
    let id = match monitor_id(&id) {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    answer(
        state
            .evident
            .unmute_monitor(&actor, id, body.scope, body.all_scopes)
            .await,
    )
}

// ---- notification channels -------------------------------------------------

/// A webhook as Datadog's API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    name: Option<String>,
    url: Option<String>,
    payload: Option<String>,
    custom_headers: Option<String>,
    encode_as: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackBody {
    name: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyBody {
    service_name: Option<String>,
    service_key: Option<String>,
    url: Option<String>,
}

fn required(value: Option<String>, what: &str) -> Result<String, QueryError> {
    value.ok_or_else(|| QueryError::bad_request(format!("missing {what}")))
}

fn channel_kind(kind: &str) -> Kind {
    match kind {
        "slack" => Kind::Slack,
        "pagerduty" => Kind::PagerDuty,
        _ => Kind::Webhook,
    }
}

/// The body of a channel of `kind`; on a change, the name comes from the
/// path and fields not given keep their values.
fn channel_body(
    state: &SharedState,
    kind: Kind,
    path_name: Option<&str>,
    body: serde_json::Value,
) -> Result<ChannelBody, QueryError> {
    let invalid = |error: serde_json::Error| {
        QueryError::bad_request(format!("invalid {} channel: {error}", kind.name()))
    };
    match kind {
        Kind::Webhook => {
            let body: WebhookBody = serde_json::from_value(body).map_err(invalid)?;
            let current = path_name.and_then(|name| state.evident.monitor_webhook(name));
            let name = match path_name {
                Some(name) => name.to_owned(),
                None => required(body.name, "name")?,
            };
            Ok(ChannelBody::Webhook(Webhook {
                name,
                url: match body
                    .url
                    .or(current.as_ref().map(|webhook| webhook.url.clone()))
                {
                    Some(url) => url,
                    None => required(None, "url")?,
                },
                payload: body
                    .payload
                    .or(current.as_ref().and_then(|webhook| webhook.payload.clone())),
                custom_headers: body.custom_headers.or(current
                    .as_ref()
                    .and_then(|webhook| webhook.custom_headers.clone())),
                encode_as: body
                    .encode_as
                    .or(current.map(|webhook| webhook.encode_as))
                    .unwrap_or_else(|| "json".into()),
            }))
        }
        Kind::Slack => {
            let body: SlackBody = serde_json::from_value(body).map_err(invalid)?;
            let name = match path_name {
                Some(name) => name.to_owned(),
                None => required(body.name, "name")?,
            };
            Ok(ChannelBody::Slack(Slack {
                name,
                url: required(body.url, "url (the Slack incoming webhook)")?,
            }))
        }
        Kind::PagerDuty => {
            let body: PagerDutyBody = serde_json::from_value(body).map_err(invalid)?;
            let name = match path_name {
                Some(name) => name.to_owned(),
                None => required(body.service_name, "service_name")?,
            };
            Ok(ChannelBody::PagerDuty(PagerDuty {
                service_name: name,
                service_key: required(
                    body.service_key,
                    "service_key (the Events API v2 routing key)",
                )?,
                url: body.url,
            }))
        }
    }
}

pub async fn list_channels<const KIND: u8>(State(state): State<SharedState>) -> Response {
    Json(state.evident.list_channels(kind_of(KIND))).into_response()
}

pub async fn get_channel<const KIND: u8>(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Response {
    answer(state.evident.get_channel(kind_of(KIND), &name))
}

pub async fn create_channel<const KIND: u8>(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    body: Option<JsonBody<serde_json::Value>>,
) -> Response {
    let kind = kind_of(KIND);
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request(format!("expected a JSON {} channel", kind.name()))
            .into_response();
    };
    let body = match channel_body(&state, kind, None, body) {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    match state.evident.put_channel(&actor, body, true).await {
        Ok(value) => (StatusCode::OK, Json(value)).into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

pub async fn update_channel<const KIND: u8>(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
    body: Option<JsonBody<serde_json::Value>>,
) -> Response {
    let kind = kind_of(KIND);
    let Some(JsonBody(body)) = body else {
        return QueryError::bad_request(format!("expected a JSON {} channel", kind.name()))
            .into_response();
    };
    let body = match channel_body(&state, kind, Some(&name), body) {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    answer(state.evident.put_channel(&actor, body, false).await)
}

pub async fn delete_channel<const KIND: u8>(
    State(state): State<SharedState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Response {
    match state
        .evident
        .delete_channel(&actor, kind_of(KIND), &name)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => QueryError::from(error).into_response(),
    }
}

pub const WEBHOOK: u8 = 0;
pub const SLACK: u8 = 1;
pub const PAGERDUTY: u8 = 2;

fn kind_of(kind: u8) -> Kind {
    channel_kind(match kind {
        SLACK => "slack",
        PAGERDUTY => "pagerduty",
        _ => "webhook",
    })
}

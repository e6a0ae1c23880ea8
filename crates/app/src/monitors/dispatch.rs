//! Delivery: each notification to each of its handles, on its own task
//! (a channel that hangs holds only its own deliveries), with a timeout
//! per attempt and bounded retries with exponential backoff and jitter.
//! Each attempt is recorded as an audit event
//! (`@evt.name:monitor_notification`); the end of a delivery is written
//! to the outbox, so a restart sends only what was not done.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use evident_model::Timestamp;
use serde_json::{Value, json};

use super::channels::{Channel, PagerDuty, Slack, Webhook};
use super::events::{Attempt, notification_event};
use super::outbox::{Delivery, Done, Notification};
use crate::Evident;

/// Attempts per delivery.
pub const ATTEMPTS: u32 = 5;
/// Each attempt's limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 64;
/// The body kept of an error answer.
const ERROR_SNIPPET: usize = 300;

/// How one attempt ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) status_code: Option<u16>,
    pub(crate) error: Option<String>,
    /// Worth another attempt (timeouts, connection errors, 408, 429, 5xx).
    pub(crate) retryable: bool,
}

/// A client for deliveries: its timeouts and user agent.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("evident/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Starts the dispatcher; answers where the runner sends deliveries.
pub fn start(
    evident: &Arc<Evident>,
) -> (
    tokio::sync::mpsc::UnboundedSender<Delivery>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Delivery>();
    let evident = Arc::clone(evident);
    let client = client();
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    for delivery in evident.monitors.take_pending() {
        let _ = sender.send(delivery);
    }
    let task = tokio::spawn(async move {
        while let Some(delivery) = receiver.recv().await {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let evident = Arc::clone(&evident);
            let client = client.clone();
            tokio::spawn(async move {
                deliver(&evident, &client, delivery).await;
                drop(slot);
            });
        }
    });
    (sender, task)
}

async fn deliver(evident: &Evident, client: &reqwest::Client, delivery: Delivery) {
    let notification = &delivery.notification;
    let channel = evident.monitors.channels.resolve(&delivery.handle);
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        let outcome = match &channel {
            Ok(channel) => send(client, channel, notification).await,
            Err(reason) => Outcome {
                status_code: None,
                error: Some(format!("unknown handle @{}: {reason}", delivery.handle)),
                retryable: false,
            },
        };
        let last = outcome.error.is_none() || !outcome.retryable || attempt >= ATTEMPTS;
        let event = notification_event(&Attempt {
            notification,
            handle: &delivery.handle,
            channel: channel.as_ref().map_or("unknown", Channel::kind),
            attempt,
            status_code: outcome.status_code,
            error: outcome.error.as_deref(),
            final_attempt: last,
            test: false,
        });
        if let Err(error) = evident.record(event).await {
            tracing::error!(%error, "a monitor notification attempt could not be recorded");
        }
        if let Some(error) = &outcome.error {
            tracing::warn!(monitor = notification.monitor_id, handle = %delivery.handle, attempt, %error, "monitor notification failed");
        }
        if last {
            break outcome;
        }
        // 1 s, 2 s, 4 s, 8 s, with up to a quarter more at random.
        let base = Duration::from_secs(1 << (attempt - 1).min(5));
        let mut jitter = [0u8; 2];
        let _ = getrandom::fill(&mut jitter);
        let extra = base.mul_f64(f64::from(u16::from_le_bytes(jitter)) / f64::from(u16::MAX) / 4.0);
        tokio::time::sleep(base + extra).await;
    };
    evident.monitors.note_delivery(
        notification.monitor_id,
        &delivery.handle,
        &outcome.error,
        outcome.status_code,
    );
    let done = Done {
        key: notification.key.clone(),
        handle: delivery.handle.clone(),
        ok: outcome.error.is_none(),
        status_code: outcome.status_code,
        error: outcome.error,
        attempts: attempt,
    };
    let monitors = Arc::clone(&evident.monitors);
    let written = tokio::task::spawn_blocking(move || {
        monitors
            .outbox
            .lock()
            .map_err(|_| std::io::Error::other("the outbox lock is poisoned"))
            .and_then(|mut outbox| outbox.done(done))
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::error!(
            "the end of a monitor notification could not be written: it may be sent again after a restart"
        );
    }
}

pub(crate) async fn send(
    client: &reqwest::Client,
    channel: &Channel,
    notification: &Notification,
) -> Outcome {
    let request = match channel {
        Channel::Webhook(webhook) => match webhook_request(client, webhook, notification) {
            Ok(request) => request,
            Err(error) => {
                return Outcome {
                    status_code: None,
                    error: Some(error),
                    retryable: false,
                };
            }
        },
        Channel::Slack(slack) => slack_request(client, slack, notification),
        Channel::PagerDuty(service) => pagerduty_request(client, service, notification),
        Channel::Email(address, smtp) => return send_email(address, smtp, notification).await,
    };
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                return Outcome {
                    status_code: Some(status.as_u16()),
                    error: None,
                    retryable: false,
                };
            }
            let body = response.text().await.unwrap_or_default();
            let snippet: String = body.chars().take(ERROR_SNIPPET).collect();
            Outcome {
                status_code: Some(status.as_u16()),
                error: Some(format!("the receiver answered {status}: {snippet}")),
                retryable: status.is_server_error()
                    || status.as_u16() == 408
                    || status.as_u16() == 429,
            }
        }
        Err(error) => Outcome {
            status_code: None,
            error: Some(if error.is_timeout() {
                format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
            } else {
                format!("could not reach the receiver: {}", error_chain(&error))
            }),
            retryable: true,
        },
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn alert_type(notification: &Notification) -> &'static str {
    match notification.to {
        evident_monitor::Level::Ok => "success",
        evident_monitor::Level::Warn | evident_monitor::Level::NoData => "warning",
        evident_monitor::Level::Alert => "error",
    }
}

/// Datadog's webhook variables for `notification`.
fn variables(notification: &Notification) -> BTreeMap<&'static str, String> {
    let date = notification.decided / 1_000_000;
    let value = notification
        .value
        .map(|value| value.to_string())
        .unwrap_or_default();
    BTreeMap::from([
        (
            "AGGREG_KEY",
            format!("{}:{}", notification.monitor_id, notification.group),
        ),
        ("ALERT_CYCLE_KEY", notification.key.clone()),
        ("ALERT_ID", notification.monitor_id.to_string()),
        ("ALERT_METRIC", value.clone()),
        (
            "ALERT_PRIORITY",
            notification
                .priority
                .map(|p| format!("P{p}"))
                .unwrap_or_default(),
        ),
        ("ALERT_QUERY", notification.query.clone()),
        ("ALERT_SCOPE", notification.group.clone()),
        ("ALERT_STATUS", notification.to.name().to_owned()),
        ("ALERT_TITLE", notification.title.clone()),
        ("ALERT_TRANSITION", notification.transition().to_owned()),
        ("ALERT_TYPE", alert_type(notification).to_owned()),
        ("DATE", date.to_string()),
        ("EVENT_MSG", notification.text.clone()),
        ("EVENT_TITLE", notification.title.clone()),
        ("EVENT_TYPE", "query_alert_monitor".to_owned()),
        ("HOSTNAME", String::new()),
        ("ID", notification.key.clone()),
        ("LAST_UPDATED", date.to_string()),
        ("ORG_ID", "evident".to_owned()),
        ("ORG_NAME", "evident".to_owned()),
        (
            "PRIORITY",
            if notification.priority.is_some_and(|p| p <= 2) {
                "normal"
            } else {
                "low"
            }
            .to_owned(),
        ),
        ("TAGS", notification.tags.join(",")),
        ("TEXT_ONLY_MSG", notification.text.clone()),
        ("USER", "evident".to_owned()),
        ("USERNAME", "evident".to_owned()),
    ])
}

/// Replaces `$NAME`s in `text`, longest names first.
fn substitute(text: &str, variables: &BTreeMap<&'static str, String>) -> String {
    let mut names: Vec<&&str> = variables.keys().collect();
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    let mut output = text.to_owned();
    for name in names {
        output = output.replace(&format!("${name}"), &variables[*name]);
    }
    output
}

/// Every string in a JSON template, substituted (so values are escaped
/// by the serializer, whatever they hold).
fn fill(template: &Value, variables: &BTreeMap<&'static str, String>) -> Value {
    match template {
        Value::String(text) => Value::String(substitute(text, variables)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| fill(item, variables)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (substitute(key, variables), fill(value, variables)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Datadog's payload when a webhook sets none.
fn default_payload() -> Value {
    json!({
        "body": "$EVENT_MSG",
        "last_updated": "$LAST_UPDATED",
        "event_type": "$EVENT_TYPE",
        "title": "$EVENT_TITLE",
        "date": "$DATE",
        "org": {"id": "$ORG_ID", "name": "$ORG_NAME"},
        "id": "$ID",
    })
}

fn webhook_request(
    client: &reqwest::Client,
    webhook: &Webhook,
    notification: &Notification,
) -> Result<reqwest::RequestBuilder, String> {
    let template = match &webhook.payload {
        Some(payload) => serde_json::from_str(payload)
            .map_err(|error| format!("the webhook's payload is not JSON: {error}"))?,
        None => default_payload(),
    };
    let body = fill(&template, &variables(notification));
    let mut request = client.post(&webhook.url);
    for (name, value) in webhook.headers().map_err(|error| error.to_string())? {
        request = request.header(name, value);
    }
    request = request.header("X-Evident-Notification", &notification.key);
    Ok(if webhook.encode_as == "form" {
        let fields: Vec<(String, String)> = match &body {
            Value::Object(map) => map
                .iter()
                .map(|(key, value)| {
                    (
                        key.clone(),
                        value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_owned),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        let encoded: String = fields
            .iter()
            .map(|(key, value)| format!("{}={}", form_encode(key), form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        request
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(encoded)
    } else {
        request.json(&body)
    })
}

fn form_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

fn slack_request(
    client: &reqwest::Client,
    slack: &Slack,
    notification: &Notification,
) -> reqwest::RequestBuilder {
    let text = format!("*{}*\n{}", notification.title, notification.text);
    client.post(&slack.url).json(&json!({"text": text}))
}

/// One PagerDuty incident per monitor and group: triggers (and
/// reminders) open or update it, a recovery resolves it.
pub fn pagerduty_body(service: &PagerDuty, notification: &Notification) -> Value {
    let dedup_key = format!(
        "evident-monitor-{}-{}",
        notification.monitor_id, notification.group
    );
    if notification.is_recovery() {
        return json!({
            "routing_key": service.service_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let severity = match notification.to {
        evident_monitor::Level::Alert => "critical",
        evident_monitor::Level::Warn => "warning",
        _ => "error",
    };
    let summary: String = notification.title.chars().take(1024).collect();
    json!({
        "routing_key": service.service_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": "evident",
            "severity": severity,
            "timestamp": Timestamp::from_nanos(notification.decided).to_string(),
            "component": notification.monitor_name,
            "group": notification.group,
            "class": "audit monitor",
            "custom_details": {
                "message": notification.text,
                "query": notification.query,
                "value": notification.value,
                "threshold": notification.threshold,
                "state": notification.to.name(),
                "group_values": notification.group_values,
                "monitor_id": notification.monitor_id,
            },
        },
    })
}

fn pagerduty_request(
    client: &reqwest::Client,
    service: &PagerDuty,
    notification: &Notification,
) -> reqwest::RequestBuilder {
    client
        .post(service.events_url())
        .json(&pagerduty_body(service, notification))
}

/// The notification as an email through the configured SMTP server.
async fn send_email(
    address: &str,
    smtp: &super::channels::Smtp,
    notification: &Notification,
) -> Outcome {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let failed = |error: String, retryable: bool| Outcome {
        status_code: None,
        error: Some(error),
        retryable,
    };
    let parse = |text: &str, what: &str| {
        text.parse::<lettre::message::Mailbox>()
            .map_err(|error| format!("invalid {what} address {text:?}: {error}"))
    };
    let (from, to) = match (parse(&smtp.from, "from"), parse(address, "recipient")) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(error), _) | (_, Err(error)) => return failed(error, false),
    };
    let value = notification
        .value
        .map(|value| format!("\nValue: {value}"))
        .unwrap_or_default();
    let body = format!(
        "{}\n\nMonitor: {} (id {})\nQuery: {}\nGroup: {}\nState: {} → {}{value}\nNotification: {}\n",
        notification.text,
        notification.monitor_name,
        notification.monitor_id,
        notification.query,
        notification.group,
        notification.from.name(),
        notification.to.name(),
        notification.key,
    );
    let message = match Message::builder()
        .from(from)
        .to(to)
        .subject(&notification.title)
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body)
    {
        Ok(message) => message,
        Err(error) => return failed(format!("the email could not be built: {error}"), false),
    };
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url) {
        Ok(builder) => builder.timeout(Some(ATTEMPT_TIMEOUT)).build(),
        Err(error) => return failed(format!("invalid SMTP url: {error}"), false),
    };
    match transport.send(message).await {
        Ok(response) => Outcome {
            status_code: Some(response.code().into()),
            error: None,
            retryable: false,
        },
        Err(error) => {
            let permanent = error.is_permanent();
            failed(
                format!("the SMTP server refused or failed: {}", error_chain(&error)),
                !permanent,
            )
        }
    }
}

//! Where notifications go, named by the `@handle`s of a monitor's message:
//! `@webhook-<name>` (Datadog's webhooks integration: url, payload
//! template, custom headers, JSON or form encoding), `@slack-<name>` (a
//! Slack incoming webhook URL), `@pagerduty-<service>` (a PagerDuty Events
//! API v2 routing key), `@someone@example.com` (email, through the SMTP
//! server of `serve --smtp-url`). Kept in `monitors/channels.json` in the private
//! data directory; secrets (a Slack URL, a routing key, header values) are
//! never answered by the API, only their last four characters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// PagerDuty's Events API v2.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const MAX_NAME: usize = 100;
const MAX_URL: usize = 2048;
const MAX_PAYLOAD: usize = 64 * 1024;

/// A webhook, as Datadog's `/api/v1/integration/webhooks/configuration/webhooks` shapes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    /// A JSON template with `$VARIABLES`; none: Datadog's default payload.
    #[serde(default)]
    pub payload: Option<String>,
    /// A JSON object of header names and values, as a string.
    #[serde(default)]
    pub custom_headers: Option<String>,
    /// `json` or `form`.
    #[serde(default = "json_encoding")]
    pub encode_as: String,
}

fn json_encoding() -> String {
    "json".into()
}

/// A Slack incoming webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slack {
    pub name: String,
    pub url: String,
}

/// A PagerDuty service, as Datadog's
/// `/api/v1/integration/pagerduty/configuration/services` shapes it, with
/// the Events API URL (PagerDuty's unless set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PagerDuty {
    pub service_name: String,
    pub service_key: String,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ChannelSet {
    #[serde(default)]
    webhooks: BTreeMap<String, Webhook>,
    #[serde(default)]
    slack: BTreeMap<String, Slack>,
    #[serde(default)]
    pagerduty: BTreeMap<String, PagerDuty>,
}

/// The SMTP server email notifications go through (from the server's
/// settings, not the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// `smtp://host:25`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465` (lettre's URL form).
    pub url: String,
    /// The From address.
    pub from: String,
}

/// Where one handle sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    Webhook(Webhook),
    Slack(Slack),
    PagerDuty(PagerDuty),
    /// An address, and the server to send through.
    Email(String, Smtp),
}

impl Channel {
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook(_) => "webhook",
            Channel::Slack(_) => "slack",
            Channel::PagerDuty(_) => "pagerduty",
            Channel::Email(..) => "email",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("writing the notification channels: {0}")]
    Write(#[from] std::io::Error),
    #[error("reading {path}: {reason}")]
    Read { path: PathBuf, reason: String },
}

#[derive(Debug)]
pub struct Channels {
    path: PathBuf,
    set: Mutex<ChannelSet>,
    smtp: Mutex<Option<Smtp>>,
}

/// Whether a handle is an email address (`alice@example.com`).
fn is_address(handle: &str) -> bool {
    handle.parse::<lettre::Address>().is_ok()
}

/// `****` and the last four characters.
pub fn masked(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("****{tail}")
}

fn check_name(name: &str) -> Result<(), ChannelError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(ChannelError::Invalid(format!(
            "a channel name has 1 to {MAX_NAME} letters, digits, '-', '_' or '.': {name:?}"
        )))
    }
}

fn check_url(url: &str) -> Result<(), ChannelError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| ChannelError::Invalid(format!("invalid url: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || url.len() > MAX_URL {
        return Err(ChannelError::Invalid(
            "a channel's url is http(s), at most 2048 characters".into(),
        ));
    }
    Ok(())
}

impl Webhook {
    pub fn check(&self) -> Result<(), ChannelError> {
        check_name(&self.name)?;
        check_url(&self.url)?;
        if let Some(payload) = &self.payload {
            if payload.len() > MAX_PAYLOAD {
                return Err(ChannelError::Invalid(
                    "a payload template is at most 64 KiB".into(),
                ));
            }
            serde_json::from_str::<Value>(payload).map_err(|error| {
                ChannelError::Invalid(format!("the payload is not JSON: {error}"))
            })?;
        }
        self.headers()?;
        if !matches!(self.encode_as.as_str(), "json" | "form") {
            return Err(ChannelError::Invalid(
                "encode_as is \"json\" or \"form\"".into(),
            ));
        }
        Ok(())
    }

    /// The custom headers, parsed.
    pub fn headers(&self) -> Result<BTreeMap<String, String>, ChannelError> {
        let Some(text) = &self.custom_headers else {
            return Ok(BTreeMap::new());
        };
        if text.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        let headers: BTreeMap<String, String> = serde_json::from_str(text).map_err(|_| {
            ChannelError::Invalid(
                "custom_headers is a JSON object of header names and string values".into(),
            )
        })?;
        for (name, value) in &headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(ChannelError::Invalid(format!(
                    "invalid custom header {name:?}"
                )));
            }
        }
        Ok(headers)
    }

    /// As the API answers it: header values masked.
    pub fn shown(&self) -> Value {
        let headers = self.headers().unwrap_or_default();
        let masked_headers: BTreeMap<&String, String> = headers
            .iter()
            .map(|(name, value)| (name, masked(value)))
            .collect();
        json!({
            "name": self.name,
            "url": self.url,
            "payload": self.payload,
            "custom_headers": if headers.is_empty() { Value::Null } else { json!(serde_json::to_string(&masked_headers).unwrap_or_default()) },
            "encode_as": self.encode_as,
        })
    }
}

impl Slack {
    pub fn check(&self) -> Result<(), ChannelError> {
        check_name(&self.name)?;
        check_url(&self.url)
    }

    pub fn shown(&self) -> Value {
        json!({"name": self.name, "url": masked(&self.url)})
    }
}

impl PagerDuty {
    pub fn check(&self) -> Result<(), ChannelError> {
        check_name(&self.service_name)?;
        if self.service_key.trim().is_empty() || self.service_key.len() > 200 {
            return Err(ChannelError::Invalid(
                "service_key is the service's Events API v2 routing key".into(),
            ));
        }
        if let Some(url) = &self.url {
            check_url(url)?;
        }
        Ok(())
    }

    pub fn shown(&self) -> Value {
        json!({"service_name": self.service_name, "service_key": masked(&self.service_key), "url": self.url})
    }

    pub fn events_url(&self) -> &str {
        self.url.as_deref().unwrap_or(PAGERDUTY_EVENTS_URL)
    }
}

/// Which of the three kinds a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Webhook,
    Slack,
    PagerDuty,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Slack => "slack",
            Kind::PagerDuty => "pagerduty",
        }
    }
}

impl Channels {
    pub fn open(dir: &Path) -> Result<Channels, ChannelError> {
        let path = dir.join("channels.json");
        let set = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| ChannelError::Read {
                path: path.clone(),
                reason: error.to_string(),
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => ChannelSet::default(),
            Err(error) => {
                return Err(ChannelError::Read {
                    path,
                    reason: error.to_string(),
                });
            }
        };
        Ok(Channels {
            path,
            set: Mutex::new(set),
            smtp: Mutex::new(None),
        })
    }

    /// The SMTP server for `@address` handles (none: they are refused).
    pub fn set_smtp(&self, smtp: Option<Smtp>) {
        *self
            .smtp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = smtp;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChannelSet> {
        self.set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The channel a handle (without its `@`) names.
    pub fn resolve(&self, handle: &str) -> Result<Channel, String> {
        let set = self.lock();
        let found = if let Some(name) = handle.strip_prefix("webhook-") {
            set.webhooks.get(name).cloned().map(Channel::Webhook)
        } else if let Some(name) = handle.strip_prefix("slack-") {
            set.slack.get(name).cloned().map(Channel::Slack)
        } else if let Some(name) = handle.strip_prefix("pagerduty-") {
            set.pagerduty.get(name).cloned().map(Channel::PagerDuty)
        } else if is_address(handle) {
            let smtp = self
                .smtp
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            return smtp
                .map(|smtp| Channel::Email(handle.to_owned(), smtp))
                .ok_or_else(|| "no SMTP server is configured for email (serve --smtp-url)".into());
        } else {
            return Err(
                "handles are @webhook-<name>, @slack-<name>, @pagerduty-<service> or an email address"
                    .into(),
            );
        };
        found.ok_or_else(|| "no channel of that name is configured".into())
    }

    /// The current value of a channel, as the API shows it.
    pub fn shown(&self, kind: Kind, name: &str) -> Option<Value> {
        let set = self.lock();
        match kind {
            Kind::Webhook => set.webhooks.get(name).map(Webhook::shown),
            Kind::Slack => set.slack.get(name).map(Slack::shown),
            Kind::PagerDuty => set.pagerduty.get(name).map(PagerDuty::shown),
        }
    }

    pub fn list(&self, kind: Kind) -> Vec<Value> {
        let set = self.lock();
        match kind {
            Kind::Webhook => set.webhooks.values().map(Webhook::shown).collect(),
            Kind::Slack => set.slack.values().map(Slack::shown).collect(),
            Kind::PagerDuty => set.pagerduty.values().map(PagerDuty::shown).collect(),
        }
    }

    pub fn webhook(&self, name: &str) -> Option<Webhook> {
        self.lock().webhooks.get(name).cloned()
    }

    pub fn slack(&self, name: &str) -> Option<Slack> {
        self.lock().slack.get(name).cloned()
    }

    pub fn pagerduty(&self, name: &str) -> Option<PagerDuty> {
        self.lock().pagerduty.get(name).cloned()
    }

    /// Applies `change` to a copy, writes it, and keeps it: all or nothing.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut ChannelSet) -> Result<T, ChannelError>,
    ) -> Result<T, ChannelError> {
        let mut set = self.lock();
        let mut changed = set.clone();
        let answer = change(&mut changed)?;
        let bytes = serde_json::to_vec_pretty(&changed).map_err(std::io::Error::other)?;
        evident_durable::replace(&self.path, &bytes)?;
        *set = changed;
        Ok(answer)
    }

    /// Creates (`create`) or replaces a webhook.
    pub fn put_webhook(&self, webhook: Webhook, create: bool) -> Result<(), ChannelError> {
        webhook.check()?;
        self.update(|set| {
            let exists = set.webhooks.contains_key(&webhook.name);
            if create && exists {
                return Err(ChannelError::Conflict(format!(
                    "a webhook named {:?} exists",
                    webhook.name
                )));
            }
            set.webhooks.insert(webhook.name.clone(), webhook);
            Ok(())
        })
    }

    pub fn put_slack(&self, slack: Slack, create: bool) -> Result<(), ChannelError> {
        slack.check()?;
        self.update(|set| {
            if create && set.slack.contains_key(&slack.name) {
                return Err(ChannelError::Conflict(format!(
                    "a slack channel named {:?} exists",
                    slack.name
                )));
            }
            set.slack.insert(slack.name.clone(), slack);
            Ok(())
        })
    }

    pub fn put_pagerduty(&self, service: PagerDuty, create: bool) -> Result<(), ChannelError> {
        service.check()?;
        self.update(|set| {
            if create && set.pagerduty.contains_key(&service.service_name) {
                return Err(ChannelError::Conflict(format!(
                    "a pagerduty service named {:?} exists",
                    service.service_name
                )));
            }
            set.pagerduty.insert(service.service_name.clone(), service);
            Ok(())
        })
    }

    pub fn remove(&self, kind: Kind, name: &str) -> Result<(), ChannelError> {
        self.update(|set| {
            let removed = match kind {
                Kind::Webhook => set.webhooks.remove(name).is_some(),
                Kind::Slack => set.slack.remove(name).is_some(),
                Kind::PagerDuty => set.pagerduty.remove(name).is_some(),
            };
            if removed {
                Ok(())
            } else {
                Err(ChannelError::NotFound(format!(
                    "no {} named {name:?}",
                    kind.name()
                )))
            }
        })
    }
}

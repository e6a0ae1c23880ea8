//! Notification channels as operations: each change is recorded
//! (`@evt.name:notification_channel`, secrets masked) before it is kept.

use serde_json::{Value, json};

use super::channels::{ChannelError, Kind, PagerDuty, Slack, Webhook};
use crate::Evident;
use crate::activity::change_event;
use crate::actor::Actor;
use crate::error::AppError;

impl From<ChannelError> for AppError {
    fn from(error: ChannelError) -> AppError {
        match error {
            ChannelError::Invalid(message) => AppError::invalid(message),
            ChannelError::NotFound(message) => AppError::not_found(message),
            ChannelError::Conflict(message) => AppError::new(crate::ErrorKind::Conflict, message),
            other => AppError::internal(other.to_string()),
        }
    }
}

/// A channel as a request gives it.
#[derive(Debug, Clone)]
pub enum ChannelBody {
    Webhook(Webhook),
    Slack(Slack),
    PagerDuty(PagerDuty),
}

impl ChannelBody {
    fn kind(&self) -> Kind {
        match self {
            ChannelBody::Webhook(_) => Kind::Webhook,
            ChannelBody::Slack(_) => Kind::Slack,
            ChannelBody::PagerDuty(_) => Kind::PagerDuty,
        }
    }

    fn name(&self) -> &str {
        match self {
            ChannelBody::Webhook(webhook) => &webhook.name,
            ChannelBody::Slack(slack) => &slack.name,
            ChannelBody::PagerDuty(service) => &service.service_name,
        }
    }

    fn check(&self) -> Result<(), ChannelError> {
        match self {
            ChannelBody::Webhook(webhook) => webhook.check(),
            ChannelBody::Slack(slack) => slack.check(),
            ChannelBody::PagerDuty(service) => service.check(),
        }
    }

    fn shown(&self) -> Value {
        match self {
            ChannelBody::Webhook(webhook) => webhook.shown(),
            ChannelBody::Slack(slack) => slack.shown(),
            ChannelBody::PagerDuty(service) => service.shown(),
        }
    }
}

impl Evident {
    pub fn list_channels(&self, kind: Kind) -> Vec<Value> {
        self.monitors.channels.list(kind)
    }

    pub fn get_channel(&self, kind: Kind, name: &str) -> Result<Value, AppError> {
        self.monitors
            .channels
            .shown(kind, name)
            .ok_or_else(|| AppError::not_found(format!("no {} named {name:?}", kind.name())))
    }

    async fn channel_changed(
        &self,
        actor: &Actor,
        action: &str,
        kind: Kind,
        name: &str,
        previous: Option<Value>,
        next: Option<Value>,
    ) -> Result<(), AppError> {
        let mut asset =
            json!({"type": format!("{}_channel", kind.name()), "id": name, "name": name});
        if let Some(previous) = previous {
            asset["prev_value"] = previous;
        }
        if let Some(next) = next {
            asset["new_value"] = next;
        }
        self.record(change_event(actor, "notification_channel", action, asset))
            .await
    }

    /// Creates (`create`) or replaces a channel for `actor`.
    pub async fn put_channel(
        &self,
        actor: &Actor,
        body: ChannelBody,
        create: bool,
    ) -> Result<Value, AppError> {
        let _serial = self.settings_changes.lock().await;
        body.check()?;
        let kind = body.kind();
        let name = body.name().to_owned();
        let previous = self.monitors.channels.shown(kind, &name);
        match (&previous, create) {
            (Some(_), true) => {
                return Err(AppError::new(
                    crate::ErrorKind::Conflict,
                    format!("a {} named {name:?} exists", kind.name()),
                ));
            }
            (None, false) => {
                return Err(AppError::not_found(format!(
                    "no {} named {name:?}",
                    kind.name()
                )));
            }
            _ => {}
        }
        let action = if create { "created" } else { "modified" };
        self.channel_changed(actor, action, kind, &name, previous, Some(body.shown()))
            .await?;
        let channels = std::sync::Arc::clone(&self.monitors);
        tokio::task::spawn_blocking(move || match body {
            ChannelBody::Webhook(webhook) => channels.channels.put_webhook(webhook, create),
            ChannelBody::Slack(slack) => channels.channels.put_slack(slack, create),
            ChannelBody::PagerDuty(service) => channels.channels.put_pagerduty(service, create),
        })
        .await
        .map_err(|error| AppError::task("notification channels", error))??;
        self.get_channel(kind, &name)
    }

    pub async fn delete_channel(
        &self,
        actor: &Actor,
        kind: Kind,
        name: &str,
    ) -> Result<(), AppError> {
        let _serial = self.settings_changes.lock().await;
        let previous = self.get_channel(kind, name)?;
        self.channel_changed(actor, "deleted", kind, name, Some(previous), None)
            .await?;
        let monitors = std::sync::Arc::clone(&self.monitors);
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || monitors.channels.remove(kind, &name))
            .await
            .map_err(|error| AppError::task("notification channels", error))??;
        Ok(())
    }
}

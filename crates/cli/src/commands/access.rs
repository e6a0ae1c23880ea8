//! `evident users ...` and `evident keys ...` on a stopped data directory:
//! the bootstrap of a new installation's people and the recovery of a lost
//! Admin. Each change is recorded in the audit trail as evident's own
//! event, credited to the machine's user (`cli:<user>`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use evident_app::access::{Access, KeyError, KeyKind, UserStatus};
use evident_app::activity::change_event;
use evident_app::{Actor, Evident};
use serde_json::json;

use crate::args::{KeyKindArg, KeysAction, KeysArgs, UsersAction, UsersArgs};

/// The data directory's users and keys, and the service to record changes.
fn open(data_dir: &Path) -> anyhow::Result<(Access, std::sync::Arc<Evident>)> {
    // The store first: it holds the directory's lock, so no server changes
    // the keys meanwhile.
    let evident = crate::local::open(data_dir, None)?;
    let (access, _) = Access::open(data_dir, None, None)
        .with_context(|| format!("reading the keys of {}", data_dir.display()))?;
    Ok((access, evident))
}

fn actor() -> Actor {
    Actor::cli(&std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

/// Records a change made here, durably, before saying it is done.
fn record(
    evident: &Evident,
    name: &str,
    action: &str,
    asset: serde_json::Value,
) -> anyhow::Result<()> {
    let event = change_event(&actor(), name, action, asset);
    crate::local::runtime()?
        .block_on(evident.record(event))
        .context("recording the change in the audit trail")
}

/// The caller's mistakes exit 2 with the message; the rest are errors.
fn outcome<T>(result: Result<T, KeyError>) -> anyhow::Result<Result<T, String>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error @ (KeyError::Invalid(_) | KeyError::Conflict(_) | KeyError::NotFound(_))) => {
            Ok(Err(error.to_string()))
        }
        Err(error) => Err(error.into()),
    }
}

pub fn users(args: &UsersArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        UsersAction::List { data_dir } => {
            let (access, _) = Access::open(data_dir, None, None)?;
            let roles = access.roles();
            println!(
                "{:<18} {:<32} {:<24} {:<9} ROLES",
                "ID", "EMAIL", "NAME", "STATUS"
            );
            for user in access.users() {
                let names: Vec<&str> = user
                    .roles
                    .iter()
                    .filter_map(|id| roles.iter().find(|role| &role.id == id))
                    .map(|role| role.name.as_str())
                    .collect();
                let status = match user.status {
                    UserStatus::Active => "active",
                    UserStatus::Disabled => "disabled",
                };
                println!(
                    "{:<18} {:<32} {:<24} {:<9} {}",
                    user.id,
                    user.email,
                    user.name,
                    status,
                    names.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        UsersAction::Create {
            data_dir,
            email,
            name,
            roles,
        } => {
            let (access, evident) = open(data_dir)?;
            let user = match outcome(access.create_user(email, name, roles))? {
                Ok(user) => user,
                Err(message) => return refused(&message),
            };
            record(
                &evident,
                "user_access_management",
                "created",
                json!({"type": "user", "id": user.id, "name": user.email, "new_value": {"roles": user.roles}}),
            )?;
            println!("created user {} ({})", user.email, user.id);
            Ok(ExitCode::SUCCESS)
        }
        UsersAction::Disable { data_dir, user } | UsersAction::Enable { data_dir, user } => {
            let status = if matches!(args.action, UsersAction::Disable { .. }) {
                UserStatus::Disabled
            } else {
                UserStatus::Active
            };
            let (access, evident) = open(data_dir)?;
            let user = match outcome(access.set_user_status(user, status))? {
                Ok(user) => user,
                Err(message) => return refused(&message),
            };
            let state = if status == UserStatus::Active {
                "active"
            } else {
                "disabled"
            };
            record(
                &evident,
                "user_access_management",
                "modified",
                json!({"type": "user", "id": user.id, "name": user.email, "new_value": {"status": state}}),
            )?;
            println!("user {} is {state}", user.email);
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn keys(args: &KeysArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        KeysAction::List { data_dir } => {
            let (access, _) = Access::open(data_dir, None, None)?;
            println!(
                "{:<18} {:<12} {:<6} {:<18} NAME",
                "ID", "KIND", "LAST4", "OWNER"
            );
            for key in access.keys() {
                let kind = match key.kind {
                    KeyKind::Api => "api",
                    KeyKind::Application => "application",
                };
                println!(
                    "{:<18} {:<12} {:<6} {:<18} {}",
                    key.id,
                    kind,
                    key.last4.as_deref().unwrap_or("?"),
                    key.owner.as_deref().unwrap_or("-"),
                    key.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysAction::Create {
            data_dir,
            user,
            kind,
            name,
        } => {
            let kind = match kind {
                KeyKindArg::Api => KeyKind::Api,
                KeyKindArg::Application => KeyKind::Application,
            };
            let (access, evident) = open(data_dir)?;
            let created = access.create_key(kind, name, user, &actor().id);
            let (stored, key) = match outcome(created)? {
                Ok(created) => created,
                Err(message) => return refused(&message),
            };
            let event_name = match kind {
                KeyKind::Api => "api_key",
                KeyKind::Application => "application_key",
            };
            record(
                &evident,
                event_name,
                "created",
                json!({"type": event_name, "id": stored.id, "name": stored.name}),
            )?;
            println!("{key}");
            eprintln!(
                "created {event_name} {} (shown once; only its hash is kept)",
                stored.id
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysAction::Revoke { data_dir, id } => {
            let (access, evident) = open(data_dir)?;
            let removed = match outcome(access.revoke_key(id))? {
                Ok(removed) => removed,
                Err(message) => return refused(&message),
            };
            let event_name = match removed.kind {
                KeyKind::Api => "api_key",
                KeyKind::Application => "application_key",
            };
            record(
                &evident,
                event_name,
                "deleted",
                json!({"type": event_name, "id": removed.id, "name": removed.name}),
            )?;
            println!("revoked {event_name} {}", removed.id);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn refused(message: &str) -> anyhow::Result<ExitCode> {
    eprintln!("error: {message}");
    Ok(ExitCode::from(2))
}

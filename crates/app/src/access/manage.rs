//! Users, roles and keys as operations of the service. Each change is
//! worked out on a copy, recorded in the audit trail (`source:evident`,
//! `@evt.name:user_access_management`, `api_key` or `application_key`,
//! with the asset before and after, never a key's text or hash), and only
//! then kept and answered: a change the trail cannot hold is not made.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::edit::{Edit, UserChange, parse_permissions};
use super::records::{KeyKind, Role, StoredKey, User};
use super::store::{KeyError, new_key_text};
use crate::Evident;
use crate::activity::change_event;
use crate::actor::Actor;
use crate::error::{AppError, ErrorKind};

impl From<KeyError> for AppError {
    fn from(error: KeyError) -> AppError {
        match error {
            KeyError::Invalid(message) => AppError::invalid(message),
            KeyError::Conflict(message) => AppError::new(ErrorKind::Conflict, message),
            KeyError::NotFound(message) => AppError::not_found(message),
            KeyError::Stale => AppError::busy(error.to_string()),
            other => AppError::internal(other.to_string()),
        }
    }
}

/// What a change did, for its audit event.
struct Described {
    /// `@evt.name`.
    name: &'static str,
    /// `@action`.
    action: &'static str,
    /// `@asset`.
    asset: Value,
}

/// `@asset` of a user: email as its name, roles by name.
fn user_value(user: &User, roles: &[Role]) -> Value {
    let names: Vec<&str> = user
        .roles
        .iter()
        .map(|id| {
            roles
                .iter()
                .find(|role| role.id == *id)
                .map_or(id.as_str(), |role| role.name.as_str())
        })
        .collect();
    json!({"email": user.email, "name": user.name, "status": user.status.name(), "roles": names})
}

fn role_value(role: &Role) -> Value {
    let permissions: Vec<&str> = role.permissions.iter().map(|p| p.name()).collect();
    json!({"name": role.name, "permissions": permissions})
}

/// A key as its audit event shows it: never its text or hash.
fn key_value(key: &StoredKey) -> Value {
    let scopes = key
        .scopes
        .as_ref()
        .map(|scopes| scopes.iter().map(|p| p.name()).collect::<Vec<_>>());
    json!({"name": key.name, "last4": key.last4, "owner": key.owner, "scopes": scopes})
}

fn key_asset_type(key: &StoredKey) -> &'static str {
    match key.kind {
        KeyKind::Api => "api_key",
        KeyKind::Application => "application_key",
    }
}

fn asset(kind: &str, id: &str, name: &str, prev: Option<Value>, new: Option<Value>) -> Value {
    let mut asset = json!({"type": kind, "id": id, "name": name});
    if let Some(prev) = prev {
        asset["prev_value"] = prev;
    }
    if let Some(new) = new {
        asset["new_value"] = new;
    }
    asset
}

/// Which keys an operation may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope<'a> {
    /// Any key (`/api/v2/api_keys`, `/api/v2/application_keys`).
    Any,
    /// Only application keys owned by this user (`/current_user/...`).
    OwnedBy(&'a str),
}

impl KeyScope<'_> {
    fn check(self, key: &StoredKey) -> Result<(), KeyError> {
        match self {
            KeyScope::Any => Ok(()),
            KeyScope::OwnedBy(user) if key.owner.as_deref() == Some(user) => Ok(()),
            KeyScope::OwnedBy(_) => Err(KeyError::NotFound(format!(
                "no application key of yours with id {:?}",
                key.id
            ))),
        }
    }
}

impl Evident {
    /// Plans `change`, records it as `describe` says, then keeps it. One
    /// change at a time, so that what is recorded is what is kept.
    async fn change_access<T: Send + 'static>(
        &self,
        actor: &Actor,
        change: impl FnOnce(&mut Edit<'_>) -> Result<T, KeyError>,
        describe: impl FnOnce(&T, &[Role]) -> Described,
    ) -> Result<T, AppError> {
        let _one_at_a_time = self.access_changes.lock().await;
        let planned = self.access.plan(change)?;
        let described = describe(&planned.result, &self.access.roles());
        let event = change_event(actor, described.name, described.action, described.asset);
        self.record(event).await?;
        let access = Arc::clone(&self.access);
        tokio::task::spawn_blocking(move || access.apply(planned))
            .await
            .map_err(|error| AppError::task("keeping the change", error))?
            .map_err(AppError::from)
    }

    /// A new user with the roles named (ids or names).
    pub async fn create_user(
        &self,
        actor: &Actor,
        email: &str,
        name: &str,
        roles: &[String],
    ) -> Result<User, AppError> {
        self.change_access(
            actor,
            |edit| edit.create_user(email, name, roles),
            |user, roles| Described {
                name: "user_access_management",
                action: "created",
                asset: asset(
                    "user",
                    &user.id,
                    &user.email,
                    None,
                    Some(user_value(user, roles)),
                ),
            },
        )
        .await
    }

    /// Changes the user `id` (email, name, status).
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: &str,
        change: UserChange,
    ) -> Result<User, AppError> {
        let (_, after) = self
            .change_access(
                actor,
                |edit| edit.update_user(id, change),
                |(before, after), roles| Described {
                    name: "user_access_management",
                    action: "modified",
                    asset: asset(
                        "user",
                        &after.id,
                        &after.email,
                        Some(user_value(before, roles)),
                        Some(user_value(after, roles)),
                    ),
                },
            )
            .await?;
        Ok(after)
    }

    /// Gives the user a role (`grant`) or takes it away.
    pub async fn set_user_role(
        &self,
        actor: &Actor,
        user: &str,
        role: &str,
        grant: bool,
    ) -> Result<User, AppError> {
        let before = self
            .access
            .users()
            .into_iter()
            .find(|known| known.id == user || known.email == user.to_lowercase());
        self.change_access(
            actor,
            |edit| edit.set_role(user, role, grant),
            |after, roles| Described {
                name: "user_access_management",
                action: "modified",
                asset: asset(
                    "user",
                    &after.id,
                    &after.email,
                    before.as_ref().map(|before| user_value(before, roles)),
                    Some(user_value(after, roles)),
                ),
            },
        )
        .await
    }

    /// A custom role of the permissions named.
    pub async fn create_role(
        &self,
        actor: &Actor,
        name: &str,
        permissions: &[String],
    ) -> Result<Role, AppError> {
        let permissions = parse_permissions(permissions)?;
        self.change_access(
            actor,
            |edit| edit.create_role(name, permissions),
            |role, _| Described {
                name: "user_access_management",
                action: "created",
                asset: asset("role", &role.id, &role.name, None, Some(role_value(role))),
            },
        )
        .await
    }

    /// Renames the custom role `id` or replaces its permissions.
    pub async fn update_role(
        &self,
        actor: &Actor,
        id: &str,
        name: Option<&str>,
        permissions: Option<&[String]>,
    ) -> Result<Role, AppError> {
        let permissions = permissions.map(parse_permissions).transpose()?;
        let (_, after) = self
            .change_access(
                actor,
                |edit| edit.update_role(id, name, permissions),
                role_modified,
            )
            .await?;
        Ok(after)
    }

    /// Adds the permission named to the custom role `id` (`grant`) or
    /// removes it.
    pub async fn set_role_permission(
        &self,
        actor: &Actor,
        id: &str,
        permission: &str,
        grant: bool,
    ) -> Result<Role, AppError> {
        let permission = parse_permissions(&[permission])?
            .into_iter()
            .next()
            .ok_or_else(|| AppError::invalid("which permission?"))?;
        let (_, after) = self
            .change_access(
                actor,
                |edit| edit.set_permission(id, permission, grant),
                role_modified,
            )
            .await?;
        Ok(after)
    }

    /// Deletes the custom role `id`.
    pub async fn delete_role(&self, actor: &Actor, id: &str) -> Result<Role, AppError> {
        self.change_access(
            actor,
            |edit| edit.delete_role(id),
            |role, _| Described {
                name: "user_access_management",
                action: "deleted",
                asset: asset("role", &role.id, &role.name, Some(role_value(role)), None),
            },
        )
        .await
    }

    /// A new key of `kind` named `name`; an application key belongs to
    /// `owner` and may be narrowed to `scopes` (permission names). The
    /// key's text is returned this once.
    pub async fn create_key(
        &self,
        actor: &Actor,
        kind: KeyKind,
        name: &str,
        owner: &str,
        scopes: Option<&[String]>,
    ) -> Result<(StoredKey, String), AppError> {
        let scopes = scopes.map(parse_permissions).transpose()?;
        let key = new_key_text()?;
        let stored = self
            .change_access(
                actor,
                |edit| edit.create_key(kind, &key, name, owner, &actor.id, scopes),
                |stored, _| Described {
                    name: key_asset_type(stored),
                    action: "created",
                    asset: asset(
                        key_asset_type(stored),
                        &stored.id,
                        &stored.name,
                        None,
                        Some(key_value(stored)),
                    ),
                },
            )
            .await?;
        Ok((stored, key))
    }

    /// Renames the key `id` or changes its scopes (`Some(None)`: none).
    pub async fn update_key(
        &self,
        actor: &Actor,
        id: &str,
        scope: KeyScope<'_>,
        name: Option<&str>,
        scopes: Option<Option<&[String]>>,
    ) -> Result<StoredKey, AppError> {
        let scopes = match scopes {
            Some(Some(names)) => Some(Some(parse_permissions(names)?)),
            Some(None) => Some(None),
            None => None,
        };
        let (_, after) = self
            .change_access(
                actor,
                |edit| {
                    scope.check(edit.key(id)?)?;
                    edit.update_key(id, name, scopes)
                },
                |(before, after), _| Described {
                    name: key_asset_type(after),
                    action: "modified",
                    asset: asset(
                        key_asset_type(after),
                        &after.id,
                        &after.name,
                        Some(key_value(before)),
                        Some(key_value(after)),
                    ),
                },
            )
            .await?;
        Ok(after)
    }

    /// Revokes (deletes) the key `id`: refused from then on.
    pub async fn revoke_key(
        &self,
        actor: &Actor,
        id: &str,
        scope: KeyScope<'_>,
    ) -> Result<StoredKey, AppError> {
        self.change_access(
            actor,
            |edit| {
                scope.check(edit.key(id)?)?;
                edit.revoke_key(id)
            },
            |key, _| Described {
                name: key_asset_type(key),
                action: "deleted",
                asset: asset(
                    key_asset_type(key),
                    &key.id,
                    &key.name,
                    Some(key_value(key)),
                    None,
                ),
            },
        )
        .await
    }

    /// Sets the password of the user `id` (`None`: removes it, leaving
    /// keys and single sign-on). Only that the password changed is
    /// recorded.
    pub async fn set_password(
        &self,
        actor: &Actor,
        id: &str,
        password: Option<&str>,
    ) -> Result<User, AppError> {
        let hash = match password {
            Some(password) => {
                let password = password.to_owned();
                let hashed = tokio::task::spawn_blocking(move || super::password::hash(&password))
                    .await
                    .map_err(|error| AppError::task("hashing a password", error))??;
                Some(hashed)
            }
            None => None,
        };
        let change = if hash.is_some() { "set" } else { "removed" };
        self.change_access(
            actor,
            |edit| edit.set_password(id, hash),
            |user, _| Described {
                name: "user_access_management",
                action: "modified",
                asset: asset(
                    "user",
                    &user.id,
                    &user.email,
                    None,
                    Some(json!({ "password": change })),
                ),
            },
        )
        .await
    }

    /// Changes the acting user's own password; `current` must match the
    /// one set, if any.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        current: Option<&str>,
        new: &str,
    ) -> Result<User, AppError> {
        let id = actor
            .user_id()
            .ok_or_else(|| AppError::invalid("only a user has a password"))?;
        let user = self
            .access
            .users()
            .into_iter()
            .find(|user| user.id == id)
            .ok_or_else(|| AppError::not_found(format!("no user {id:?}")))?;
        if let Some(phc) = user.password {
            let current = current.unwrap_or_default().to_owned();
            let matches =
                tokio::task::spawn_blocking(move || super::password::verify(&current, &phc))
                    .await
                    .map_err(|error| AppError::task("checking a password", error))?;
            if !matches {
                return Err(AppError::forbidden("the current password is not right"));
            }
        }
        self.set_password(actor, id, Some(new)).await
    }

    /// The key `id`, if `scope` may see it.
    pub fn key(&self, id: &str, scope: KeyScope<'_>) -> Result<StoredKey, AppError> {
        let key = self
            .access
            .keys()
            .into_iter()
            .find(|key| key.id == id)
            .ok_or_else(|| AppError::not_found(format!("no key with id {id:?}")))?;
        scope.check(&key)?;
        Ok(key)
    }

    /// The permissions of every role of the user `id`.
    pub fn user_permissions(&self, id: &str) -> Result<BTreeSet<super::Permission>, AppError> {
        let user = self
            .access
            .users()
            .into_iter()
            .find(|user| user.id == id)
            .ok_or_else(|| AppError::not_found(format!("no user {id:?}")))?;
        Ok(self
            .access
            .roles()
            .iter()
            .filter(|role| user.roles.contains(&role.id))
            .flat_map(|role| role.permissions.iter().copied())
            .collect())
    }
}

fn role_modified((before, after): &(Role, Role), _: &[Role]) -> Described {
    Described {
        name: "user_access_management",
        action: "modified",
        asset: asset(
            "role",
            &after.id,
            &after.name,
            Some(role_value(before)),
            Some(role_value(after)),
        ),
    }
}

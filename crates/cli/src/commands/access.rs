//! `evident users ...` and `evident keys ...`: on a running server through
//! its management API (an Admin's keys), or on a stopped data directory
//! through the same operations the server runs (bootstrap, or recovery of
//! a lost Admin), each change recorded in the audit trail before it is
//! kept; on a data directory, credited to the machine's user
//! (`cli:<user>`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use evident_app::access::manage::KeyScope;
use evident_app::access::{Access, KeyKind, UserChange, UserStatus};
use evident_app::{Actor, AppError, Evident};
use reqwest::Method;
use serde_json::{Value, json};

use crate::args::{KeyKindArg, KeysAction, KeysArgs, Place, UsersAction, UsersArgs};
use crate::remote::{self, DEFAULT_SERVER};

/// A user as listed.
struct UserRow {
    id: String,
    email: String,
    name: String,
    status: String,
    roles: Vec<String>,
}

/// A key as listed.
struct KeyRow {
    id: String,
    kind: &'static str,
    last4: String,
    owner: String,
    last_used: String,
    name: String,
}

/// Where the commands act.
enum Target {
    Local {
        evident: Arc<Evident>,
        runtime: tokio::runtime::Runtime,
        actor: Box<Actor>,
    },
    Remote {
        http: reqwest::blocking::Client,
        server: String,
    },
}

/// The caller's mistake (exit 2, the message shown) or a failure.
enum Failure {
    Refused(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Failed(error)
    }
}

impl From<AppError> for Failure {
    fn from(error: AppError) -> Failure {
        if error.kind.is_callers() {
            Failure::Refused(error.message)
        } else {
            Failure::Failed(anyhow::anyhow!(error.message))
        }
    }
}

type Outcome<T> = Result<T, Failure>;

fn open_local(data_dir: &Path) -> anyhow::Result<Target> {
    // The store first: it holds the directory's lock, so no server changes
    // the keys meanwhile.
    let store = crate::local::open_store(data_dir)?;
    let (access, _) = Access::open(data_dir, None, None)
        .with_context(|| format!("reading the keys of {}", data_dir.display()))?;
    let evident = crate::local::open_with(data_dir, store, access, None)?;
    Ok(Target::Local {
        evident,
        runtime: crate::local::runtime()?,
        actor: Box::new(Actor::cli(
            &std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        )),
    })
}

impl Target {
    fn open(place: &Place) -> anyhow::Result<Target> {
        match &place.data_dir {
            Some(data_dir) => open_local(data_dir),
            None => Ok(Target::Remote {
                http: reqwest::blocking::Client::new(),
                server: place
                    .server
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SERVER.to_string()),
            }),
        }
    }

    fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Outcome<Value> {
        let Target::Remote { http, server } = self else {
            return Err(Failure::Failed(anyhow::anyhow!("not a server")));
        };
        remote::send(http, server, method, path, body)?.map_err(Failure::Refused)
    }

    fn users(&self) -> Outcome<Vec<UserRow>> {
        match self {
            Target::Local { evident, .. } => {
                let roles = evident.access().roles();
                Ok(evident
                    .access()
                    .users()
                    .into_iter()
                    .map(|user| UserRow {
                        roles: user
                            .roles
                            .iter()
                            .map(|id| {
                                roles
                                    .iter()
                                    .find(|role| role.id == *id)
                                    .map_or_else(|| id.clone(), |role| role.name.clone())
                            })
                            .collect(),
                        id: user.id,
                        email: user.email,
                        name: user.name,
                        status: user.status.name().to_owned(),
                    })
                    .collect())
            }
            Target::Remote { .. } => {
                let roles = self.call(Method::GET, "/api/v2/roles", None)?;
                let role_name = |id: &str| {
                    roles["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|role| role["id"] == id)
                        .and_then(|role| role["attributes"]["name"].as_str())
                        .unwrap_or(id)
                        .to_owned()
                };
                let users = self.call(Method::GET, "/api/v2/users", None)?;
                Ok(users["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|user| {
                        let text = |field: &str| {
                            user["attributes"][field].as_str().unwrap_or("").to_owned()
                        };
                        UserRow {
                            id: user["id"].as_str().unwrap_or("").to_owned(),
                            email: text("email"),
                            name: text("name"),
                            status: text("status").to_lowercase(),
                            roles: user["relationships"]["roles"]["data"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|role| role["id"].as_str())
                                .map(role_name)
                                .collect(),
                        }
                    })
                    .collect())
            }
        }
    }

    /// The id of the user named by id or email.
    fn user_id(&self, user: &str) -> Outcome<String> {
        let wanted = user.trim().to_lowercase();
        self.users()?
            .into_iter()
            .find(|row| row.id == user || row.email == wanted)
            .map(|row| row.id)
            .ok_or_else(|| Failure::Refused(format!("no user {user:?}")))
    }

    fn create_user(&self, email: &str, name: &str, roles: &[String]) -> Outcome<String> {
        match self {
            Target::Local {
                evident,
                runtime,
                actor,
            } => {
                let user = runtime.block_on(evident.create_user(actor, email, name, roles))?;
                Ok(user.id)
            }
            Target::Remote { .. } => {
                let roles: Vec<Value> = roles
                    .iter()
                    .map(|role| json!({"type": "roles", "id": role}))
                    .collect();
                let body = json!({"data": {"type": "users",
                    "attributes": {"email": email, "name": name},
                    "relationships": {"roles": {"data": roles}}}});
                let created = self.call(Method::POST, "/api/v2/users", Some(&body))?;
                Ok(created["data"]["id"].as_str().unwrap_or("").to_owned())
            }
        }
    }

    fn set_status(&self, user: &str, status: UserStatus) -> Outcome<String> {
        let id = self.user_id(user)?;
        match self {
            Target::Local {
                evident,
                runtime,
                actor,
            } => {
                let change = UserChange {
                    status: Some(status),
                    ..UserChange::default()
                };
                let user = runtime.block_on(evident.update_user(actor, &id, change))?;
                Ok(user.email)
            }
            Target::Remote { .. } => {
                let body = json!({"data": {"type": "users", "id": id,
                    "attributes": {"disabled": status == UserStatus::Disabled}}});
                let updated =
                    self.call(Method::PATCH, &format!("/api/v2/users/{id}"), Some(&body))?;
                Ok(updated["data"]["attributes"]["email"]
                    .as_str()
                    .unwrap_or(&id)
                    .to_owned())
            }
        }
    }

    fn keys(&self) -> Outcome<Vec<KeyRow>> {
        match self {
            Target::Local { evident, .. } => Ok(evident
                .access()
                .keys()
                .into_iter()
                .map(|key| KeyRow {
                    kind: match key.kind {
                        KeyKind::Api => "api",
                        KeyKind::Application => "application",
                    },
                    last4: key.last4.clone().unwrap_or_else(|| "?".into()),
                    owner: key.owner.clone().unwrap_or_else(|| "-".into()),
                    last_used: evident
                        .access()
                        .last_used(&key.id)
                        .unwrap_or_else(|| "-".into()),
                    id: key.id,
                    name: key.name,
                })
                .collect()),
            Target::Remote { .. } => {
                let mut rows = Vec::new();
                for (kind, path, used) in [
                    ("api", "/api/v2/api_keys", "date_last_used"),
                    ("application", "/api/v2/application_keys", "last_used_at"),
                ] {
                    let listed = self.call(Method::GET, path, None)?;
                    for key in listed["data"].as_array().into_iter().flatten() {
                        let text = |value: &Value| value.as_str().unwrap_or("-").to_owned();
                        rows.push(KeyRow {
                            id: text(&key["id"]),
                            kind,
                            last4: text(&key["attributes"]["last4"]),
                            owner: text(&key["relationships"]["owned_by"]["data"]["id"]),
                            last_used: text(&key["attributes"][used]),
                            name: text(&key["attributes"]["name"]),
                        });
                    }
                }
                Ok(rows)
            }
        }
    }

    /// A new key: its id and text.
    fn create_key(
        &self,
        kind: KeyKind,
        name: &str,
        user: Option<&str>,
        scopes: &[String],
    ) -> Outcome<(String, String)> {
        let scopes = (!scopes.is_empty()).then_some(scopes);
        match self {
            Target::Local {
                evident,
                runtime,
                actor,
            } => {
                let owner = match (kind, user) {
                    (_, Some(user)) => user,
                    (KeyKind::Api, None) => evident_app::access::BOOTSTRAP_ADMIN,
                    (KeyKind::Application, None) => {
                        return Err(Failure::Refused(
                            "name the key's user with --user on a data directory".into(),
                        ));
                    }
                };
                let (stored, text) =
                    runtime.block_on(evident.create_key(actor, kind, name, owner, scopes))?;
                Ok((stored.id, text))
            }
            Target::Remote { .. } => {
                let created = match (kind, user) {
                    (KeyKind::Api, _) => {
                        let body =
                            json!({"data": {"type": "api_keys", "attributes": {"name": name}}});
                        self.call(Method::POST, "/api/v2/api_keys", Some(&body))?
                    }
                    (KeyKind::Application, None) => {
                        let body = json!({"data": {"type": "application_keys",
                            "attributes": {"name": name, "scopes": scopes}}});
                        self.call(
                            Method::POST,
                            "/api/v2/current_user/application_keys",
                            Some(&body),
                        )?
                    }
                    (KeyKind::Application, Some(user)) => {
                        let owner = self.user_id(user)?;
                        let body = json!({"data": {"type": "application_keys",
                            "attributes": {"name": name, "scopes": scopes},
                            "relationships": {"owned_by": {"data": {"type": "users", "id": owner}}}}});
                        self.call(Method::POST, "/api/v2/application_keys", Some(&body))?
                    }
                };
                let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
                Ok((
                    text(&created["data"]["id"]),
                    text(&created["data"]["attributes"]["key"]),
                ))
            }
        }
    }

    fn revoke_key(&self, id: &str) -> Outcome<()> {
        match self {
            Target::Local {
                evident,
                runtime,
                actor,
            } => {
                runtime.block_on(evident.revoke_key(actor, id, KeyScope::Any))?;
                Ok(())
            }
            Target::Remote { .. } => {
                let kind = self
                    .keys()?
                    .into_iter()
                    .find(|key| key.id == id)
                    .map(|key| key.kind)
                    .ok_or_else(|| Failure::Refused(format!("no key with id {id:?}")))?;
                let path = match kind {
                    "api" => format!("/api/v2/api_keys/{id}"),
                    _ => format!("/api/v2/application_keys/{id}"),
                };
                self.call(Method::DELETE, &path, None)?;
                Ok(())
            }
        }
    }
}

/// Exit 0 on success, 2 with the message for the caller's mistakes.
fn finish(outcome: Outcome<()>) -> anyhow::Result<ExitCode> {
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Failure::Refused(message)) => {
            eprintln!("error: {message}");
            Ok(ExitCode::from(2))
        }
        Err(Failure::Failed(error)) => Err(error),
    }
}

pub fn users(args: &UsersArgs) -> anyhow::Result<ExitCode> {
    let target = Target::open(&args.place)?;
    finish(match &args.action {
        UsersAction::List => target.users().map(|users| {
            println!(
                "{:<18} {:<32} {:<24} {:<9} ROLES",
                "ID", "EMAIL", "NAME", "STATUS"
            );
            for user in users {
                println!(
                    "{:<18} {:<32} {:<24} {:<9} {}",
                    user.id,
                    user.email,
                    user.name,
                    user.status,
                    user.roles.join(", ")
                );
            }
        }),
        UsersAction::Create { email, name, roles } => target
            .create_user(email, name, roles)
            .map(|id| println!("created user {} ({id})", email.trim().to_lowercase())),
        UsersAction::Disable { user } => target
            .set_status(user, UserStatus::Disabled)
            .map(|email| println!("user {email} is disabled")),
        UsersAction::Enable { user } => target
            .set_status(user, UserStatus::Active)
            .map(|email| println!("user {email} is active")),
    })
}

pub fn keys(args: &KeysArgs) -> anyhow::Result<ExitCode> {
    let target = Target::open(&args.place)?;
    finish(match &args.action {
        KeysAction::List => target.keys().map(|keys| {
            println!(
                "{:<18} {:<12} {:<6} {:<18} {:<28} NAME",
                "ID", "KIND", "LAST4", "OWNER", "LAST USED"
            );
            for key in keys {
                println!(
                    "{:<18} {:<12} {:<6} {:<18} {:<28} {}",
                    key.id, key.kind, key.last4, key.owner, key.last_used, key.name
                );
            }
        }),
        KeysAction::Create {
            user,
            kind,
            name,
            scopes,
        } => {
            let kind = match kind {
                KeyKindArg::Api => KeyKind::Api,
                KeyKindArg::Application => KeyKind::Application,
            };
            target
                .create_key(kind, name, user.as_deref(), scopes)
                .map(|(id, text)| {
                    println!("{text}");
                    eprintln!("created key {id} (shown once; only its hash is kept)");
                })
        }
        KeysAction::Revoke { id } => target.revoke_key(id).map(|()| println!("revoked key {id}")),
    })
}

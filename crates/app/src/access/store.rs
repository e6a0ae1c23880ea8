//! Users, roles and keys, kept in `<data>/keys.json` (replaced whole and
//! durably on each change; they are few). Keys are stored as their
//! SHA-256 (a slow hash buys nothing for 128-bit random keys) with the
//! last four characters to recognise them by, and are compared in
//! constant time. When each key was last used is noted in memory and
//! written lazily to `<data>/key-usage.json`.
//!
//! A change is planned on a copy ([`Access::plan`]), which the service
//! records in the audit trail before keeping it ([`Access::apply`]). No
//! change may leave nobody able to manage: the last active Admin with an
//! application key stays.
//!
//! Files written before users existed hold keys only: on open they become
//! the keys of a bootstrap Admin user, so nothing that worked stops
//! working.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

use super::edit::{Edit, UserChange, has_active_admin};
use super::permission::{ManagedRole, Permission};
use super::records::{AccessFile, KeyKind, Role, StoredKey, User, UserStatus};

/// Who a valid key belongs to, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub name: String,
    /// The application key presented; `None` for a password or single
    /// sign-on session.
    pub key_id: Option<String>,
    pub permissions: BTreeSet<Permission>,
}

impl Principal {
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// Keys created at this start, to show the operator once.
#[derive(Debug, Default)]
pub struct CreatedKeys {
    pub api: Option<String>,
    pub application: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid key file: {source}")]
    Malformed {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("generating a key: {0}")]
    Random(String),
    #[error("{0}")]
    Invalid(String),
    /// The name or email is taken.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// Another change came first; the planned one was not kept.
    #[error("users, roles or keys changed meanwhile: try again")]
    Stale,
}

/// The bootstrap administrator that keys from before users belong to.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// The SHA-256 (hex) a key is kept as.
pub fn digest(key: &str) -> String {
    Sha256::digest(key.trim().as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Equal hashes, compared without stopping at the first difference.
fn same_hash(left: &str, right: &str) -> bool {
    left.len() == right.len()
        && left
            .bytes()
            .zip(right.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, KeyError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|error| KeyError::Random(error.to_string()))?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// A new key's text: 128 random bits in hex.
pub fn new_key_text() -> Result<String, KeyError> {
    random_hex(16)
}

pub(crate) fn last4(key: &str) -> String {
    let key = key.trim();
    key[key.len().saturating_sub(4)..].to_owned()
}

pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// The file as it is now, and how many changes it has seen.
#[derive(Debug)]
struct Current {
    file: AccessFile,
    version: u64,
}

/// When keys were last used (key id → RFC 3339), and whether that is
/// newer than what `key-usage.json` holds.
#[derive(Debug, Default)]
struct Usage {
    last_used: BTreeMap<String, String>,
    unsaved: bool,
}

/// A change worked out on a copy, not yet kept.
#[derive(Debug)]
pub struct Planned<T> {
    next: AccessFile,
    version: u64,
    pub result: T,
}

/// The users, roles and keys a server accepts.
#[derive(Debug)]
pub struct Access {
    /// Where changes are written; `None` for an empty, unsaved set.
    path: Option<PathBuf>,
    current: Mutex<Current>,
    usage: Mutex<Usage>,
}

impl Access {
    /// Loads `<data>/keys.json`. Keys given by the environment are added if
    /// new; on first start, a missing key of either kind is generated and
    /// returned so it can be printed. Every key without an owner becomes
    /// the bootstrap Admin's.
    pub fn open(
        data_dir: &Path,
        env_api: Option<&str>,
        env_application: Option<&str>,
    ) -> Result<(Access, CreatedKeys), KeyError> {
        let path = data_dir.join("keys.json");
        let mut file: AccessFile = read_json(&path)?.unwrap_or_default();
        let mut changed = migrate(&mut file)?;
        let mut created = CreatedKeys::default();
        for (kind, from_env) in [
            (KeyKind::Api, env_api),
            (KeyKind::Application, env_application),
        ] {
            let from_env = from_env.map(str::trim).filter(|key| !key.is_empty());
            let name = if from_env.is_some() {
                "from the environment"
            } else {
                "generated at first start"
            };
            let key = match from_env {
                Some(key) => {
                    let hash = digest(key);
                    if file
                        .keys
                        .iter()
                        .any(|stored| stored.kind == kind && same_hash(&stored.sha256, &hash))
                    {
                        continue;
                    }
                    key.to_owned()
                }
                None if file.keys.iter().any(|stored| stored.kind == kind) => continue,
                None => {
                    let key = new_key_text()?;
                    match kind {
                        KeyKind::Api => created.api = Some(key.clone()),
                        KeyKind::Application => created.application = Some(key.clone()),
                    }
                    key
                }
            };
            Edit { file: &mut file }.create_key(
                kind,
                &key,
                name,
                BOOTSTRAP_ADMIN,
                BOOTSTRAP_ADMIN,
                None,
            )?;
            changed = true;
        }
        let usage_path = data_dir.join("key-usage.json");
        let last_used: BTreeMap<String, String> = read_json(&usage_path)?.unwrap_or_default();
        let access = Access {
            path: Some(path),
            current: Mutex::new(Current { file, version: 0 }),
            usage: Mutex::new(Usage {
                last_used,
                unsaved: false,
            }),
        };
        if changed {
            access.save(&access.lock().file)?;
        }
        Ok((access, created))
    }

    /// No keys at all: for the command line working on a stopped data
    /// directory, where nobody signs in.
    pub fn none() -> Access {
        Access {
            path: None,
            current: Mutex::new(Current {
                file: AccessFile::default(),
                version: 0,
            }),
            usage: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, file: &AccessFile) -> Result<(), KeyError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        write_json(path, file)
    }

    /// Works out `change` on a copy: nothing is kept until
    /// [`Access::apply`]. Refused when it would leave no active Admin with
    /// an application key (where there was one).
    pub fn plan<T>(
        &self,
        change: impl FnOnce(&mut Edit<'_>) -> Result<T, KeyError>,
    ) -> Result<Planned<T>, KeyError> {
        let current = self.lock();
        let mut next = current.file.clone();
        let result = change(&mut Edit { file: &mut next })?;
        if has_active_admin(&current.file) && !has_active_admin(&next) {
            return Err(KeyError::Invalid(
                "this would leave no active Admin with an application key: make another user Admin (with a key) first"
                    .into(),
            ));
        }
        Ok(Planned {
            next,
            version: current.version,
            result,
        })
    }

    /// Keeps a planned change, durably; refused ([`KeyError::Stale`]) if
    /// another was kept since it was planned. Blocks (it writes the file).
    pub fn apply<T>(&self, planned: Planned<T>) -> Result<T, KeyError> {
        let mut current = self.lock();
        if current.version != planned.version {
            return Err(KeyError::Stale);
        }
        self.save(&planned.next)?;
        current.file = planned.next;
        current.version += 1;
        Ok(planned.result)
    }

    /// Plans and keeps `change` at once (the command line, tests).
    pub fn change<T>(
        &self,
        change: impl FnOnce(&mut Edit<'_>) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        self.apply(self.plan(change)?)
    }

    /// True if `presented` is a valid key of `kind` (an application key's
    /// owner active).
    pub fn accepts(&self, kind: KeyKind, presented: &str) -> bool {
        match kind {
            KeyKind::Api => {
                let hash = digest(presented);
                let found = self
                    .lock()
                    .file
                    .keys
                    .iter()
                    .find(|stored| stored.kind == kind && same_hash(&stored.sha256, &hash))
                    .map(|stored| stored.id.clone());
                found.inspect(|id| self.note_use(id)).is_some()
            }
            KeyKind::Application => self.authenticate(presented).is_some(),
        }
    }

    /// The owner of the application key `presented` and what the key may
    /// do: the union of the owner's roles, narrowed by the key's scopes.
    /// `None` for an unknown key or a disabled owner.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        self.authenticate_digest(&digest(presented))
    }

    /// [`Access::authenticate`] by the key's SHA-256 (hex), as a web UI
    /// session keeps it: a key revoked or an owner disabled ends the
    /// session at its next request.
    pub fn authenticate_digest(&self, hash: &str) -> Option<Principal> {
        let (principal, key_id) = {
            let current = self.lock();
            let file = &current.file;
            let key = file.keys.iter().find(|stored| {
                stored.kind == KeyKind::Application && same_hash(&stored.sha256, hash)
            })?;
            let user = file
                .users
                .iter()
                .find(|user| Some(&user.id) == key.owner.as_ref())?;
            if user.status != UserStatus::Active {
                return None;
            }
            let mut permissions = permissions_of(file, user);
            if let Some(scopes) = &key.scopes {
                permissions.retain(|permission| scopes.contains(permission));
            }
            let principal = Principal {
                user_id: user.id.clone(),
                email: user.email.clone(),
                name: user.name.clone(),
                key_id: Some(key.id.clone()),
                permissions,
            };
            (principal, key.id.clone())
        };
        self.note_use(&key_id);
        Some(principal)
    }

    /// The active user `id` and the union of their roles' permissions, as
    /// a password or single sign-on session acts.
    pub fn principal_of_user(&self, id: &str) -> Option<Principal> {
        let current = self.lock();
        let user = current
            .file
            .users
            .iter()
            .find(|user| user.id == id && user.status == UserStatus::Active)?;
        Some(Principal {
            user_id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            key_id: None,
            permissions: permissions_of(&current.file, user),
        })
    }

    /// The user with this email (any status).
    pub fn user_by_email(&self, email: &str) -> Option<User> {
        let wanted = email.trim().to_lowercase();
        self.lock()
            .file
            .users
            .iter()
            .find(|user| user.email == wanted)
            .cloned()
    }

    /// Notes that the key `id` was used now.
    fn note_use(&self, id: &str) {
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        usage.last_used.insert(id.to_owned(), now());
        usage.unsaved = true;
    }

    /// When the key `id` was last used, if since usage was first noted.
    pub fn last_used(&self, id: &str) -> Option<String> {
        self.usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_used
            .get(id)
            .cloned()
    }

    /// Writes when keys were last used, if that changed. Blocks.
    pub fn save_usage(&self) -> Result<(), KeyError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let last_used = {
            let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
            if !usage.unsaved {
                return Ok(());
            }
            usage.unsaved = false;
            let known: BTreeSet<String> = self.keys().into_iter().map(|key| key.id).collect();
            usage.last_used.retain(|id, _| known.contains(id));
            usage.last_used.clone()
        };
        write_json(&path.with_file_name("key-usage.json"), &last_used)
    }

    pub fn users(&self) -> Vec<User> {
        self.lock().file.users.clone()
    }

    pub fn roles(&self) -> Vec<Role> {
        self.lock().file.roles.clone()
    }

    /// Every key (ids, names, owners; the hashes stay inside).
    pub fn keys(&self) -> Vec<StoredKey> {
        self.lock().file.keys.clone()
    }

    /// A new active user with the roles named (ids or names).
    pub fn create_user(&self, email: &str, name: &str, roles: &[String]) -> Result<User, KeyError> {
        self.change(|edit| edit.create_user(email, name, roles))
    }

    /// A custom role of `permissions`.
    pub fn create_role(
        &self,
        name: &str,
        permissions: BTreeSet<Permission>,
    ) -> Result<Role, KeyError> {
        self.change(|edit| edit.create_role(name, permissions))
    }

    /// Enables or disables the user `id` (by id or email).
    pub fn set_user_status(&self, id: &str, status: UserStatus) -> Result<User, KeyError> {
        self.change(|edit| {
            let change = UserChange {
                status: Some(status),
                ..UserChange::default()
            };
            edit.update_user(id, change).map(|(_, after)| after)
        })
    }

    /// A new key of `kind` (for application keys, owned by `owner`), shown
    /// this once; `created_by` is who made it.
    pub fn create_key(
        &self,
        kind: KeyKind,
        name: &str,
        owner: &str,
        created_by: &str,
    ) -> Result<(StoredKey, String), KeyError> {
        let key = new_key_text()?;
        let stored =
            self.change(|edit| edit.create_key(kind, &key, name, owner, created_by, None))?;
        Ok((stored, key))
    }

    /// Revokes (deletes) the key `id`.
    pub fn revoke_key(&self, id: &str) -> Result<StoredKey, KeyError> {
        self.change(|edit| edit.revoke_key(id))
    }
}

/// The union of the permissions of `user`'s roles.
fn permissions_of(file: &AccessFile, user: &User) -> BTreeSet<Permission> {
    file.roles
        .iter()
        .filter(|role| user.roles.contains(&role.id))
        .flat_map(|role| role.permissions.iter().copied())
        .collect()
}

/// The JSON at `path`, `None` if there is no file.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, KeyError> {
    match fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| KeyError::Malformed {
                    path: path.to_owned(),
                    source,
                })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Io {
            context: format!("reading {}", path.display()),
            source,
        }),
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), KeyError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| KeyError::Malformed {
        path: path.to_owned(),
        source,
    })?;
    evident_durable::replace(path, &bytes).map_err(|source| KeyError::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

/// Brings a file written before users and roles up to date: the managed
/// roles, the bootstrap Admin, ids and owners for its keys. Whether
/// anything changed.
fn migrate(file: &mut AccessFile) -> Result<bool, KeyError> {
    let mut changed = false;
    for role in ManagedRole::ALL {
        let permissions = role.permissions();
        match file.roles.iter_mut().find(|known| known.id == role.id()) {
            Some(known) if known.permissions == permissions && known.managed => {}
            Some(known) => {
                known.permissions = permissions;
                known.managed = true;
                changed = true;
            }
            None => {
                file.roles.push(Role {
                    id: role.id().to_owned(),
                    name: role.name().to_owned(),
                    permissions,
                    managed: true,
                    created: Some(now()),
                    modified: None,
                });
                changed = true;
            }
        }
    }
    if file.users.is_empty() {
        file.users.push(User {
            id: BOOTSTRAP_ADMIN.to_owned(),
            email: "admin@localhost".to_owned(),
            name: "Administrator".to_owned(),
            status: UserStatus::Active,
            roles: vec![ManagedRole::Admin.id().to_owned()],
            created: now(),
            modified: None,
            password: None,
            sso_subject: None,
        });
        changed = true;
    }
    for key in &mut file.keys {
        if key.id.is_empty() {
            key.id = random_hex(8)?;
            changed = true;
        }
        if key.kind == KeyKind::Application && key.owner.is_none() {
            key.owner = Some(BOOTSTRAP_ADMIN.to_owned());
            changed = true;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_keys_and_later_starts_keep_them() {
        let directory = tempfile::tempdir().expect("temp dir");
        let (keys, created) =
            Access::open(directory.path(), None, Some("my-app-key")).expect("open");
        let api = created.api.expect("an api key is generated");
        assert!(
            created.application.is_none(),
            "the environment's key is used"
        );
        assert!(keys.accepts(KeyKind::Api, &api));
        assert!(keys.accepts(KeyKind::Application, "my-app-key"));
        assert!(!keys.accepts(KeyKind::Application, &api));
        let text = fs::read_to_string(directory.path().join("keys.json")).expect("file");
        assert!(
            !text.contains(&api) && !text.contains("my-app-key"),
            "only hashes are stored"
        );

        let (keys, created) = Access::open(directory.path(), None, None).expect("reopen");
        assert!(created.api.is_none() && created.application.is_none());
        assert!(keys.accepts(KeyKind::Api, &api));
        let admin = keys.authenticate("my-app-key").expect("the admin's key");
        assert_eq!(admin.user_id, BOOTSTRAP_ADMIN);
        assert!(admin.may(Permission::UserAccessManage));
    }

    #[test]
    fn a_file_from_before_users_becomes_the_bootstrap_admins() {
        let directory = tempfile::tempdir().expect("temp dir");
        let old = serde_json::json!({"keys": [
            {"kind": "api", "sha256": digest("old-api"), "created": "2026-01-01T00:00:00Z"},
            {"kind": "application", "sha256": digest("old-app"), "created": "2026-01-01T00:00:00Z"},
        ]});
        fs::write(directory.path().join("keys.json"), old.to_string()).expect("write");
        let (access, created) = Access::open(directory.path(), None, None).expect("open");
        assert!(created.api.is_none() && created.application.is_none());
        assert!(access.accepts(KeyKind::Api, "old-api"));
        let principal = access.authenticate("old-app").expect("still valid");
        assert_eq!(principal.user_id, BOOTSTRAP_ADMIN);
        assert_eq!(principal.permissions, ManagedRole::Admin.permissions());
        assert!(access.keys().iter().all(|key| !key.id.is_empty()));
    }

    #[test]
    fn roles_keys_and_the_last_admin() -> Result<(), KeyError> {
        let directory = tempfile::tempdir().expect("temp dir");
        let (access, _) = Access::open(directory.path(), Some("api"), Some("admin-key"))?;
        let reader = access.create_user("Reader@Example.com", "Reader", &["Read Only".into()])?;
        assert_eq!(reader.email, "reader@example.com");
        assert!(matches!(
            access.create_user("reader@example.com", "Again", &["read_only".into()]),
            Err(KeyError::Conflict(_))
        ));
        assert!(matches!(
            access.create_user("x@example.com", "X", &["root".into()]),
            Err(KeyError::Invalid(_))
        ));
        let (stored, key) = access.create_key(
            KeyKind::Application,
            "laptop",
            &reader.email,
            BOOTSTRAP_ADMIN,
        )?;
        assert_eq!(stored.last4.as_deref(), Some(&key[key.len() - 4..]));
        let principal = access.authenticate(&key).expect("valid");
        assert_eq!(principal.permissions, ManagedRole::ReadOnly.permissions());

        access.set_user_status(&reader.id, UserStatus::Disabled)?;
        assert!(access.authenticate(&key).is_none(), "a disabled user's key");
        access.set_user_status(&reader.id, UserStatus::Active)?;
        access.revoke_key(&stored.id)?;
        assert!(access.authenticate(&key).is_none(), "a revoked key");

        assert!(matches!(
            access.set_user_status(BOOTSTRAP_ADMIN, UserStatus::Disabled),
            Err(KeyError::Invalid(_))
        ));
        let admin_key = access
            .keys()
            .into_iter()
            .find(|key| {
                key.kind == KeyKind::Application && key.owner.as_deref() == Some(BOOTSTRAP_ADMIN)
            })
            .expect("the admin's key");
        assert!(matches!(
            access.revoke_key(&admin_key.id),
            Err(KeyError::Invalid(_))
        ));
        // Kept across a restart.
        let (again, _) = Access::open(directory.path(), None, None)?;
        assert_eq!(again.users().len(), 2);
        assert!(again.authenticate("admin-key").is_some());
        Ok(())
    }
}

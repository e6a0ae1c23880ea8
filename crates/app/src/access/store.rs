//! Users, roles and keys, kept in `<data>/keys.json` (replaced whole and
//! durably on each change; they are few). Keys are stored as their
//! SHA-256 (a slow hash buys nothing for 128-bit random keys) with the
//! last four characters to recognise them by, and are compared in
//! constant time.
//!
//! Files written before users existed hold keys only: on open they become
//! the keys of a bootstrap Admin user, so nothing that worked stops
//! working.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::permission::{ManagedRole, Permission};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Sends events (`DD-API-KEY`).
    Api,
    /// Acts as its owner (`DD-APPLICATION-KEY`).
    Application,
}

/// A key as kept: its hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    #[serde(default)]
    pub id: String,
    pub kind: KeyKind,
    sha256: String,
    #[serde(default)]
    pub name: String,
    /// The last four characters, shown to tell keys apart.
    #[serde(default)]
    pub last4: Option<String>,
    /// The user an application key acts as.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    pub created: String,
    /// An application key's narrower permissions, when given.
    #[serde(default)]
    pub scopes: Option<BTreeSet<Permission>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub status: UserStatus,
    /// Role ids.
    pub roles: Vec<String>,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub permissions: BTreeSet<Permission>,
    /// Admin, Standard and Read Only: their permissions are fixed.
    #[serde(default)]
    pub managed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AccessFile {
    keys: Vec<StoredKey>,
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    roles: Vec<Role>,
}

/// Who a valid key belongs to, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub key_id: String,
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
    #[error("{0}")]
    NotFound(String),
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

fn random_hex(bytes: usize) -> Result<String, KeyError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|error| KeyError::Random(error.to_string()))?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn last4(key: &str) -> String {
    let key = key.trim();
    key[key.len().saturating_sub(4)..].to_owned()
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// The users, roles and keys a server accepts.
#[derive(Debug)]
pub struct Access {
    /// Where changes are written; `None` for an empty, unsaved set.
    path: Option<PathBuf>,
    file: Mutex<AccessFile>,
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
        let mut file: AccessFile = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| KeyError::Malformed {
                path: path.clone(),
                source,
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => AccessFile::default(),
            Err(source) => {
                return Err(KeyError::Io {
                    context: format!("reading {}", path.display()),
                    source,
                });
            }
        };
        let mut changed = migrate(&mut file)?;
        let mut created = CreatedKeys::default();
        for (kind, from_env) in [
            (KeyKind::Api, env_api),
            (KeyKind::Application, env_application),
        ] {
            let from_env = from_env.map(str::trim).filter(|key| !key.is_empty());
            if let Some(key) = from_env {
                let hash = digest(key);
                if !file
                    .keys
                    .iter()
                    .any(|stored| stored.kind == kind && same_hash(&stored.sha256, &hash))
                {
                    file.keys
                        .push(new_key(kind, key, BOOTSTRAP_ADMIN, "from the environment")?);
                    changed = true;
                }
            } else if !file.keys.iter().any(|stored| stored.kind == kind) {
                let key = random_hex(16)?;
                file.keys.push(new_key(
                    kind,
                    &key,
                    BOOTSTRAP_ADMIN,
                    "generated at first start",
                )?);
                changed = true;
                match kind {
                    KeyKind::Api => created.api = Some(key),
                    KeyKind::Application => created.application = Some(key),
                }
            }
        }
        let access = Access {
            path: Some(path),
            file: Mutex::new(file),
        };
        if changed {
            access.save(&access.lock())?;
        }
        Ok((access, created))
    }

    /// No keys at all: for the command line working on a stopped data
    /// directory, where nobody signs in.
    pub fn none() -> Access {
        Access {
            path: None,
            file: Mutex::new(AccessFile::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AccessFile> {
        self.file.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, file: &AccessFile) -> Result<(), KeyError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = serde_json::to_vec_pretty(file).map_err(|source| KeyError::Malformed {
            path: path.clone(),
            source,
        })?;
        evident_durable::replace(path, &bytes).map_err(|source| KeyError::Io {
            context: format!("writing {}", path.display()),
            source,
        })
    }

    /// Applies `change` and saves; nothing changes when either fails.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut AccessFile) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        let mut file = self.lock();
        let mut next = file.clone();
        let result = change(&mut next)?;
        self.save(&next)?;
        *file = next;
        Ok(result)
    }

    /// True if `presented` is a valid key of `kind` (an application key's
    /// owner active).
    pub fn accepts(&self, kind: KeyKind, presented: &str) -> bool {
        match kind {
            KeyKind::Api => {
                let hash = digest(presented);
                self.lock()
                    .keys
                    .iter()
                    .any(|stored| stored.kind == kind && same_hash(&stored.sha256, &hash))
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
        let file = self.lock();
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
        let mut permissions: BTreeSet<Permission> = file
            .roles
            .iter()
            .filter(|role| user.roles.contains(&role.id))
            .flat_map(|role| role.permissions.iter().copied())
            .collect();
        if let Some(scopes) = &key.scopes {
            permissions.retain(|permission| scopes.contains(permission));
        }
        Some(Principal {
            user_id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            key_id: key.id.clone(),
            permissions,
        })
    }

    pub fn users(&self) -> Vec<User> {
        self.lock().users.clone()
    }

    pub fn roles(&self) -> Vec<Role> {
        self.lock().roles.clone()
    }

    /// Every key, without its hash's use to anyone (ids, names, owners).
    pub fn keys(&self) -> Vec<StoredKey> {
        self.lock().keys.clone()
    }

    /// A new active user with the roles named (ids or names).
    pub fn create_user(&self, email: &str, name: &str, roles: &[String]) -> Result<User, KeyError> {
        let email = email.trim().to_lowercase();
        if email.is_empty() || !email.contains('@') || email.len() > 320 {
            return Err(KeyError::Invalid(format!(
                "{email:?} is not an email address"
            )));
        }
        let id = random_hex(8)?;
        self.change(|file| {
            if file.users.iter().any(|user| user.email == email) {
                return Err(KeyError::Invalid(format!(
                    "a user with the email {email} exists already"
                )));
            }
            let roles = role_ids(file, roles)?;
            let user = User {
                id: id.clone(),
                email: email.clone(),
                name: name.trim().to_owned(),
                status: UserStatus::Active,
                roles,
                created: now(),
            };
            file.users.push(user.clone());
            Ok(user)
        })
    }

    /// A custom role of `permissions`.
    pub fn create_role(
        &self,
        name: &str,
        permissions: BTreeSet<Permission>,
    ) -> Result<Role, KeyError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(KeyError::Invalid(
                "a role's name has 1 to 200 characters".into(),
            ));
        }
        let id = random_hex(8)?;
        self.change(|file| {
            if file
                .roles
                .iter()
                .any(|role| role.name.eq_ignore_ascii_case(name))
            {
                return Err(KeyError::Invalid(format!(
                    "a role named {name:?} exists already"
                )));
            }
            let role = Role {
                id: id.clone(),
                name: name.to_owned(),
                permissions,
                managed: false,
            };
            file.roles.push(role.clone());
            Ok(role)
        })
    }

    /// Enables or disables the user `id` (by id or email). The last
    /// active Admin cannot be disabled.
    pub fn set_user_status(&self, id: &str, status: UserStatus) -> Result<User, KeyError> {
        self.change(|file| {
            let index = user_index(file, id)?;
            file.users[index].status = status;
            if !has_active_admin(file) {
                return Err(KeyError::Invalid(
                    "this would leave no active Admin: make another user Admin first".into(),
                ));
            }
            Ok(file.users[index].clone())
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
        let key = random_hex(16)?;
        let stored = self.change(|file| {
            let owner = file.users[user_index(file, owner)?].id.clone();
            let mut stored = new_key(kind, &key, &owner, name)?;
            stored.created_by = Some(created_by.to_owned());
            if kind == KeyKind::Api {
                stored.owner = None;
            }
            file.keys.push(stored.clone());
            Ok(stored)
        })?;
        Ok((stored, key))
    }

    /// Revokes (deletes) the key `id`. The last application key of the
    /// last active Admin stays.
    pub fn revoke_key(&self, id: &str) -> Result<StoredKey, KeyError> {
        self.change(|file| {
            let index = file
                .keys
                .iter()
                .position(|key| key.id == id)
                .ok_or_else(|| KeyError::NotFound(format!("no key with id {id:?}")))?;
            let removed = file.keys.remove(index);
            if !has_active_admin(file) {
                return Err(KeyError::Invalid(
                    "this is the last key of the last active Admin: create another first".into(),
                ));
            }
            Ok(removed)
        })
    }
}

fn new_key(kind: KeyKind, key: &str, owner: &str, name: &str) -> Result<StoredKey, KeyError> {
    Ok(StoredKey {
        id: random_hex(8)?,
        kind,
        sha256: digest(key),
        name: name.to_owned(),
        last4: Some(last4(key)),
        owner: (kind == KeyKind::Application).then(|| owner.to_owned()),
        created_by: Some(owner.to_owned()),
        created: now(),
        scopes: None,
    })
}

fn user_index(file: &AccessFile, id: &str) -> Result<usize, KeyError> {
    let wanted = id.trim().to_lowercase();
    file.users
        .iter()
        .position(|user| user.id == id || user.email == wanted)
        .ok_or_else(|| KeyError::NotFound(format!("no user {id:?}")))
}

fn role_ids(file: &AccessFile, roles: &[String]) -> Result<Vec<String>, KeyError> {
    roles
        .iter()
        .map(|wanted| {
            file.roles
                .iter()
                .find(|role| role.id == *wanted || role.name.eq_ignore_ascii_case(wanted))
                .map(|role| role.id.clone())
                .ok_or_else(|| KeyError::Invalid(format!("no role {wanted:?}")))
        })
        .collect()
}

/// An active Admin who holds an application key: someone can still manage.
fn has_active_admin(file: &AccessFile) -> bool {
    file.users.iter().any(|user| {
        user.status == UserStatus::Active
            && user
                .roles
                .iter()
                .any(|role| role == ManagedRole::Admin.id())
            && file
                .keys
                .iter()
                .any(|key| key.kind == KeyKind::Application && key.owner.as_ref() == Some(&user.id))
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
                });
                changed = true;
            }
        }
    }
    if !file.users.iter().any(|user| user.id == BOOTSTRAP_ADMIN) && file.users.is_empty() {
        file.users.push(User {
            id: BOOTSTRAP_ADMIN.to_owned(),
            email: "admin@localhost".to_owned(),
            name: "Administrator".to_owned(),
            status: UserStatus::Active,
            roles: vec![ManagedRole::Admin.id().to_owned()],
            created: now(),
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
            Err(KeyError::Invalid(_))
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

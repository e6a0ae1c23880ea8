//! The changes one can make to users, roles and keys, applied to a copy of
//! the file ([`super::Access::plan`]) so that a refused change leaves
//! nothing behind and an accepted one can be recorded before it is kept.

use std::collections::BTreeSet;

use super::permission::{ManagedRole, Permission};
use super::records::{AccessFile, KeyKind, Role, StoredKey, User, UserStatus};
use super::store::{KeyError, digest, last4, now, random_hex};

/// A change under way.
#[derive(Debug)]
pub struct Edit<'a> {
    pub(crate) file: &'a mut AccessFile,
}

/// The fields of a user to change; `None` leaves one as it is.
#[derive(Debug, Default, Clone)]
pub struct UserChange {
    pub email: Option<String>,
    pub name: Option<String>,
    pub status: Option<UserStatus>,
}

/// Permission names as given by a caller: each must be known.
pub fn parse_permissions<S: AsRef<str>>(names: &[S]) -> Result<BTreeSet<Permission>, KeyError> {
    names
        .iter()
        .map(|name| {
            let name = name.as_ref();
            Permission::parse(name.trim()).ok_or_else(|| {
                KeyError::Invalid(format!(
                    "{name:?} is not a permission: {}",
                    Permission::ALL.map(Permission::name).join(", ")
                ))
            })
        })
        .collect()
}

fn clean_email(email: &str) -> Result<String, KeyError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 320
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(KeyError::Invalid(format!(
            "{email:?} is not an email address"
        )))
    }
}

fn clean_name(name: &str, what: &str) -> Result<String, KeyError> {
    let name = name.trim();
    if name.len() > 200 || name.chars().any(char::is_control) {
        return Err(KeyError::Invalid(format!(
            "a {what}'s name has at most 200 characters, none of them control characters"
        )));
    }
    Ok(name.to_owned())
}

impl Edit<'_> {
    fn user_index(&self, id: &str) -> Result<usize, KeyError> {
        let wanted = id.trim().to_lowercase();
        self.file
            .users
            .iter()
            .position(|user| user.id == id || user.email == wanted)
            .ok_or_else(|| KeyError::NotFound(format!("no user {id:?}")))
    }

    fn role_index(&self, id: &str) -> Result<usize, KeyError> {
        self.file
            .roles
            .iter()
            .position(|role| role.id == id || role.name.eq_ignore_ascii_case(id.trim()))
            .ok_or_else(|| KeyError::NotFound(format!("no role {id:?}")))
    }

    fn key_index(&self, id: &str) -> Result<usize, KeyError> {
        self.file
            .keys
            .iter()
            .position(|key| key.id == id)
            .ok_or_else(|| KeyError::NotFound(format!("no key with id {id:?}")))
    }

    pub fn user(&self, id: &str) -> Result<&User, KeyError> {
        Ok(&self.file.users[self.user_index(id)?])
    }

    pub fn key(&self, id: &str) -> Result<&StoredKey, KeyError> {
        Ok(&self.file.keys[self.key_index(id)?])
    }

    /// A new active user with the roles named (ids or names).
    pub fn create_user(
        &mut self,
        email: &str,
        name: &str,
        roles: &[String],
    ) -> Result<User, KeyError> {
        let email = clean_email(email)?;
        let name = clean_name(name, "user")?;
        if self.file.users.iter().any(|user| user.email == email) {
            return Err(KeyError::Conflict(format!(
                "a user with the email {email} exists already"
            )));
        }
        let roles = roles
            .iter()
            .map(|role| {
                self.role_index(role)
                    .map(|index| self.file.roles[index].id.clone())
                    .map_err(|_| KeyError::Invalid(format!("no role {role:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let user = User {
            id: random_hex(8)?,
            email,
            name,
            status: UserStatus::Active,
            roles,
            created: now(),
            modified: None,
            password: None,
            sso_subject: None,
        };
        self.file.users.push(user.clone());
        Ok(user)
    }

    /// Changes the user `id` (by id or email): the user before and after.
    pub fn update_user(&mut self, id: &str, change: UserChange) -> Result<(User, User), KeyError> {
        let index = self.user_index(id)?;
        let before = self.file.users[index].clone();
        if let Some(email) = change.email {
            let email = clean_email(&email)?;
            if self
                .file
                .users
                .iter()
                .any(|user| user.email == email && user.id != before.id)
            {
                return Err(KeyError::Conflict(format!(
                    "a user with the email {email} exists already"
                )));
            }
            self.file.users[index].email = email;
        }
        if let Some(name) = change.name {
            self.file.users[index].name = clean_name(&name, "user")?;
        }
        if let Some(status) = change.status {
            self.file.users[index].status = status;
        }
        self.file.users[index].modified = Some(now());
        Ok((before, self.file.users[index].clone()))
    }

    /// Sets (or, with `None`, removes) the user's password hash.
    pub fn set_password(&mut self, user: &str, hash: Option<String>) -> Result<User, KeyError> {
        let index = self.user_index(user)?;
        self.file.users[index].password = hash;
        self.file.users[index].modified = Some(now());
        Ok(self.file.users[index].clone())
    }

    /// Links the user to a single sign-on identity.
    pub fn set_sso_subject(&mut self, user: &str, subject: &str) -> Result<User, KeyError> {
        let index = self.user_index(user)?;
        self.file.users[index].sso_subject = Some(subject.to_owned());
        Ok(self.file.users[index].clone())
    }

    /// Gives the user the role (`grant`) or takes it away.
    pub fn set_role(&mut self, user: &str, role: &str, grant: bool) -> Result<User, KeyError> {
        let user = self.user_index(user)?;
        let role = self.file.roles[self.role_index(role)?].id.clone();
        let roles = &mut self.file.users[user].roles;
        if grant && !roles.contains(&role) {
            roles.push(role);
        } else if !grant {
            roles.retain(|held| *held != role);
        }
        self.file.users[user].modified = Some(now());
        Ok(self.file.users[user].clone())
    }

    /// A custom role of `permissions`.
    pub fn create_role(
        &mut self,
        name: &str,
        permissions: BTreeSet<Permission>,
    ) -> Result<Role, KeyError> {
        let name = clean_name(name, "role")?;
        if name.is_empty() {
            return Err(KeyError::Invalid("a role needs a name".into()));
        }
        if self
            .file
            .roles
            .iter()
            .any(|role| role.name.eq_ignore_ascii_case(&name))
        {
            return Err(KeyError::Conflict(format!(
                "a role named {name:?} exists already"
            )));
        }
        let role = Role {
            id: random_hex(8)?,
            name,
            permissions,
            managed: false,
            created: Some(now()),
            modified: None,
        };
        self.file.roles.push(role.clone());
        Ok(role)
    }

    fn custom_role_index(&self, id: &str) -> Result<usize, KeyError> {
        let index = self.role_index(id)?;
        if self.file.roles[index].managed {
            return Err(KeyError::Invalid(format!(
                "{} is a managed role: its name and permissions are fixed; make a custom role instead",
                self.file.roles[index].name
            )));
        }
        Ok(index)
    }

    /// Renames the custom role `id` or replaces its permissions: the role
    /// before and after.
    pub fn update_role(
        &mut self,
        id: &str,
        name: Option<&str>,
        permissions: Option<BTreeSet<Permission>>,
    ) -> Result<(Role, Role), KeyError> {
        let index = self.custom_role_index(id)?;
        let before = self.file.roles[index].clone();
        if let Some(name) = name {
            let name = clean_name(name, "role")?;
            if name.is_empty() {
                return Err(KeyError::Invalid("a role needs a name".into()));
            }
            if self
                .file
                .roles
                .iter()
                .any(|role| role.name.eq_ignore_ascii_case(&name) && role.id != before.id)
            {
                return Err(KeyError::Conflict(format!(
                    "a role named {name:?} exists already"
                )));
            }
            self.file.roles[index].name = name;
        }
        if let Some(permissions) = permissions {
            self.file.roles[index].permissions = permissions;
        }
        self.file.roles[index].modified = Some(now());
        Ok((before, self.file.roles[index].clone()))
    }

    /// Adds a permission to the custom role `id` (`grant`) or removes it.
    pub fn set_permission(
        &mut self,
        id: &str,
        permission: Permission,
        grant: bool,
    ) -> Result<(Role, Role), KeyError> {
        let index = self.custom_role_index(id)?;
        let mut permissions = self.file.roles[index].permissions.clone();
        if grant {
            permissions.insert(permission);
        } else {
            permissions.remove(&permission);
        }
        let id = self.file.roles[index].id.clone();
        self.update_role(&id, None, Some(permissions))
    }

    /// Deletes the custom role `id`; its users lose it.
    pub fn delete_role(&mut self, id: &str) -> Result<Role, KeyError> {
        let index = self.custom_role_index(id)?;
        let role = self.file.roles.remove(index);
        for user in &mut self.file.users {
            user.roles.retain(|held| *held != role.id);
        }
        Ok(role)
    }

    /// A new key of `kind` with the text `key` (for application keys,
    /// owned by `owner`); `created_by` is who made it.
    pub fn create_key(
        &mut self,
        kind: KeyKind,
        key: &str,
        name: &str,
        owner: &str,
        created_by: &str,
        scopes: Option<BTreeSet<Permission>>,
    ) -> Result<StoredKey, KeyError> {
        let owner = self.file.users[self.user_index(owner)?].id.clone();
        let stored = StoredKey {
            id: random_hex(8)?,
            kind,
            sha256: digest(key),
            name: clean_name(name, "key")?,
            last4: Some(last4(key)),
            owner: (kind == KeyKind::Application).then_some(owner),
            created_by: Some(created_by.to_owned()),
            created: now(),
            modified: None,
            scopes: scopes.filter(|_| kind == KeyKind::Application),
        };
        self.file.keys.push(stored.clone());
        Ok(stored)
    }

    /// Renames the key `id` or changes its scopes (`Some(None)`: none, the
    /// owner's permissions): the key before and after.
    pub fn update_key(
        &mut self,
        id: &str,
        name: Option<&str>,
        scopes: Option<Option<BTreeSet<Permission>>>,
    ) -> Result<(StoredKey, StoredKey), KeyError> {
        let index = self.key_index(id)?;
        let before = self.file.keys[index].clone();
        if let Some(name) = name {
            self.file.keys[index].name = clean_name(name, "key")?;
        }
        if let Some(scopes) = scopes {
            if before.kind == KeyKind::Api {
                return Err(KeyError::Invalid("an API key has no scopes".into()));
            }
            self.file.keys[index].scopes = scopes;
        }
        self.file.keys[index].modified = Some(now());
        Ok((before, self.file.keys[index].clone()))
    }

    /// Revokes (deletes) the key `id`.
    pub fn revoke_key(&mut self, id: &str) -> Result<StoredKey, KeyError> {
        let index = self.key_index(id)?;
        Ok(self.file.keys.remove(index))
    }
}

/// An active Admin who holds an application key: someone can still manage.
pub(crate) fn has_active_admin(file: &AccessFile) -> bool {
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

//! What `keys.json` holds: users, roles and keys (keys as their hash).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::permission::Permission;

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
    pub(crate) sha256: String,
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
    #[serde(default)]
    pub modified: Option<String>,
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

impl UserStatus {
    pub fn name(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
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
    #[serde(default)]
    pub modified: Option<String>,
    /// The argon2id PHC string of a local password, when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The issuer and subject of a single sign-on identity, once used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_subject: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub permissions: BTreeSet<Permission>,
    /// Admin, Standard and Read Only: their permissions are fixed.
    #[serde(default)]
    pub managed: bool,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub modified: Option<String>,
}

/// The whole file, replaced at each change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AccessFile {
    pub(crate) keys: Vec<StoredKey>,
    #[serde(default)]
    pub(crate) users: Vec<User>,
    #[serde(default)]
    pub(crate) roles: Vec<Role>,
}

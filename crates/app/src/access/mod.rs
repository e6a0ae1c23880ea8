//! Who may do what: users with roles, roles made of named permissions,
//! and the keys that act as them.
//!
//! - [`permission`]: the permissions and Datadog's managed roles (Admin,
//!   Standard, Read Only);
//! - [`records`]: users, roles and keys as `keys.json` keeps them;
//! - [`edit`]: the changes one can make, worked out on a copy;
//! - [`store`]: [`Access`], the file and its changes, the [`Principal`]
//!   an application key authenticates as, when keys were last used;
//! - [`manage`]: the same changes as operations of the service, each
//!   recorded in the audit trail before it is kept;
//! - [`password`]: local passwords (argon2id);
//! - [`signin`]: signing in to the web UI, failures counted and locked
//!   out;
//! - [`sso`]: single sign-on (OpenID Connect, authorization code with
//!   PKCE), users made on first sign-in;
//! - [`failures`]: failed key checks, counted a window at a time.

pub mod edit;
pub mod failures;
pub mod manage;
pub mod password;
pub mod permission;
pub mod records;
pub mod signin;
pub mod sso;
pub mod store;

pub use edit::{Edit, UserChange, parse_permissions};
pub use permission::{ManagedRole, Permission};
pub use records::{KeyKind, Role, StoredKey, User, UserStatus};
pub use store::{
    Access, BOOTSTRAP_ADMIN, CreatedKeys, KeyError, Planned, Principal, digest, new_key_text,
};

//! Who may do what: users with roles, roles made of named permissions,
//! and the keys that act as them.
//!
//! - [`failures`]: failed key checks, counted a window at a time;
//! - [`permission`]: the permissions and Datadog's managed roles (Admin,
//!   Standard, Read Only);
//! - [`store`]: users, roles and keys in `keys.json` (keys hashed), the
//!   [`Principal`] an application key authenticates as.

pub mod failures;
pub mod permission;
pub mod store;

pub use permission::{ManagedRole, Permission};
pub use store::{
    Access, BOOTSTRAP_ADMIN, CreatedKeys, KeyError, KeyKind, Principal, Role, StoredKey, User,
    UserStatus, digest,
};

//! Users, roles and keys over HTTP, in Datadog's v2 shapes (JSON:API
//! documents: `{"data": {"type", "id", "attributes", "relationships"}}`),
//! so that Datadog's clients (`KeyManagementApi`, `UsersApi`, `RolesApi`)
//! work unchanged. The service records each change before it is
//! answered; these handlers only read documents and write them.
//!
//! - `api_keys`: `/api/v2/api_keys`;
//! - `application_keys`: `/api/v2/application_keys`,
//!   `/api/v2/current_user/application_keys`;
//! - `users`: `/api/v2/users`;
//! - `roles`: `/api/v2/roles` with their permissions and users,
//!   `/api/v2/permissions`.

pub mod api_keys;
pub mod application_keys;
pub mod documents;
pub mod roles;
pub mod users;

//! The read and management routes and the permission each needs: one
//! declaration ([`GUARDED`]) that the router is built from, the README's
//! table and the authorization tests read. A route cannot be served
//! without a line here, and a line without a handler stops the server at
//! start.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use evident_app::access::Permission;

use super::manage::{api_keys, application_keys, roles, users};
use super::{
    AppState, Authenticated, QueryError, SharedState, aggregate, attach_actor, authenticate,
    export, integrity, live, monitors, retention, search, sql, ui, ui_session, views,
};

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A valid credential whose permissions include this one.
    Permission(Permission),
    /// Any valid credential: what every user may do (read the users and
    /// roles, manage their own application keys).
    SignedIn,
}

impl Need {
    /// Whether a caller with `permissions` may use the route.
    pub fn admits(self, permissions: &BTreeSet<Permission>) -> bool {
        match self {
            Need::Permission(permission) => permissions.contains(&permission),
            Need::SignedIn => true,
        }
    }

    /// As the docs name it.
    pub fn name(self) -> &'static str {
        match self {
            Need::Permission(permission) => permission.name(),
            Need::SignedIn => "(any user)",
        }
    }
}

/// One guarded route.
#[derive(Debug, Clone, Copy)]
pub struct Guarded {
    pub method: &'static str,
    pub path: &'static str,
    pub need: Need,
}

const fn route(method: &'static str, path: &'static str, permission: Permission) -> Guarded {
    Guarded {
        method,
        path,
        need: Need::Permission(permission),
    }
}

const fn any_user(method: &'static str, path: &'static str) -> Guarded {
    Guarded {
        method,
        path,
        need: Need::SignedIn,
    }
}

/// What the caller of a guarded route may do, for handlers that must not
/// let a narrowed key grant more than it has.
#[derive(Debug, Clone)]
pub struct Granted(pub BTreeSet<Permission>);

/// Every route that reads events or evident's state, or changes it, with
/// the permission it needs.
pub const GUARDED: &[Guarded] = &[
    route("GET", "/api/v1/query/validate", Permission::AuditLogsRead),
    route(
        "POST",
        "/api/v2/logs/events/search",
        Permission::AuditLogsRead,
    ),
    route("GET", "/api/v2/logs/events", Permission::AuditLogsRead),
    route(
        "POST",
        "/api/v2/audit/events/search",
        Permission::AuditLogsRead,
    ),
    route("GET", "/api/v2/audit/events", Permission::AuditLogsRead),
    route(
        "POST",
        "/api/v2/logs/analytics/aggregate",
        Permission::AuditLogsRead,
    ),
    route("POST", "/api/v1/live", Permission::AuditLogsRead),
    route("GET", "/api/v1/export", Permission::AuditLogsExport),
    route("POST", "/api/v1/sql", Permission::SqlQuery),
    route("GET", "/api/v1/views", Permission::AuditLogsRead),
    route("POST", "/api/v1/views", Permission::SavedViewsWrite),
    route("PATCH", "/api/v1/views/{id}", Permission::SavedViewsWrite),
    route("DELETE", "/api/v1/views/{id}", Permission::SavedViewsWrite),
    any_user("GET", "/api/v1/settings/retention"),
    route(
        "PUT",
        "/api/v1/settings/retention",
        Permission::OrgManagement,
    ),
    route(
        "GET",
        "/api/v1/integrity/checkpoint",
        Permission::IntegrityRead,
    ),
    route(
        "GET",
        "/api/v1/integrity/proof/inclusion",
        Permission::IntegrityRead,
    ),
    route(
        "GET",
        "/api/v1/integrity/proof/consistency",
        Permission::IntegrityRead,
    ),
    // Keys, users and roles, in Datadog's v2 shapes (`manage`).
    route("GET", "/api/v2/api_keys", Permission::ApiKeysWrite),
    route("POST", "/api/v2/api_keys", Permission::ApiKeysWrite),
    route("GET", "/api/v2/api_keys/{id}", Permission::ApiKeysWrite),
    route("PATCH", "/api/v2/api_keys/{id}", Permission::ApiKeysWrite),
    route("DELETE", "/api/v2/api_keys/{id}", Permission::ApiKeysWrite),
    any_user("GET", "/api/v2/current_user/application_keys"),
    any_user("POST", "/api/v2/current_user/application_keys"),
    any_user("GET", "/api/v2/current_user/application_keys/{id}"),
    any_user("PATCH", "/api/v2/current_user/application_keys/{id}"),
    any_user("DELETE", "/api/v2/current_user/application_keys/{id}"),
    route("GET", "/api/v2/application_keys", Permission::ApiKeysWrite),
    route(
        "POST",
        "/api/v2/application_keys",
        Permission::UserAccessManage,
    ),
    route(
        "GET",
        "/api/v2/application_keys/{id}",
        Permission::ApiKeysWrite,
    ),
    route(
        "PATCH",
        "/api/v2/application_keys/{id}",
        Permission::ApiKeysWrite,
    ),
    route(
        "DELETE",
        "/api/v2/application_keys/{id}",
        Permission::ApiKeysWrite,
    ),
    any_user("GET", "/api/v2/users"),
    route("POST", "/api/v2/users", Permission::UserAccessManage),
    any_user("GET", "/api/v2/users/{id}"),
    route("PATCH", "/api/v2/users/{id}", Permission::UserAccessManage),
    route("DELETE", "/api/v2/users/{id}", Permission::UserAccessManage),
    any_user("GET", "/api/v2/users/{id}/permissions"),
    any_user("GET", "/api/v2/roles"),
    route("POST", "/api/v2/roles", Permission::UserAccessManage),
    any_user("GET", "/api/v2/roles/{id}"),
    route("PATCH", "/api/v2/roles/{id}", Permission::UserAccessManage),
    route("DELETE", "/api/v2/roles/{id}", Permission::UserAccessManage),
    any_user("GET", "/api/v2/roles/{id}/permissions"),
    route(
        "POST",
        "/api/v2/roles/{id}/permissions",
        Permission::UserAccessManage,
    ),
    route(
        "DELETE",
        "/api/v2/roles/{id}/permissions",
        Permission::UserAccessManage,
    ),
    any_user("GET", "/api/v2/roles/{id}/users"),
    route(
        "POST",
        "/api/v2/roles/{id}/users",
        Permission::UserAccessManage,
    ),
    route(
        "DELETE",
        "/api/v2/roles/{id}/users",
        Permission::UserAccessManage,
    ),
    any_user("GET", "/api/v2/permissions"),
    any_user("PUT", "/api/v1/current_user/password"),
    // Monitors, in Datadog's v1 shapes, and the channels they notify.
    route("GET", "/api/v1/monitor", Permission::MonitorsRead),
    route("POST", "/api/v1/monitor", Permission::MonitorsWrite),
    route(
        "POST",
        "/api/v1/monitor/validate",
        Permission::MonitorsWrite,
    ),
    route(
        "POST",
        "/api/v1/monitor/notify_test",
        Permission::MonitorsWrite,
    ),
    route("GET", "/api/v1/monitor/{id}", Permission::MonitorsRead),
    route("PUT", "/api/v1/monitor/{id}", Permission::MonitorsWrite),
    route("DELETE", "/api/v1/monitor/{id}", Permission::MonitorsWrite),
    route(
        "POST",
        "/api/v1/monitor/{id}/mute",
        Permission::MonitorsWrite,
    ),
    route(
        "POST",
        "/api/v1/monitor/{id}/unmute",
        Permission::MonitorsWrite,
    ),
    route(
        "GET",
        "/api/v1/integration/webhooks/configuration/webhooks",
        Permission::MonitorsRead,
    ),
    route(
        "POST",
        "/api/v1/integration/webhooks/configuration/webhooks",
        Permission::OrgManagement,
    ),
    route(
        "GET",
        "/api/v1/integration/webhooks/configuration/webhooks/{name}",
        Permission::MonitorsRead,
    ),
    route(
        "PUT",
        "/api/v1/integration/webhooks/configuration/webhooks/{name}",
        Permission::OrgManagement,
    ),
    route(
        "DELETE",
        "/api/v1/integration/webhooks/configuration/webhooks/{name}",
        Permission::OrgManagement,
    ),
    route(
        "GET",
        "/api/v1/integration/slack/configuration/channels",
        Permission::MonitorsRead,
    ),
    route(
        "POST",
        "/api/v1/integration/slack/configuration/channels",
        Permission::OrgManagement,
    ),
    route(
        "GET",
        "/api/v1/integration/slack/configuration/channels/{name}",
        Permission::MonitorsRead,
    ),
    route(
        "PUT",
        "/api/v1/integration/slack/configuration/channels/{name}",
        Permission::OrgManagement,
    ),
    route(
        "DELETE",
        "/api/v1/integration/slack/configuration/channels/{name}",
        Permission::OrgManagement,
    ),
    route(
        "GET",
        "/api/v1/integration/pagerduty/configuration/services",
        Permission::MonitorsRead,
    ),
    route(
        "POST",
        "/api/v1/integration/pagerduty/configuration/services",
        Permission::OrgManagement,
    ),
    route(
        "GET",
        "/api/v1/integration/pagerduty/configuration/services/{name}",
        Permission::MonitorsRead,
    ),
    route(
        "PUT",
        "/api/v1/integration/pagerduty/configuration/services/{name}",
        Permission::OrgManagement,
    ),
    route(
        "DELETE",
        "/api/v1/integration/pagerduty/configuration/services/{name}",
        Permission::OrgManagement,
    ),
];

/// The handler of a declared route.
fn handler(method: &str, path: &str) -> Option<MethodRouter<SharedState>> {
    Some(match (method, path) {
        ("GET", "/api/v1/query/validate") => get(ui::validate),
        ("POST", "/api/v2/logs/events/search") => post(search::search_post::<false>),
        ("GET", "/api/v2/logs/events") => get(search::search_get::<false>),
        ("POST", "/api/v2/audit/events/search") => post(search::search_post::<true>),
        ("GET", "/api/v2/audit/events") => get(search::search_get::<true>),
        ("POST", "/api/v2/logs/analytics/aggregate") => post(aggregate::aggregate),
        ("POST", "/api/v1/live") => post(live::live),
        ("GET", "/api/v1/export") => get(export::export),
        ("POST", "/api/v1/sql") => post(sql::sql),
        ("GET", "/api/v1/views") => get(views::list),
        ("POST", "/api/v1/views") => post(views::create),
        ("PATCH", "/api/v1/views/{id}") => patch(views::update),
        ("DELETE", "/api/v1/views/{id}") => delete(views::delete),
        ("GET", "/api/v1/settings/retention") => get(retention::get),
        ("PUT", "/api/v1/settings/retention") => put(retention::put),
        ("GET", "/api/v1/integrity/checkpoint") => get(integrity::checkpoint),
        ("GET", "/api/v1/integrity/proof/inclusion") => get(integrity::inclusion),
        ("GET", "/api/v1/integrity/proof/consistency") => get(integrity::consistency),
        ("GET", "/api/v2/api_keys") => get(api_keys::list),
        ("POST", "/api/v2/api_keys") => post(api_keys::create),
        ("GET", "/api/v2/api_keys/{id}") => get(api_keys::get),
        ("PATCH", "/api/v2/api_keys/{id}") => patch(api_keys::update),
        ("DELETE", "/api/v2/api_keys/{id}") => delete(api_keys::delete),
        ("GET", "/api/v2/current_user/application_keys") => get(application_keys::list_own),
        ("POST", "/api/v2/current_user/application_keys") => post(application_keys::create_own),
        ("GET", "/api/v2/current_user/application_keys/{id}") => get(application_keys::get::<true>),
        ("PATCH", "/api/v2/current_user/application_keys/{id}") => {
            patch(application_keys::update::<true>)
        }
        ("DELETE", "/api/v2/current_user/application_keys/{id}") => {
            delete(application_keys::delete::<true>)
        }
        ("GET", "/api/v2/application_keys") => get(application_keys::list_all),
        ("POST", "/api/v2/application_keys") => post(application_keys::create_for_user),
        ("GET", "/api/v2/application_keys/{id}") => get(application_keys::get::<false>),
        ("PATCH", "/api/v2/application_keys/{id}") => patch(application_keys::update::<false>),
        ("DELETE", "/api/v2/application_keys/{id}") => delete(application_keys::delete::<false>),
        ("GET", "/api/v2/users") => get(users::list),
        ("POST", "/api/v2/users") => post(users::create),
        ("GET", "/api/v2/users/{id}") => get(users::get),
        ("PATCH", "/api/v2/users/{id}") => patch(users::update),
        ("DELETE", "/api/v2/users/{id}") => delete(users::disable),
        ("GET", "/api/v2/users/{id}/permissions") => get(users::permissions),
        ("GET", "/api/v2/roles") => get(roles::list),
        ("POST", "/api/v2/roles") => post(roles::create),
        ("GET", "/api/v2/roles/{id}") => get(roles::get),
        ("PATCH", "/api/v2/roles/{id}") => patch(roles::update),
        ("DELETE", "/api/v2/roles/{id}") => delete(roles::delete),
        ("GET", "/api/v2/roles/{id}/permissions") => get(roles::list_permissions),
        ("POST", "/api/v2/roles/{id}/permissions") => post(roles::add_permission),
        ("DELETE", "/api/v2/roles/{id}/permissions") => delete(roles::remove_permission),
        ("GET", "/api/v2/roles/{id}/users") => get(roles::list_users),
        ("POST", "/api/v2/roles/{id}/users") => post(roles::add_user),
        ("DELETE", "/api/v2/roles/{id}/users") => delete(roles::remove_user),
        ("GET", "/api/v2/permissions") => get(roles::all_permissions),
        ("PUT", "/api/v1/current_user/password") => put(users::change_own_password),
        ("GET", "/api/v1/monitor") => get(monitors::list),
        ("POST", "/api/v1/monitor") => post(monitors::create),
        ("POST", "/api/v1/monitor/validate") => post(monitors::validate),
        ("POST", "/api/v1/monitor/notify_test") => post(monitors::notify_test),
        ("GET", "/api/v1/monitor/{id}") => get(monitors::get),
        ("PUT", "/api/v1/monitor/{id}") => put(monitors::update),
        ("DELETE", "/api/v1/monitor/{id}") => delete(monitors::delete),
        ("POST", "/api/v1/monitor/{id}/mute") => post(monitors::mute),
        ("POST", "/api/v1/monitor/{id}/unmute") => post(monitors::unmute),
        (method, path) if path.starts_with("/api/v1/integration/") => {
            return channel_handler(method, path);
        }
        _ => return None,
    })
}

/// The handlers of the notification channels' routes.
fn channel_handler(method: &str, path: &str) -> Option<MethodRouter<SharedState>> {
    use monitors::{PAGERDUTY, SLACK, WEBHOOK};
    let (kind, one) = match path {
        "/api/v1/integration/webhooks/configuration/webhooks" => (WEBHOOK, false),
        "/api/v1/integration/webhooks/configuration/webhooks/{name}" => (WEBHOOK, true),
        "/api/v1/integration/slack/configuration/channels" => (SLACK, false),
        "/api/v1/integration/slack/configuration/channels/{name}" => (SLACK, true),
        "/api/v1/integration/pagerduty/configuration/services" => (PAGERDUTY, false),
        "/api/v1/integration/pagerduty/configuration/services/{name}" => (PAGERDUTY, true),
        _ => return None,
    };
    Some(match (method, kind, one) {
        ("GET", WEBHOOK, false) => get(monitors::list_channels::<WEBHOOK>),
        ("GET", SLACK, false) => get(monitors::list_channels::<SLACK>),
        ("GET", _, false) => get(monitors::list_channels::<PAGERDUTY>),
        ("POST", WEBHOOK, false) => post(monitors::create_channel::<WEBHOOK>),
        ("POST", SLACK, false) => post(monitors::create_channel::<SLACK>),
        ("POST", _, false) => post(monitors::create_channel::<PAGERDUTY>),
        ("GET", WEBHOOK, true) => get(monitors::get_channel::<WEBHOOK>),
        ("GET", SLACK, true) => get(monitors::get_channel::<SLACK>),
        ("GET", _, true) => get(monitors::get_channel::<PAGERDUTY>),
        ("PUT", WEBHOOK, true) => put(monitors::update_channel::<WEBHOOK>),
        ("PUT", SLACK, true) => put(monitors::update_channel::<SLACK>),
        ("PUT", _, true) => put(monitors::update_channel::<PAGERDUTY>),
        ("DELETE", WEBHOOK, true) => delete(monitors::delete_channel::<WEBHOOK>),
        ("DELETE", SLACK, true) => delete(monitors::delete_channel::<SLACK>),
        ("DELETE", _, true) => delete(monitors::delete_channel::<PAGERDUTY>),
        _ => return None,
    })
}

/// What the guard of one route knows.
#[derive(Debug, Clone)]
struct Guard {
    state: SharedState,
    need: Need,
}

/// The guarded routes, each behind a layer that checks the credentials
/// and the permission before any extractor runs (so no body of a refused
/// request is read) and attaches the request's actor.
pub(crate) fn guarded(state: &SharedState) -> Router<SharedState> {
    let mut router = Router::new();
    for declared in GUARDED {
        let Some(handler) = handler(declared.method, declared.path) else {
            panic!(
                "route {} {} is declared without a handler",
                declared.method, declared.path
            );
        };
        let guard = Guard {
            state: Arc::clone(state),
            need: declared.need,
        };
        router = router.route(
            declared.path,
            handler.route_layer(middleware::from_fn_with_state(guard, check)),
        );
    }
    router
}

async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let state: &AppState = &guard.state;
    let authenticated = match authenticate(state, request.headers()) {
        Ok(authenticated) => authenticated,
        Err(error) => {
            if error.status == StatusCode::FORBIDDEN
                && let Some(presented) = presented_key(request.headers())
            {
                let client_ip = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(address)| address.ip().to_string());
                state.evident.key_check_failed(presented, client_ip);
            }
            return error.into_response();
        }
    };
    let Authenticated {
        actor,
        permissions,
        csrf,
    } = authenticated;
    // A browser's cookie goes with any request a page makes, a hostile
    // page's too: a change made with it must also carry the token only
    // evident's own page knows.
    if let Some(expected) = csrf
        && !matches!(*request.method(), Method::GET | Method::HEAD)
        && !ui_session::csrf_matches(request.headers(), &expected)
    {
        return QueryError::forbidden(
            "missing or wrong X-CSRF-Token: a request made with the session cookie needs its session's token",
        )
        .into_response();
    }
    if !guard.need.admits(&permissions) {
        let method = request.method().clone();
        return QueryError::forbidden(format!(
            "{} may not {method} {}: it needs the {} permission",
            actor.email.as_deref().unwrap_or(&actor.id),
            request.uri().path(),
            guard.need.name()
        ))
        .into_response();
    }
    let mut request = attach_actor(actor, request);
    request.extensions_mut().insert(Granted(permissions));
    next.run(request).await
}

/// The application key a refused request presented, to count it.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    text("authorization")
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or(value.strip_prefix("bearer "))
        })
        .or_else(|| text("dd-application-key"))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_route_has_a_handler_and_is_declared_once() {
        let mut seen = std::collections::HashSet::new();
        for declared in GUARDED {
            assert!(
                handler(declared.method, declared.path).is_some(),
                "{} {}",
                declared.method,
                declared.path
            );
            assert!(
                seen.insert((declared.method, declared.path)),
                "{} {} declared twice",
                declared.method,
                declared.path
            );
        }
    }
}

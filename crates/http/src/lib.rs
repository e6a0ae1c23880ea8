//! evident's HTTP API: one listener for the Datadog-compatible intake and
//! query endpoints, evident's own integrity endpoints and the web UI. A
//! thin adapter over `evident_app::Evident`: handlers read requests
//! (credentials first, bodies capped by [`JsonBody`]), call one operation
//! and answer in Datadog's shapes; an application error's kind becomes a
//! status through one table (`errors::status`).
//!
//! - `intake`, `import`: the write endpoints (API key);
//! - `search`, `aggregate`, `live`, `export`, `sql`, `integrity`, `views`:
//!   the read endpoints, behind the access layer of [`router`];
//! - `manage`: users, roles and keys in Datadog's v2 shapes;
//! - `ui`, `ui_session`, `sso`: the web UI's assets, sign-in sessions and
//!   single sign-on;
//! - `metrics`: `GET /metrics`;
//! - [`routes`]: the read and management routes and the permission each
//!   needs, declared once;
//! - [`listener`]: plain TCP or TLS connections for `axum::serve`;
//! - [`json_body`](JsonBody), `errors`: request bodies and error shapes.

mod aggregate;
mod errors;
mod export;
mod import;
mod intake;
mod integrity;
mod json_body;
pub mod listener;
mod live;
mod manage;
mod metrics;
mod monitors;
mod retention;
pub mod routes;
mod search;
mod sql;
mod sso;
mod ui;
mod ui_session;
mod views;

use std::sync::Arc;

use axum::Router;
use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use evident_app::access::{KeyKind, Permission};
use evident_app::actor::HttpRequest;
use evident_app::{Actor, Evident};

pub use errors::{IntakeError, QueryError, status};
pub use json_body::{JSON_BODY_LIMIT, JsonBody};
pub use routes::{GUARDED, Granted, Guarded, Need};
pub use ui_session::SessionOptions;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub evident: Arc<Evident>,
    /// The web UI's signed-in browsers.
    pub ui_sessions: ui_session::UiSessions,
}

pub type SharedState = Arc<AppState>;

/// The API's routes over `evident`, with sessions as `sessions` says.
pub fn router(evident: Arc<Evident>, sessions: SessionOptions) -> Router {
    let state = Arc::new(AppState {
        evident,
        ui_sessions: ui_session::UiSessions::new(sessions),
    });
    // Everything that reads events or evident's state, or changes it,
    // needs a credential and the permission its route declares
    // (`routes::GUARDED`).
    let reading = routes::guarded(&state);
    // The intake and the import check the API key themselves before they
    // read a body, and read it with their own caps (5 MB, 64 MB).
    let writing = Router::new()
        .route("/api/v2/logs", post(intake::submit_v2))
        .route("/v1/input", post(intake::submit_v1))
        .route("/v1/input/{key}", post(intake::submit_v1_with_key))
        .route("/api/v1/validate", get(intake::validate))
        .route("/api/v1/import/{source}", post(import::import_file))
        .route(
            "/api/v1/import/cloudtrail-digest",
            post(import::check_digest),
        );
    // No credential yet: the sign-in reads at most a small body.
    let open = Router::new()
        .route("/", get(ui::index))
        .route("/ui/{name}", get(ui::asset))
        .route(
            "/api/v1/ui/session",
            post(ui_session::login)
                .get(ui_session::check)
                .delete(ui_session::logout),
        )
        .route("/api/v1/ui/sso", get(sso::available))
        .route("/api/v1/ui/sso/start", get(sso::start))
        .route("/api/v1/ui/sso/callback", get(sso::callback))
        .route("/metrics", get(metrics::metrics));
    Router::new()
        .merge(reading)
        .merge(writing)
        .merge(open)
        // Any extractor that buffers a body (none should remain outside
        // `JsonBody` and the intake's own reads) stops at the JSON limit.
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .with_state(state)
}

/// `request` with its actor attached for the handler, completed with
/// where the request came from.
fn attach_actor(actor: Actor, mut request: Request) -> Request {
    let actor = attach_actor_to(actor, &request);
    request.extensions_mut().insert(actor);
    request
}

/// `actor` completed with where `request` came from.
fn attach_actor_to(actor: Actor, request: &Request) -> Actor {
    actor
        .with_client_ip(
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip().to_string()),
        )
        .with_http(HttpRequest {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            useragent: header(request.headers(), "user-agent").map(str::to_owned),
        })
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Who a web UI session acts as now: its key's owner or its user, while
/// the key is valid and the user active.
fn session_principal(
    state: &AppState,
    owner: &ui_session::SessionOwner,
) -> Option<evident_app::access::Principal> {
    let access = state.evident.access();
    match owner {
        ui_session::SessionOwner::Key(key_digest) => access.authenticate_digest(key_digest),
        ui_session::SessionOwner::User(id) => access.principal_of_user(id),
    }
}

/// A request's credentials, checked.
struct Authenticated {
    actor: Actor,
    permissions: BTreeSet<Permission>,
    /// The session's CSRF token, when the request came with the cookie.
    csrf: Option<String>,
}

/// The actor of a request and what they may do: an API key with an
/// application key (as in Datadog), an application key as a bearer token,
/// or the web UI's session cookie. The application key acts as its owner.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Authenticated, QueryError> {
    let access = state.evident.access();
    if let Some(token) = ui_session::cookie_token(headers)
        && let Some(found) = state.ui_sessions.find(token)
    {
        // Checked again at every request: a revoked key or a disabled user
        // ends the session.
        let principal = session_principal(state, &found.owner).ok_or_else(|| {
            QueryError::unauthorized("the session's key or user is no longer valid: sign in again")
        })?;
        return Ok(Authenticated {
            actor: Actor::ui_session(&principal),
            permissions: principal.permissions,
            csrf: Some(found.csrf),
        });
    }
    // `Authorization: Bearer <application key>`, as the forwarding API's
    // clients send it, instead of the two Datadog headers.
    if let Some(token) = header(headers, "authorization").and_then(|value| {
        value
            .strip_prefix("Bearer ")
            .or(value.strip_prefix("bearer "))
    }) {
        let principal = access
            .authenticate(token.trim())
            .ok_or_else(|| QueryError::forbidden("invalid bearer token: use an application key"))?;
        return Ok(Authenticated {
            actor: Actor::bearer(&principal),
            permissions: principal.permissions,
            csrf: None,
        });
    }
    let api = header(headers, "dd-api-key");
    let application = header(headers, "dd-application-key");
    match (api, application) {
        (None, _) | (_, None) => Err(QueryError::unauthorized(
            "missing DD-API-KEY or DD-APPLICATION-KEY header",
        )),
        (Some(api), Some(application)) => {
            let principal = access
                .authenticate(application)
                .filter(|_| access.accepts(KeyKind::Api, api))
                .ok_or_else(|| QueryError::forbidden("invalid API key or application key"))?;
            Ok(Authenticated {
                actor: Actor::application_key(&principal, Some(api)),
                permissions: principal.permissions,
                csrf: None,
            })
        }
    }
}

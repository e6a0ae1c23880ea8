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
//! - `ui`, `ui_session`: the web UI's assets and sign-in sessions;
//! - `metrics`: `GET /metrics`;
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
mod metrics;
mod search;
mod sql;
mod ui;
mod ui_session;
mod views;

use std::sync::Arc;

use axum::Router;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use evident_app::actor::HttpRequest;
use evident_app::keys::KeyKind;
use evident_app::{Actor, Evident};

pub use errors::{IntakeError, QueryError, status};
pub use json_body::{JSON_BODY_LIMIT, JsonBody};

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub evident: Arc<Evident>,
    /// The web UI's signed-in browsers.
    pub ui_sessions: ui_session::UiSessions,
}

pub type SharedState = Arc<AppState>;

/// The API's routes over `evident`.
pub fn router(evident: Arc<Evident>) -> Router {
    let state = Arc::new(AppState {
        evident,
        ui_sessions: ui_session::UiSessions::default(),
    });
    // Everything that reads events or evident's state needs the read keys
    // (or a UI session). The check runs as a layer, before any extractor,
    // so no body of an unauthenticated request is ever read.
    let reading = Router::new()
        .route("/api/v1/query/validate", get(ui::validate))
        .route("/api/v1/export", get(export::export))
        .route("/api/v1/live", post(live::live))
        .route("/api/v1/views", get(views::list).post(views::create))
        .route(
            "/api/v1/views/{id}",
            axum::routing::patch(views::update).delete(views::delete),
        )
        .route(
            "/api/v2/logs/events/search",
            post(search::search_post::<false>),
        )
        .route("/api/v2/logs/events", get(search::search_get::<false>))
        .route(
            "/api/v2/audit/events/search",
            post(search::search_post::<true>),
        )
        .route("/api/v2/audit/events", get(search::search_get::<true>))
        .route(
            "/api/v2/logs/analytics/aggregate",
            post(aggregate::aggregate),
        )
        .route("/api/v1/sql", post(sql::sql))
        .route("/api/v1/integrity/checkpoint", get(integrity::checkpoint))
        .route(
            "/api/v1/integrity/proof/inclusion",
            get(integrity::inclusion),
        )
        .route(
            "/api/v1/integrity/proof/consistency",
            get(integrity::consistency),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            read_access,
        ));
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

/// The access layer of the reading routes: the credentials are checked
/// before any extractor runs, and the request carries its [`Actor`]
/// (who, how, from where) to the handler.
async fn read_access(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response {
    match require_read_keys(&state, request.headers()) {
        Ok(actor) => {
            let actor = actor
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
                });
            request.extensions_mut().insert(actor);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Query endpoints need an API key and an application key, as in Datadog,
/// an application key as a bearer token, or the web UI's session cookie;
/// the actor they make.
fn require_read_keys(state: &AppState, headers: &HeaderMap) -> Result<Actor, QueryError> {
    if let Some(token) = ui_session::cookie_token(headers)
        && let Some(fingerprint) = state.ui_sessions.actor(token)
    {
        return Ok(Actor::ui_session(&fingerprint));
    }
    // `Authorization: Bearer <application key>`, as the forwarding API's
    // clients send it, instead of the two Datadog headers.
    if let Some(token) = header(headers, "authorization").and_then(|value| {
        value
            .strip_prefix("Bearer ")
            .or(value.strip_prefix("bearer "))
    }) {
        return if state
            .evident
            .keys()
            .accepts(KeyKind::Application, token.trim())
        {
            Ok(Actor::bearer(token.trim()))
        } else {
            Err(QueryError::forbidden(
                "invalid bearer token: use an application key",
            ))
        };
    }
    let api = header(headers, "dd-api-key");
    let application = header(headers, "dd-application-key");
    match (api, application) {
        (None, _) | (_, None) => Err(QueryError::unauthorized(
            "missing DD-API-KEY or DD-APPLICATION-KEY header",
        )),
        (Some(api), Some(application)) => {
            let keys = state.evident.keys();
            if keys.accepts(KeyKind::Api, api) && keys.accepts(KeyKind::Application, application) {
                Ok(Actor::application_key(application, Some(api)))
            } else {
                Err(QueryError::forbidden("invalid API key or application key"))
            }
        }
    }
}

//! Browser sessions for the web UI. One signs in once
//! (`POST /api/v1/ui/session`) with an email and password or an
//! application key, or through single sign-on (`sso`); the browser then
//! holds an HttpOnly, SameSite=Strict session cookie (`Secure` behind
//! TLS), which the API accepts in place of the Datadog keys.
//!
//! - Sessions live in memory (a restart signs everyone out; only token
//!   hashes are kept) and end after `idle` without a request, after
//!   `lifetime` in any case, or at sign-out, server-side.
//! - Who a session acts as is checked again at every request: a revoked
//!   key or a disabled user ends it at once.
//! - Each session has a CSRF token, given to the page at sign-in and by
//!   `GET /api/v1/ui/session`; every request other than GET or HEAD made
//!   with the cookie must carry it in `X-CSRF-Token`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use evident_app::Actor;
use evident_app::access::signin::Credentials;
use evident_app::access::{Principal, digest};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{JsonBody, QueryError, SharedState};

pub const COOKIE: &str = "evident_session";
/// The header state-changing requests made with the cookie carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A sign-in arrives before any credential is known: its body is small.
const LOGIN_BODY_LIMIT: usize = 16 * 1024;

/// How long sessions last, and how their cookie is marked.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub lifetime: Duration,
    /// Mark the cookie `Secure` (the server speaks TLS).
    pub secure: bool,
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            idle: Duration::from_secs(30 * 60),
            lifetime: Duration::from_secs(12 * 3600),
            secure: false,
        }
    }
}

/// Who a session acts as, checked again at each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOwner {
    /// The SHA-256 of the application key that signed in.
    Key(String),
    /// A user signed in by password or single sign-on.
    User(String),
}

#[derive(Debug, Clone)]
struct Session {
    owner: SessionOwner,
    csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// A valid session, as a request finds it.
#[derive(Debug, Clone)]
pub struct Found {
    pub owner: SessionOwner,
    pub csrf: String,
}

#[derive(Debug, Default)]
pub struct UiSessions {
    options: SessionOptions,
    /// Token hash → session.
    sessions: Mutex<HashMap<[u8; 32], Session>>,
}

fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

impl UiSessions {
    pub fn new(options: SessionOptions) -> UiSessions {
        UiSessions {
            options,
            sessions: Mutex::default(),
        }
    }

    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// A new session: its token (for the cookie) and CSRF token.
    pub fn create(&self, owner: SessionOwner) -> Result<(String, String), getrandom::Error> {
        let token = random_token()?;
        let csrf = random_token()?;
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, session| self.alive(session, now));
        sessions.insert(
            Sha256::digest(token.as_bytes()).into(),
            Session {
                owner,
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
            },
        );
        Ok((token, csrf))
    }

    fn alive(&self, session: &Session, now: Instant) -> bool {
        now.duration_since(session.last_seen) < self.options.idle
            && now.duration_since(session.created) < self.options.lifetime
    }

    /// The session of `token` while it is valid, its idle time restarted.
    pub fn find(&self, token: &str) -> Option<Found> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        let mut sessions = self.lock();
        let session = sessions.get_mut(&digest)?;
        if !self.alive(session, now) {
            sessions.remove(&digest);
            return None;
        }
        session.last_seen = now;
        Some(Found {
            owner: session.owner.clone(),
            csrf: session.csrf.clone(),
        })
    }

    fn remove(&self, token: &str) {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.lock().remove(&digest);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `Set-Cookie` value of a new session.
    pub fn cookie(&self, token: &str) -> String {
        let secure = if self.options.secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.options.lifetime.as_secs()
        )
    }

    fn expired_cookie(&self) -> String {
        let secure = if self.options.secure { "; Secure" } else { "" };
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }
}

/// The session token a request carries in its cookie, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    cookie_named(headers, COOKIE)
}

/// The value of the cookie `wanted`, if the request carries it.
pub fn cookie_named<'h>(headers: &'h HeaderMap, wanted: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value)
}

/// Whether a request made with the cookie carries its session's CSRF
/// token (compared without stopping at the first difference).
pub fn csrf_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|presented| {
            presented.len() == expected.len()
                && presented
                    .bytes()
                    .zip(expected.bytes())
                    .fold(0u8, |difference, (a, b)| difference | (a ^ b))
                    == 0
        })
}

#[derive(Debug, Deserialize)]
pub struct Login {
    application_key: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

/// The request's address and path, for the sign-in's audit event.
pub fn context(request: &Request) -> Actor {
    super::attach_actor_to(Actor::signing_in("unknown", "none"), request)
}

/// What the page learns of its session: who, what they may do, the CSRF
/// token.
pub fn describe(principal: &Principal, csrf: &str) -> serde_json::Value {
    let permissions: Vec<&str> = principal.permissions.iter().map(|p| p.name()).collect();
    json!({
        "csrf_token": csrf,
        "user": {"id": principal.user_id, "email": principal.email, "name": principal.name},
        "permissions": permissions,
    })
}

/// A signed-in answer: the session's description and its cookie.
pub fn signed_in(state: &SharedState, principal: &Principal, owner: SessionOwner) -> Response {
    let (token, csrf) = match state.ui_sessions.create(owner) {
        Ok(tokens) => tokens,
        Err(error) => {
            tracing::error!(%error, "no randomness for a session token");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = Json(describe(principal, &csrf)).into_response();
    if let Ok(value) = HeaderValue::from_str(&state.ui_sessions.cookie(&token)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /api/v1/ui/session` with `{"email", "password"}` or
/// `{"application_key"}` → the session's description and the cookie.
pub async fn login(State(state): State<SharedState>, request: Request) -> Response {
    let context = context(&request);
    let body = match <JsonBody<Login, LOGIN_BODY_LIMIT> as axum::extract::OptionalFromRequest<
        (),
    >>::from_request(request, &())
    .await
    {
            Ok(body) => body,
            Err(error) => return error.into_response(),
        };
    let Some(JsonBody(login)) = body else {
        return QueryError::bad_request(
            "expected {\"email\": \"...\", \"password\": \"...\"} or {\"application_key\": \"...\"}",
        )
        .into_response();
    };
    let (credentials, key_digest) = match (&login.email, &login.password, &login.application_key) {
        (Some(email), Some(password), None) => (Credentials::Password { email, password }, None),
        (None, None, Some(key)) => (Credentials::ApplicationKey(key), Some(digest(key))),
        _ => {
            return QueryError::bad_request(
                "expected either an email and a password or an application key",
            )
            .into_response();
        }
    };
    match state.evident.sign_in(credentials, &context).await {
        Ok(principal) => {
            let owner = match key_digest {
                Some(key_digest) => SessionOwner::Key(key_digest),
                None => SessionOwner::User(principal.user_id.clone()),
            };
            signed_in(&state, &principal, owner)
        }
        Err(error) => QueryError::from(error).into_response(),
    }
}

/// `GET /api/v1/ui/session`: who is signed in and the CSRF token, 401
/// otherwise.
pub async fn check(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let Some(found) = cookie_token(&headers).and_then(|token| state.ui_sessions.find(token)) else {
        return QueryError::unauthorized("not signed in").into_response();
    };
    match super::session_principal(&state, &found.owner) {
        Some(principal) => Json(describe(&principal, &found.csrf)).into_response(),
        None => {
            QueryError::unauthorized("the session's key or user is no longer valid: sign in again")
                .into_response()
        }
    }
}

/// `DELETE /api/v1/ui/session`: signs out, ending the session here (the
/// CSRF token is needed, as for any change).
pub async fn logout(State(state): State<SharedState>, request: Request) -> Response {
    let headers = request.headers();
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string());
    if let Some(token) = cookie_token(headers)
        && let Some(found) = state.ui_sessions.find(token)
    {
        if !csrf_matches(headers, &found.csrf) {
            return QueryError::forbidden("missing or wrong X-CSRF-Token for this session")
                .into_response();
        }
        state.ui_sessions.remove(token);
        if let Some(principal) = super::session_principal(&state, &found.owner) {
            let actor = Actor::ui_session(&principal).with_client_ip(client_ip);
            if let Err(error) = state.evident.signed_out(&actor).await {
                tracing::warn!(%error, "a sign-out could not be recorded");
            }
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&state.ui_sessions.expired_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_cookies_are_marked() -> Result<(), Box<dyn std::error::Error>>
    {
        let sessions = UiSessions::new(SessionOptions {
            idle: Duration::from_millis(200),
            lifetime: Duration::from_secs(60),
            secure: true,
        });
        let (token, csrf) = sessions.create(SessionOwner::Key("digest-1".into()))?;
        let found = sessions.find(&token).ok_or("a session")?;
        assert_eq!(found.owner, SessionOwner::Key("digest-1".into()));
        assert_eq!(found.csrf, csrf);
        assert!(sessions.find("guess").is_none());
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("a=b; {COOKIE}={token}").parse()?);
        assert_eq!(cookie_token(&headers), Some(token.as_str()));
        assert!(!csrf_matches(&headers, &csrf));
        headers.insert(CSRF_HEADER, csrf.parse()?);
        assert!(csrf_matches(&headers, &csrf));
        assert!(sessions.cookie(&token).contains("; Secure"));
        std::thread::sleep(Duration::from_millis(300));
        assert!(sessions.find(&token).is_none(), "idle too long");
        Ok(())
    }
}

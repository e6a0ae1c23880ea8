//! Browser sessions for the web UI. The application key is presented once
//! (`POST /api/v1/ui/session`); the browser then holds an HttpOnly,
//! SameSite=Strict session cookie, which the query endpoints accept in
//! place of the two Datadog keys. The key itself never stays in the page.
//! Sessions live in memory for at most 12 hours (a restart signs everyone
//! out); only their hashes are kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{JsonBody, QueryError, SharedState, authenticate};
use evident_app::access::digest;

pub const COOKIE: &str = "evident_session";
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// A sign-in arrives before any credential is known: its body is small.
const LOGIN_BODY_LIMIT: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct UiSessions {
    /// Token hash → when it stops being valid, and the SHA-256 of the
    /// application key that signed in (checked again at every request).
    sessions: Mutex<HashMap<[u8; 32], (Instant, String)>>,
}

impl UiSessions {
    fn create(&self, key_digest: String) -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        let token: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, (until, _)| *until > now);
        sessions.insert(
            Sha256::digest(token.as_bytes()).into(),
            (now + LIFETIME, key_digest),
        );
        Ok(token)
    }

    /// The key digest behind this session, while it is valid.
    pub fn key_digest(&self, token: &str) -> Option<String> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.lock()
            .get(&digest)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, key_digest)| key_digest.clone())
    }

    fn remove(&self, token: &str) {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.lock().remove(&digest);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (Instant, String)>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The session token a request carries in its cookie, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[derive(Debug, Deserialize)]
pub struct Login {
    application_key: String,
}

/// `POST /api/v1/ui/session {"application_key": "..."}` → 204 and the cookie.
pub async fn login(
    State(state): State<SharedState>,
    body: Option<JsonBody<Login, LOGIN_BODY_LIMIT>>,
) -> Response {
    let Some(JsonBody(login)) = body else {
        return QueryError::bad_request("expected {\"application_key\": \"...\"}").into_response();
    };
    if state
        .evident
        .access()
        .authenticate(&login.application_key)
        .is_none()
    {
        tracing::warn!("ui sign-in with an unknown application key");
        return QueryError::forbidden("this is not an application key of this server")
            .into_response();
    }
    let token = match state.ui_sessions.create(digest(&login.application_key)) {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "no randomness for a session token");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /api/v1/ui/session`: 204 while signed in, 401 otherwise.
pub async fn check(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    match authenticate(&state, &headers) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

/// `DELETE /api/v1/ui/session`: signs out.
pub async fn logout(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie_token(&headers) {
        state.ui_sessions.remove(token);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_cookies() -> Result<(), Box<dyn std::error::Error>> {
        let sessions = UiSessions::default();
        let token = sessions.create("digest-1".into())?;
        assert_eq!(sessions.key_digest(&token).as_deref(), Some("digest-1"));
        assert!(sessions.key_digest("guess").is_none());
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("a=b; {COOKIE}={token}").parse()?);
        assert_eq!(cookie_token(&headers), Some(token.as_str()));
        sessions.remove(&token);
        assert!(sessions.key_digest(&token).is_none());
        Ok(())
    }
}

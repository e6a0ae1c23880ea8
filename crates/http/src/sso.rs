//! Single sign-on for the web UI (the service's `access::sso` does the
//! protocol): `GET /api/v1/ui/sso` says whether it is configured,
//! `GET /api/v1/ui/sso/start` sends the browser to the issuer with the
//! sign-in's state in a short-lived cookie, and
//! `GET /api/v1/ui/sso/callback` finishes it, starts a session and sends
//! the browser home (or home with `?sign_in_error=...`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ui_session::{self, SessionOwner, cookie_named};
use super::{SharedState, header as header_text};

/// The cookie holding a sign-in's state while the browser is away at the
/// issuer: `Lax`, since the browser comes back from another site.
const STATE_COOKIE: &str = "evident_sso_state";
const CALLBACK: &str = "/api/v1/ui/sso/callback";

/// `GET /api/v1/ui/sso`.
pub async fn available(State(state): State<SharedState>) -> Response {
    match state.evident.sso() {
        Some(sso) => Json(json!({"enabled": true, "label": sso.label()})).into_response(),
        None => Json(json!({"enabled": false})).into_response(),
    }
}

fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Home, with the reason a sign-in failed for the page to show.
fn failed(reason: &str, secure: bool) -> Response {
    let location = query_url("/", "sign_in_error", reason);
    redirect(&location, &[state_cookie("", 0, secure)])
}

fn query_url(path: &str, name: &str, value: &str) -> String {
    let encoded: String = value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect();
    format!("{path}?{name}={encoded}")
}

fn state_cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{STATE_COOKIE}={value}; Path={CALLBACK}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

/// `GET /api/v1/ui/sso/start`.
pub async fn start(State(state): State<SharedState>, request: Request) -> Response {
    let secure = state.ui_sessions.options().secure;
    let Some(sso) = state.evident.sso() else {
        return failed("single sign-on is not configured", secure);
    };
    let redirect_url = match sso.redirect_url() {
        Some(url) => url.to_owned(),
        None => {
            let Some(host) = header_text(request.headers(), "host") else {
                return failed("the request names no host to come back to", secure);
            };
            let scheme = if secure { "https" } else { "http" };
            format!("{scheme}://{host}{CALLBACK}")
        }
    };
    match sso.start(&redirect_url).await {
        Ok(started) => redirect(
            &started.authorize_url,
            &[state_cookie(&started.state, 600, secure)],
        ),
        Err(error) => failed(&error.message, secure),
    }
}

/// `GET /api/v1/ui/sso/callback?code=...&state=...`.
pub async fn callback(
    State(state): State<SharedState>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let secure = state.ui_sessions.options().secure;
    let context = ui_session::context(&request);
    if let Some(error) = query.get("error") {
        let reason = format!(
            "the issuer refused: {error} {}",
            query.get("error_description").map_or("", String::as_str)
        );
        state.evident.record_sso_failure(&context, &reason).await;
        return failed(&reason, secure);
    }
    let (Some(code), Some(returned)) = (query.get("code"), query.get("state")) else {
        return failed("the issuer's answer has no code or state", secure);
    };
    let kept = cookie_named(request.headers(), STATE_COOKIE);
    if !evident_app::access::sso::plausible_state(returned) || kept != Some(returned.as_str()) {
        let reason = "this sign-in was not started in this browser";
        state.evident.record_sso_failure(&context, reason).await;
        return failed(reason, secure);
    }
    let Some(sso) = state.evident.sso() else {
        return failed("single sign-on is not configured", secure);
    };
    let identity = match sso.finish(returned, code).await {
        Ok(identity) => identity,
        Err(error) => {
            state
                .evident
                .record_sso_failure(&context, &error.message)
                .await;
            return failed(&error.message, secure);
        }
    };
    let principal = match state.evident.sign_in_sso(&identity, &context).await {
        Ok(principal) => principal,
        Err(error) => return failed(&error.message, secure),
    };
    let (token, _) = match state
        .ui_sessions
        .create(SessionOwner::User(principal.user_id.clone()))
    {
        Ok(tokens) => tokens,
        Err(error) => {
            tracing::error!(%error, "no randomness for a session token");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    redirect(
        "/",
        &[
            state.ui_sessions.cookie(&token),
            state_cookie("", 0, secure),
        ],
    )
}

//! Single sign-on for the web UI: OpenID Connect's authorization code flow
//! with PKCE. The issuer is configured as the gateway's is (an `[oidc]`
//! table: issuer, claim names, leeway; its ID tokens are checked by the
//! same verifier, with the client id as audience), plus the client and
//! how people map to roles:
//!
//! ```toml
//! client_id = "evident"
//! client_secret_env = "EVIDENT_SSO_CLIENT_SECRET"   # for confidential clients
//! default_role = "Read Only"                        # first sign-in; "" for none
//! [group_roles]                                     # from the groups claim
//! secops = "Admin"
//! [oidc]
//! issuer = "https://login.example.com"
//! ```
//!
//! A sign-in starts with a state, a nonce and a PKCE verifier kept here
//! for ten minutes; the browser carries the state in a cookie too, so a
//! sign-in cannot be finished in a browser that did not start it. A user
//! is found by their issuer and subject (or, the first time, by email)
//! and made on first sign-in with the roles of their groups, or the
//! default role.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use evident_gateway::config::OidcConfig;
use evident_gateway::oidc::{Identity, Verifier};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::edit::Edit;
use super::store::{KeyError, Principal};
use crate::Evident;
use crate::activity::{authentication_event, change_event, login_failure_event};
use crate::actor::{Actor, Surface};
use crate::error::AppError;

/// A sign-in not finished within this long is forgotten.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// At most this many sign-ins wait at once (older ones are dropped).
const PENDING_MAX: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoConfig {
    pub client_id: String,
    /// The environment variable holding the client secret, if the client
    /// is confidential (the secret stays out of the file).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Where the issuer sends the browser back; by default this server's
    /// `/api/v1/ui/sso/callback` as the request names it.
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// The role of a new user none of whose groups maps to one; empty:
    /// such a person is refused.
    #[serde(default = "default_role")]
    pub default_role: String,
    /// Group (from the groups claim) → role name or id.
    #[serde(default)]
    pub group_roles: BTreeMap<String, String>,
    /// What the sign-in button says.
    #[serde(default = "default_label")]
    pub label: String,
    pub oidc: OidcConfig,
}

fn default_scopes() -> String {
    "openid email profile".to_owned()
}

fn default_role() -> String {
    "Read Only".to_owned()
}

fn default_label() -> String {
    "Sign in with single sign-on".to_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid single sign-on configuration: {message}")]
    Invalid { path: String, message: String },
}

/// A sign-in under way.
#[derive(Debug)]
struct Pending {
    nonce: String,
    verifier: String,
    redirect_url: String,
    started: Instant,
}

/// Where the issuer's endpoints are.
#[derive(Debug, Clone)]
struct Endpoints {
    authorization: String,
    token: String,
}

/// Sign-ins through one issuer.
pub struct Sso {
    config: SsoConfig,
    client_secret: Option<String>,
    verifier: Verifier,
    http: reqwest::Client,
    endpoints: OnceCell<Endpoints>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Sso")
            .field("issuer", &self.config.oidc.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

/// A sign-in to send the browser to: the issuer's URL and the state the
/// browser keeps in a cookie meanwhile.
#[derive(Debug)]
pub struct Started {
    pub authorize_url: String,
    pub state: String,
}

fn random_url_safe() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| AppError::internal(error.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn sso_error(message: impl Into<String>) -> AppError {
    AppError::unauthenticated(message)
}

impl Sso {
    /// Reads the configuration at `path` (TOML).
    pub fn load(path: &Path) -> Result<Sso, SsoError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SsoError::Read {
            path: shown.clone(),
            source,
        })?;
        let config: SsoConfig = toml::from_str(&text).map_err(|error| SsoError::Invalid {
            path: shown.clone(),
            message: error.to_string(),
        })?;
        Sso::new(config).map_err(|message| SsoError::Invalid {
            path: shown,
            message,
        })
    }

    pub fn new(mut config: SsoConfig) -> Result<Sso, String> {
        if config.client_id.trim().is_empty() {
            return Err("client_id is empty".into());
        }
        let client_secret = match &config.client_secret_env {
            Some(name) => Some(
                std::env::var(name)
                    .map_err(|_| format!("client_secret_env names {name}, which is not set"))?,
            ),
            None => None,
        };
        // ID tokens are for this client.
        config.oidc.audience = Some(config.client_id.clone());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Sso {
            verifier: Verifier::new(&config.oidc, http.clone()),
            config,
            client_secret,
            http,
            endpoints: OnceCell::new(),
            pending: Mutex::default(),
        })
    }

    pub fn label(&self) -> &str {
        &self.config.label
    }

    /// The configured redirect URL, if any (else the request's own).
    pub fn redirect_url(&self) -> Option<&str> {
        self.config.redirect_url.as_deref()
    }

    async fn endpoints(&self) -> Result<&Endpoints, AppError> {
        self.endpoints
            .get_or_try_init(|| async {
                let issuer = self.config.oidc.issuer.trim_end_matches('/');
                let url = format!("{issuer}/.well-known/openid-configuration");
                let discovery: Value = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|error| AppError::unavailable(format!("reading {url}: {error}")))?
                    .json()
                    .await
                    .map_err(|error| AppError::unavailable(format!("reading {url}: {error}")))?;
                let field = |name: &str| {
                    discovery[name]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| AppError::unavailable(format!("{url} names no {name}")))
                };
                Ok(Endpoints {
                    authorization: field("authorization_endpoint")?,
                    token: field("token_endpoint")?,
                })
            })
            .await
    }

    /// Starts a sign-in that comes back to `redirect_url`.
    pub async fn start(&self, redirect_url: &str) -> Result<Started, AppError> {
        let endpoints = self.endpoints().await?;
        let state = random_url_safe()?;
        let nonce = random_url_safe()?;
        let verifier = random_url_safe()?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let authorize_url = reqwest::Url::parse_with_params(
            &endpoints.authorization,
            &[
                ("response_type", "code"),
                ("client_id", self.config.client_id.as_str()),
                ("redirect_uri", redirect_url),
                ("scope", self.config.scopes.as_str()),
                ("state", state.as_str()),
                ("nonce", nonce.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .map_err(|error| AppError::internal(format!("the authorization endpoint: {error}")))?;
        let now = Instant::now();
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.retain(|_, sign_in| now.duration_since(sign_in.started) < PENDING_FOR);
        if pending.len() >= PENDING_MAX {
            pending.clear();
        }
        pending.insert(
            state.clone(),
            Pending {
                nonce,
                verifier,
                redirect_url: redirect_url.to_owned(),
                started: now,
            },
        );
        Ok(Started {
            authorize_url: authorize_url.to_string(),
            state,
        })
    }

    /// Finishes the sign-in of `state` with the issuer's `code`: the
    /// identity in its checked ID token.
    pub async fn finish(&self, state: &str, code: &str) -> Result<Identity, AppError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(state)
            .filter(|pending| pending.started.elapsed() < PENDING_FOR)
            .ok_or_else(|| sso_error("this sign-in is unknown or too old: start again"))?;
        let endpoints = self.endpoints().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending.redirect_url.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.as_str()));
        }
        let response = self
            .http
            .post(&endpoints.token)
            .form(&form)
            .send()
            .await
            .map_err(|error| AppError::unavailable(format!("reaching the issuer: {error}")))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(sso_error(format!(
                "the issuer refused the sign-in ({status}): {}",
                answer["error_description"]
                    .as_str()
                    .or(answer["error"].as_str())
                    .unwrap_or("no reason given")
            )));
        }
        let id_token = answer["id_token"]
            .as_str()
            .ok_or_else(|| sso_error("the issuer's answer has no ID token"))?;
        let identity = self
            .verifier
            .verify(id_token)
            .await
            .map_err(|error| sso_error(format!("the ID token is not valid: {error}")))?;
        if identity.nonce.as_deref() != Some(pending.nonce.as_str()) {
            return Err(sso_error("the ID token is not for this sign-in (nonce)"));
        }
        Ok(identity)
    }

    /// The roles a new user of `groups` gets.
    fn roles_for(&self, groups: &[String]) -> Vec<String> {
        let mapped: Vec<String> = groups
            .iter()
            .filter_map(|group| self.config.group_roles.get(group).cloned())
            .collect();
        if !mapped.is_empty() {
            return mapped;
        }
        let default = self.config.default_role.trim();
        if default.is_empty() {
            Vec::new()
        } else {
            vec![default.to_owned()]
        }
    }
}

impl Evident {
    /// The single sign-on of this server, if configured.
    pub fn sso(&self) -> Option<&Sso> {
        self.settings.sso.as_deref()
    }

    /// Signs in the person `identity` names, making their user on first
    /// sign-in: recorded as every sign-in is.
    pub async fn sign_in_sso(
        &self,
        identity: &Identity,
        context: &Actor,
    ) -> Result<Principal, AppError> {
        let sso = self
            .sso()
            .ok_or_else(|| AppError::not_found("single sign-on is not configured"))?;
        let issuer = sso.config.oidc.issuer.trim_end_matches('/');
        let subject = format!("{issuer}|{}", identity.subject);
        let email = identity
            .email
            .clone()
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        let attempt = Actor {
            client_ip: context.client_ip.clone(),
            http: context.http.clone(),
            ..Actor::signing_in(if email.is_empty() { &subject } else { &email }, "sso")
        };
        let users = self.access.users();
        let known = users
            .iter()
            .find(|user| user.sso_subject.as_deref() == Some(subject.as_str()))
            .or_else(|| {
                users
                    .iter()
                    .find(|user| !email.is_empty() && user.email == email)
            })
            .cloned();
        let user = match known {
            Some(user) => user,
            None if email.is_empty() => {
                return self.refuse_sso(&attempt, "the ID token has no email").await;
            }
            None => {
                let roles = sso.roles_for(&identity.groups);
                if roles.is_empty() {
                    return self
                        .refuse_sso(
                            &attempt,
                            "no role for this person: none of their groups maps to one",
                        )
                        .await;
                }
                let name = identity.name.clone().unwrap_or_default();
                self.provision(&attempt, &email, &name, &roles, &subject)
                    .await?
            }
        };
        if user.sso_subject.as_deref() != Some(subject.as_str()) {
            let id = user.id.clone();
            let planned = self
                .access
                .plan(|edit: &mut Edit<'_>| edit.set_sso_subject(&id, &subject))?;
            let access = std::sync::Arc::clone(&self.access);
            tokio::task::spawn_blocking(move || access.apply(planned))
                .await
                .map_err(|error| AppError::task("linking a sign-on", error))??;
        }
        let Some(principal) = self.access.principal_of_user(&user.id) else {
            return self.refuse_sso(&attempt, "this user is disabled").await;
        };
        let actor = Actor {
            client_ip: context.client_ip.clone(),
            http: context.http.clone(),
            ..Actor::user(&principal, "sso", Surface::Ui)
        };
        let event = authentication_event(
            &actor,
            "login",
            json!({"issuer": issuer}),
            format!(
                "{} signed in to the web UI through {issuer}",
                principal.email
            ),
            "info",
        );
        self.record(event).await?;
        Ok(principal)
    }

    /// Records a single sign-on that failed before anyone was known (a
    /// refused code, a bad token).
    pub async fn record_sso_failure(&self, context: &Actor, reason: &str) {
        let attempt = Actor {
            client_ip: context.client_ip.clone(),
            http: context.http.clone(),
            ..Actor::signing_in("unknown", "sso")
        };
        if let Err(error) = self.record(login_failure_event(&attempt, reason)).await {
            tracing::warn!(%error, "a failed single sign-on could not be recorded");
        }
    }

    /// Records a refused single sign-on and refuses it.
    async fn refuse_sso(&self, attempt: &Actor, reason: &str) -> Result<Principal, AppError> {
        self.record(login_failure_event(attempt, reason)).await?;
        Err(sso_error(reason))
    }

    /// Makes the user of a first single sign-on, recorded before kept.
    async fn provision(
        &self,
        actor: &Actor,
        email: &str,
        name: &str,
        roles: &[String],
        subject: &str,
    ) -> Result<super::User, AppError> {
        let _one_at_a_time = self.access_changes.lock().await;
        let planned = self.access.plan(|edit| {
            let user = edit.create_user(email, name, roles)?;
            edit.set_sso_subject(&user.id, subject)
        })?;
        let user = &planned.result;
        let event = change_event(
            actor,
            "user_access_management",
            "created",
            json!({"type": "user", "id": user.id, "name": user.email,
                   "new_value": {"email": user.email, "name": user.name, "roles": roles, "from": "single sign-on"}}),
        );
        self.record(event).await?;
        let access = std::sync::Arc::clone(&self.access);
        tokio::task::spawn_blocking(move || access.apply(planned))
            .await
            .map_err(|error| AppError::task("making a user", error))?
            .map_err(|error: KeyError| AppError::from(error))
    }
}

/// The random state value's own check: printable and of the right size,
/// before it is looked up.
pub fn plausible_state(state: &str) -> bool {
    (20..=100).contains(&state.len())
        && state
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

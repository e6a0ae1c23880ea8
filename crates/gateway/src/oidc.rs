//! Bearer tokens checked against an OIDC issuer: its discovery document
//! names the JWKS, whose keys are cached and fetched again when they are
//! old or a token names a key id not among them (key rotation).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, RwLock};

use crate::config::{ClaimNames, OidcConfig};
use crate::error::AuthError;

/// Who called: what the token says, in the claims configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// The person an agent acts for (`act` by default).
    pub on_behalf_of: Option<Principal>,
    pub actor_type: ActorType,
    /// The token's session claim, when it has one.
    pub session: Option<String>,
    /// The `nonce` an ID token carries back to the sign-in that asked
    /// for it.
    pub nonce: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorType {
    Agent,
    User,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::Agent => "agent",
            ActorType::User => "user",
        }
    }
}

/// Asymmetric algorithms only: a shared-secret (HS*) or `none` token is
/// never accepted, whatever the JWKS holds.
const ACCEPTED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

struct CachedKey {
    key: DecodingKey,
    /// The JWK's `alg`, when it names one: a token must then use exactly it.
    algorithm: Option<String>,
}

#[derive(Default)]
struct KeyCache {
    by_kid: HashMap<String, CachedKey>,
    without_kid: Vec<CachedKey>,
    fetched: Option<Instant>,
    /// Tokens verified with these keys, by SHA-256: an agent sends the
    /// same token with every call, and checking its signature again each
    /// time would be most of the gateway's work. Emptied with the keys.
    verified: std::sync::Mutex<HashMap<[u8; 32], Verified>>,
}

struct Verified {
    identity: Identity,
    /// Seconds since the epoch: the token's `exp`, or a minute after the
    /// check, whichever comes first.
    until: u64,
}

/// Verified tokens remembered at most this long, and this many.
const VERIFIED_FOR: u64 = 60;
const VERIFIED_MAX: usize = 10_000;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Checks tokens of one issuer.
pub struct Verifier {
    issuer: String,
    audience: Option<String>,
    leeway: u64,
    ttl: Duration,
    min_refresh: Duration,
    claims: ClaimNames,
    agent_groups: Vec<String>,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    /// One fetch at a time; waiting callers then see its result.
    fetching: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(config: &OidcConfig, http: reqwest::Client) -> Verifier {
        Verifier {
            issuer: config.issuer.trim_end_matches('/').to_owned(),
            audience: config.audience.clone(),
            leeway: config.leeway_seconds,
            ttl: Duration::from_secs(config.jwks_ttl_seconds),
            min_refresh: Duration::from_secs(config.jwks_min_refresh_seconds),
            claims: config.claims.clone(),
            agent_groups: config.agent_groups.clone(),
            http,
            cache: RwLock::new(KeyCache::default()),
            fetching: Mutex::new(None),
        }
    }

    /// Reads the discovery document and the keys now, so that a wrong
    /// issuer shows at start rather than on the first call.
    pub async fn prime(&self) -> Result<usize, AuthError> {
        self.refresh(true, self.fetched().await).await?;
        let cache = self.cache.read().await;
        Ok(cache.by_kid.len() + cache.without_kid.len())
    }

    /// The identity in a valid token, or why it is not valid.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        {
            let cache = self.cache.read().await;
            let fresh = cache.fetched.is_some_and(|at| at.elapsed() <= self.ttl);
            let verified = cache
                .verified
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if fresh
                && let Some(known) = verified.get(&digest)
                && known.until > unix_now()
            {
                return Ok(known.identity.clone());
            }
        }
        let identity = self.verify_signed(token).await?;
        let cache = self.cache.read().await;
        let mut verified = cache
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        let now = unix_now();
        verified.insert(
            digest,
            Verified {
                identity: identity.0.clone(),
                until: identity.1.min(now + VERIFIED_FOR),
            },
        );
        Ok(identity.0)
    }

    /// The identity and the token's `exp`, from its signature and claims.
    async fn verify_signed(&self, token: &str) -> Result<(Identity, u64), AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| AuthError::Malformed(error.to_string()))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let mut seen = self.fetched().await;
        if seen.is_none_or(|at| at.elapsed() > self.ttl) {
            self.refresh(true, seen).await?;
            seen = self.fetched().await;
        }
        let claims = match self.check(token, &header).await {
            Err(AuthError::UnknownKey(kid)) => {
                // A key the issuer added since the last fetch.
                self.refresh(false, seen).await?;
                self.check(token, &header)
                    .await
                    .map_err(|error| match error {
                        AuthError::UnknownKey(_) => AuthError::UnknownKey(kid),
                        other => other,
                    })?
            }
            other => other?,
        };
        let expires = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        Ok((self.identity(&claims)?, expires))
    }

    async fn check(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
    ) -> Result<Map<String, Value>, AuthError> {
        let cache = self.cache.read().await;
        let cached = match &header.kid {
            Some(kid) => cache
                .by_kid
                .get(kid)
                .ok_or_else(|| AuthError::UnknownKey(kid.clone()))?,
            None => match cache.without_kid.as_slice() {
                [only] => only,
                _ => {
                    return Err(AuthError::Malformed(
                        "the token names no key id (kid)".to_owned(),
                    ));
                }
            },
        };
        let algorithm = format!("{:?}", header.alg);
        if cached
            .algorithm
            .as_ref()
            .is_some_and(|expected| *expected != algorithm)
        {
            return Err(AuthError::Algorithm(algorithm));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer, &format!("{}/", self.issuer)]);
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &cached.key, &validation)
            .map_err(|error| self.explain(error))?;
        Ok(data.claims)
    }

    fn explain(&self, error: jsonwebtoken::errors::Error) -> AuthError {
        match error.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer(self.issuer.clone()),
            ErrorKind::InvalidAudience => {
                AuthError::WrongAudience(self.audience.clone().unwrap_or_default())
            }
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
            ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
                AuthError::Algorithm("of the key".to_owned())
            }
            _ => AuthError::Malformed(error.to_string()),
        }
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, AuthError> {
        let names = &self.claims;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let subject = text(&names.subject)
            .filter(|subject| !subject.is_empty())
            .ok_or_else(|| AuthError::MissingClaim(names.subject.clone()))?;
        let groups = match claims.get(&names.groups) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(one)) => one.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let on_behalf_of = claims
            .get(&names.on_behalf_of)
            .and_then(|value| match value {
                Value::String(id) => Some(Principal {
                    id: Some(id.clone()),
                    email: None,
                }),
                Value::Object(fields) => {
                    let field =
                        |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
                    let principal = Principal {
                        id: field("sub"),
                        email: field("email"),
                    };
                    (principal.id.is_some() || principal.email.is_some()).then_some(principal)
                }
                _ => None,
            });
        let agent =
            on_behalf_of.is_some() || groups.iter().any(|group| self.agent_groups.contains(group));
        Ok(Identity {
            subject,
            email: text(&names.email),
            name: text(&names.name),
            groups,
            on_behalf_of,
            actor_type: if agent {
                ActorType::Agent
            } else {
                ActorType::User
            },
            session: text(&names.session),
            nonce: text("nonce"),
        })
    }

    /// When the keys in the cache were fetched.
    async fn fetched(&self) -> Option<Instant> {
        self.cache.read().await.fetched
    }

    /// Fetches discovery and keys again, unless someone did since `seen`
    /// (callers waiting on one fetch share it); `forced` ignores the
    /// minimum interval (start, expired cache).
    async fn refresh(&self, forced: bool, seen: Option<Instant>) -> Result<(), AuthError> {
        let mut last_attempt = self.fetching.lock().await;
        if self.fetched().await != seen {
            return Ok(());
        }
        if !forced && last_attempt.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return Ok(());
        }
        let fetched = self.fetch().await;
        *last_attempt = Some(Instant::now());
        let keys = fetched?;
        *self.cache.write().await = keys;
        tracing::debug!(issuer = %self.issuer, "oidc keys fetched");
        Ok(())
    }

    async fn fetch(&self) -> Result<KeyCache, AuthError> {
        let discovery_url = format!("{}/.well-known/openid-configuration", self.issuer);
        let discovery: Value = self.get_json(&discovery_url).await?;
        let issuer = discovery
            .get("issuer")
            .and_then(Value::as_str)
            .unwrap_or("");
        if issuer.trim_end_matches('/') != self.issuer {
            return Err(AuthError::IssuerUnavailable(format!(
                "{discovery_url} names issuer {issuer:?}, not {:?}",
                self.issuer
            )));
        }
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AuthError::IssuerUnavailable(format!("{discovery_url} has no jwks_uri"))
            })?;
        let set: JwkSet = serde_json::from_value(self.get_json(jwks_uri).await?)
            .map_err(|error| AuthError::IssuerUnavailable(format!("{jwks_uri}: {error}")))?;
        let mut cache = KeyCache {
            fetched: Some(Instant::now()),
            ..KeyCache::default()
        };
        for jwk in &set.keys {
            if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
                continue; // shared secrets are never trusted from a JWKS
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                tracing::warn!(issuer = %self.issuer, kid = ?jwk.common.key_id, "unusable key in jwks skipped");
                continue;
            };
            let cached = CachedKey {
                key,
                algorithm: jwk
                    .common
                    .key_algorithm
                    .map(|algorithm| format!("{algorithm:?}")),
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    cache.by_kid.insert(kid.clone(), cached);
                }
                None => cache.without_kid.push(cached),
            }
        }
        Ok(cache)
    }

    async fn get_json(&self, url: &str) -> Result<Value, AuthError> {
        let unavailable = |error: String| AuthError::IssuerUnavailable(format!("{url}: {error}"));
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("status {}", response.status())));
        }
        response
            .json()
            .await
            .map_err(|error| unavailable(error.to_string()))
    }
}

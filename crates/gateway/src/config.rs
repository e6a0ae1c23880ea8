//! The gateway's configuration file (TOML), typed and checked before the
//! gateway starts: unknown keys are errors, secrets are references
//! (`env:NAME`, `file:PATH`), never values.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ConfigError;

/// The whole file. See `docs/gateway.md` for every key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the gateway accepts calls.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The evident server the audit events go to (its Datadog intake).
    pub evident_url: String,
    /// The intake API key for `evident_url`.
    #[serde(default = "default_evident_api_key")]
    pub evident_api_key: SecretRef,
    pub oidc: OidcConfig,
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    #[serde(default)]
    pub capture: CaptureConfig,
    /// Let callers name their session with `X-Evident-Session`. Off by
    /// default: the session then comes from the token (its session claim,
    /// else its hash), which a caller cannot choose, so no caller can put
    /// its calls into another's session.
    #[serde(default)]
    pub session_header: bool,
    #[serde(default)]
    pub spool: SpoolConfig,
}

/// Where audit events wait for evident on disk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool folder. Unset: events wait in memory only (and a gateway
    /// killed while evident is unreachable loses them). `evident serve
    /// --gateway-config` sets it to `<data-dir>/gateway-spool`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// When the spool holds this much, the queue stops draining and new
    /// calls are refused (503).
    #[serde(default = "default_spool_max_bytes")]
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> SpoolConfig {
        SpoolConfig {
            dir: None,
            max_bytes: default_spool_max_bytes(),
        }
    }
}

fn default_spool_max_bytes() -> u64 {
    1 << 30
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8480))
}

fn default_evident_api_key() -> SecretRef {
    SecretRef::Env("EVIDENT_API_KEY".to_owned())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL; discovery is read from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// When set, tokens must carry it in `aud`.
    #[serde(default)]
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Keys are fetched again after this long.
    #[serde(default = "default_jwks_ttl")]
    pub jwks_ttl_seconds: u64,
    /// A token with an unknown `kid` fetches the keys again, at most this
    /// often (so unknown kids cannot make the gateway hammer the issuer).
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh_seconds: u64,
    #[serde(default)]
    pub claims: ClaimNames,
    /// Callers in any of these groups are recorded as agents
    /// (`@evt.actor.type:agent`); so is a token that names someone it acts
    /// for. Everyone else is a user.
    #[serde(default = "default_agent_groups")]
    pub agent_groups: Vec<String>,
}

fn default_leeway() -> u64 {
    30
}

fn default_jwks_ttl() -> u64 {
    3600
}

fn default_jwks_min_refresh() -> u64 {
    10
}

fn default_agent_groups() -> Vec<String> {
    vec!["agents".to_owned()]
}

/// Which claims of a token hold what.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimNames {
    pub subject: String,
    pub email: String,
    pub name: String,
    pub groups: String,
    /// The person an agent acts for: a string, or an object with `sub` /
    /// `email` (RFC 8693's `act` shape).
    pub on_behalf_of: String,
    /// Groups the calls of one agent run; without it, one token is one
    /// session.
    pub session: String,
}

impl Default for ClaimNames {
    fn default() -> ClaimNames {
        ClaimNames {
            subject: "sub".to_owned(),
            email: "email".to_owned(),
            name: "name".to_owned(),
            groups: "groups".to_owned(),
            on_behalf_of: "act".to_owned(),
            session: "sid".to_owned(),
        }
    }
}

/// Calls whose path starts with `prefix` go to `upstream`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub prefix: String,
    pub upstream: String,
    /// Headers added to every forwarded call, by reference to where the
    /// value is kept (`env:NAME`, `file:PATH`).
    #[serde(default)]
    pub inject: BTreeMap<String, SecretRef>,
    /// More request headers removed before forwarding (the caller's
    /// `Authorization` and the injected names always are).
    #[serde(default)]
    pub strip_headers: Vec<String>,
    /// Remove `prefix` from the path before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Pass the caller's `Cookie` header on. Off by default: a browser's
    /// cookies for the gateway's host (an evident UI session among them)
    /// are not the upstream's business.
    #[serde(default)]
    pub forward_cookies: bool,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
    /// Time allowed until the upstream's response headers arrive (504).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_connect_timeout() -> u64 {
    5
}

fn default_timeout() -> u64 {
    60
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// What happens to a call no rule matches.
    #[serde(default = "default_effect")]
    pub default: Effect,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
}

impl Default for PolicyConfig {
    fn default() -> PolicyConfig {
        PolicyConfig {
            default: default_effect(),
            rules: Vec::new(),
        }
    }
}

fn default_effect() -> Effect {
    Effect::Allow
}

/// One rule; the first rule that matches a call decides it. Absent lists
/// match everything.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub effect: Effect,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub methods: Vec<String>,
    /// Path patterns: `*` is any run of characters, `/` included.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// A token bucket per identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub requests_per_second: f64,
    #[serde(default)]
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Bytes of each request and response body kept in the audit event.
    pub max_body_bytes: usize,
    /// Headers whose values are never stored (added to the built-in list:
    /// authorization, cookie, set-cookie, proxy-authorization, x-api-key,
    /// dd-api-key, dd-application-key, x-amz-security-token).
    pub redact_headers: Vec<String>,
    /// JSON bodies: values at these dotted paths are replaced before
    /// storage: `data.attributes.key` wherever it ends a path,
    /// `$.data.attributes.key` only from the root; `*` is any key or array
    /// element.
    pub redact_json_paths: Vec<String>,
    /// Query parameters whose values are never stored (added to the
    /// built-in list: api_key, apikey, application_key, token,
    /// access_token, password, secret, signature).
    pub redact_query_params: Vec<String>,
    /// Replace values shaped like keys and tokens (JWTs, AWS access keys,
    /// GitHub and Slack tokens, `sk-` keys, 32/40-digit hex keys) anywhere
    /// in stored text.
    pub redact_key_shaped: bool,
    /// Audit events waiting to be sent to evident; when full, new calls
    /// are refused (503) rather than forwarded unrecorded.
    pub queue_events: usize,
}

impl Default for CaptureConfig {
    fn default() -> CaptureConfig {
        CaptureConfig {
            max_body_bytes: 64 << 10,
            redact_headers: Vec::new(),
            redact_json_paths: Vec::new(),
            redact_query_params: Vec::new(),
            redact_key_shaped: true,
            queue_events: 10_000,
        }
    }
}

/// The largest body capture: the intake truncates events above 1 MB, and an
/// event holds a request and a response.
pub const MAX_BODY_CAPTURE: usize = 256 << 10;

/// Where a secret is kept. The configuration names it; the value is read
/// at start and never written anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SecretRef, D::Error> {
        let text = String::deserialize(deserializer)?;
        SecretRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl SecretRef {
    pub fn parse(text: &str) -> Result<SecretRef, String> {
        if let Some(name) = text.strip_prefix("env:") {
            if name.is_empty() {
                return Err("`env:` needs a variable name".to_owned());
            }
            Ok(SecretRef::Env(name.to_owned()))
        } else if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err("`file:` needs a path".to_owned());
            }
            Ok(SecretRef::File(PathBuf::from(path)))
        } else {
            Err("a secret is written `env:NAME` or `file:PATH`, never in clear".to_owned())
        }
    }

    /// The secret's value, trimmed of a trailing newline (files usually
    /// end with one).
    pub fn resolve(&self) -> Result<String, ConfigError> {
        let value = match self {
            SecretRef::Env(name) => std::env::var(name)
                .map_err(|_| ConfigError::MissingSecret(format!("env:{name}")))?,
            SecretRef::File(path) => {
                std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
                    path: path.clone(),
                    source,
                })?
            }
        };
        let value = value.trim_end_matches(['\r', '\n']).to_owned();
        if value.is_empty() {
            return Err(ConfigError::MissingSecret(self.to_string()));
        }
        Ok(value)
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env(name) => write!(formatter, "env:{name}"),
            SecretRef::File(path) => write!(formatter, "file:{}", path.display()),
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|error| ConfigError::Parse(error.to_string()))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if self.routes.is_empty() {
            return invalid("at least one [[route]] is needed".to_owned());
        }
        for route in &self.routes {
            if !route.prefix.starts_with('/') {
                return invalid(format!(
                    "route prefix {:?} must start with '/'",
                    route.prefix
                ));
            }
            if !(route.upstream.starts_with("http://") || route.upstream.starts_with("https://")) {
                return invalid(format!(
                    "route upstream {:?} must be an http:// or https:// URL",
                    route.upstream
                ));
            }
            for name in route.inject.keys().chain(&route.strip_headers) {
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return invalid(format!("{name:?} is not a header name"));
                }
            }
        }
        if !(self.evident_url.starts_with("http://") || self.evident_url.starts_with("https://")) {
            return invalid(format!(
                "evident_url {:?} must be an http:// or https:// URL",
                self.evident_url
            ));
        }
        if self.capture.max_body_bytes > MAX_BODY_CAPTURE {
            return invalid(format!(
                "capture.max_body_bytes is at most {MAX_BODY_CAPTURE}"
            ));
        }
        if self.capture.queue_events == 0 {
            return invalid("capture.queue_events must be at least 1".to_owned());
        }
        if let Some(limit) = &self.rate_limit
            && !(limit.requests_per_second.is_finite() && limit.requests_per_second > 0.0)
        {
            return invalid("rate_limit.requests_per_second must be above 0".to_owned());
        }
        for rule in &self.policy.rules {
            for method in &rule.methods {
                if http::Method::from_bytes(method.as_bytes()).is_err() {
                    return invalid(format!("rule {:?}: {method:?} is not a method", rule.name));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        listen = "127.0.0.1:8480"
        evident_url = "http://127.0.0.1:8844"
        [oidc]
        issuer = "http://127.0.0.1:9000"
        audience = "evident-gateway"
        [[route]]
        prefix = "/"
        upstream = "http://127.0.0.1:9001"
        inject = { "DD-API-KEY" = "env:UPSTREAM_DD_API_KEY", "DD-APPLICATION-KEY" = "file:/run/key" }
    "#;

    #[test]
    fn the_documented_minimal_file_loads_with_defaults() -> Result<(), ConfigError> {
        let config = Config::parse(MINIMAL)?;
        assert_eq!(config.routes.len(), 1);
        assert_eq!(
            config.routes[0].inject.get("DD-API-KEY"),
            Some(&SecretRef::Env("UPSTREAM_DD_API_KEY".to_owned()))
        );
        assert_eq!(
            config.evident_api_key,
            SecretRef::Env("EVIDENT_API_KEY".to_owned())
        );
        assert_eq!(config.policy.default, Effect::Allow);
        assert_eq!(config.capture.max_body_bytes, 65536);
        assert_eq!(config.oidc.claims.email, "email");
        Ok(())
    }

    #[test]
    fn secrets_in_clear_and_unknown_keys_are_refused() {
        let clear = MINIMAL.replace("env:UPSTREAM_DD_API_KEY", "abcdef0123456789");
        let error = Config::parse(&clear).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("never in clear")));
        let unknown = format!("{MINIMAL}\n[capture]\nmax_body = 3\n");
        let error = Config::parse(&unknown).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("unknown field")));
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                MINIMAL.replace("prefix = \"/\"", "prefix = \"api\""),
                "must start with '/'",
            ),
            (
                MINIMAL.replace("http://127.0.0.1:9001", "ftp://x"),
                "http:// or https://",
            ),
            (
                format!("{MINIMAL}\n[capture]\nmax_body_bytes = 9999999\n"),
                "at most",
            ),
            (
                format!("{MINIMAL}\n[rate_limit]\nrequests_per_second = 0\n"),
                "above 0",
            ),
        ];
        for (text, expected) in cases {
            let error = Config::parse(&text).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains(expected)),
                "{error:?} should say {expected}"
            );
        }
    }

    #[test]
    fn secrets_resolve_from_files_without_their_newline() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = std::env::temp_dir().join(format!("evident-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("key");
        std::fs::write(&path, "s3cr3t\n")?;
        assert_eq!(SecretRef::File(path.clone()).resolve()?, "s3cr3t");
        std::fs::write(&path, "\n")?;
        assert!(SecretRef::File(path).resolve().is_err());
        assert!(
            SecretRef::Env("EVIDENT_TEST_SURELY_UNSET".to_owned())
                .resolve()
                .is_err()
        );
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}

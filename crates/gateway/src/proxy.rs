//! One call through the gateway: authenticate, route, decide, limit,
//! forward with the route's credentials, stream the answer back masked,
//! and record it all as one audit event.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

use crate::body::{Capture, Masker, RequestBody, ResponseBody};
use crate::config::{Config, Effect, RouteConfig};
use crate::error::{AuthError, ConfigError};
use crate::event::{CallRecord, Outcome};
use crate::oidc::{Identity, Verifier};
use crate::path;
use crate::policy::Policy;
use crate::rate_limit::RateLimiter;
use crate::recorder::{Recorder, RecorderEvent, Reservation};
use crate::redact::Redactor;
use crate::secrets::SecretSet;

/// A caller may name its session (one agent run) with this header; it is
/// not forwarded.
pub const SESSION_HEADER: &str = "x-evident-session";

/// What the gateway answers with: its own short JSON, or the upstream's
/// body streaming through.
pub type GatewayBody = Either<Full<Bytes>, ResponseBody<Incoming>>;

type UpstreamClient = Client<HttpsConnector<HttpConnector>, RequestBody<Incoming>>;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

struct Route {
    prefix: String,
    upstream: String,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    base_path: String,
    strip_prefix: bool,
    inject: Vec<(HeaderName, HeaderValue)>,
    /// Request headers removed before forwarding.
    strip: HashSet<HeaderName>,
    timeout: Duration,
    client: UpstreamClient,
}

/// The running gateway's state, shared by every connection.
pub struct Gateway {
    routes: Vec<Route>,
    verifier: Verifier,
    policy: Policy,
    limiter: Option<RateLimiter>,
    redactor: Arc<Redactor>,
    recorder: Recorder,
    /// The injected credentials' values, masked in everything returned.
    secrets: Arc<SecretSet>,
    max_body: usize,
    sequence: AtomicU64,
    /// Whether a caller's `X-Evident-Session` names its session.
    session_header: bool,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Gateway")
            .field(
                "routes",
                &self
                    .routes
                    .iter()
                    .map(|route| &route.prefix)
                    .collect::<Vec<_>>(),
            )
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway from a checked configuration: reads every
    /// referenced secret now, so a missing one stops the start.
    pub fn new(
        config: &Config,
        recorder: Recorder,
        http: reqwest::Client,
    ) -> Result<Gateway, ConfigError> {
        let mut secrets = Vec::new();
        let mut routes = Vec::new();
        for route in &config.routes {
            let (built, values) = build_route(route)?;
            secrets.extend(values);
            routes.push(built);
        }
        // Longest prefix first: the most specific route wins.
        routes.sort_by_key(|route: &Route| std::cmp::Reverse(route.prefix.len()));
        let redactor = Redactor::new(&config.capture, secrets.clone());
        let secret_set = SecretSet::new(secrets.into_iter().map(String::into_bytes));
        Ok(Gateway {
            routes,
            verifier: Verifier::new(&config.oidc, http),
            policy: Policy::new(&config.policy),
            limiter: config.rate_limit.as_ref().map(RateLimiter::new),
            redactor: Arc::new(redactor),
            recorder,
            secrets: Arc::new(secret_set),
            max_body: config.capture.max_body_bytes,
            sequence: AtomicU64::new(0),
            session_header: config.session_header,
        })
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Handles one call; never fails (every failure is an answer).
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<GatewayBody>, Infallible> {
        let clock = Instant::now();
        let (parts, body) = request.into_parts();
        let mut record = self.new_record(&parts, peer);
        // The call's event gets its place in the queue now, or the call is
        // refused: nothing is forwarded that could not then be recorded.
        let Some(reservation) = self.recorder.reserve() else {
            let refusal = Refusal::new(
                Outcome::Unrecordable,
                StatusCode::SERVICE_UNAVAILABLE,
                "the audit trail is not accepting events: call refused rather than forwarded unrecorded",
            );
            return Ok(self.refuse(None, record, clock, refusal));
        };
        match self.forward(&parts, body, &mut record).await {
            Ok((response, request_capture)) => {
                Ok(self.answer(response, record, request_capture, reservation, clock))
            }
            Err(refusal) => Ok(self.refuse(Some(reservation), record, clock, refusal)),
        }
    }

    /// The record of a call as it arrives.
    fn new_record(&self, parts: &http::request::Parts, peer: SocketAddr) -> CallRecord {
        CallRecord {
            started: SystemTime::now(),
            duration: Duration::ZERO,
            session_id: None,
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed),
            identity: None,
            client_ip: peer.ip(),
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            route: None,
            upstream: None,
            upstream_host: None,
            upstream_path: None,
            outcome: Outcome::Forwarded,
            reason: None,
            rule: None,
            status: 0,
            request_headers: parts.headers.clone(),
            response_headers: None,
            request_body: None,
            response_body: None,
        }
    }

    /// The stages of a call, each filling in the record: authenticate,
    /// canonicalize the path, route, authorize (policy, rate limit), send
    /// upstream. The upstream's answer (its headers masked) and the
    /// capture of the request body, or why the call is refused.
    async fn forward(
        &self,
        parts: &http::request::Parts,
        body: Incoming,
        record: &mut CallRecord,
    ) -> Result<(Response<Incoming>, Arc<Mutex<Capture>>), Refusal> {
        let identity = self.authenticate(&parts.headers, record).await?;
        // One spelling of the path for everything below: routing, policy,
        // the record and the upstream.
        let path = crate::path::canonical(parts.uri.path()).map_err(|error| {
            Refusal::new(Outcome::BadPath, StatusCode::BAD_REQUEST, error.to_string())
        })?;
        record.path.clone_from(&path);
        let route = self.route(&path, record)?;
        self.authorize(&identity, parts.method.as_str(), &path, record)?;
        let request_capture = Arc::new(Mutex::new(Capture::new(self.max_body)));
        let upstream_request =
            upstream_request(route, parts, &path, body, &request_capture, record)?;
        let answer =
            tokio::time::timeout(route.timeout, route.client.request(upstream_request)).await;
        let failure = match answer {
            Ok(Ok(response)) => return Ok((response, request_capture)),
            Err(_) => Refusal::new(
                Outcome::UpstreamTimeout,
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "upstream {} did not answer within {} s",
                    route.upstream,
                    route.timeout.as_secs()
                ),
            ),
            Ok(Err(error)) => Refusal::new(
                Outcome::UpstreamError,
                StatusCode::BAD_GATEWAY,
                format!(
                    "upstream {} failed: {}",
                    route.upstream,
                    error_chain(&error)
                ),
            ),
        };
        record.request_body = Some(taken(&request_capture));
        Err(failure)
    }

    /// The caller's identity from its bearer token.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        record: &mut CallRecord,
    ) -> Result<Identity, Refusal> {
        let token = bearer(headers);
        let identity = match token {
            None => Err(AuthError::Missing),
            Some(token) => self.verifier.verify(token).await,
        };
        let identity = identity.map_err(|error| {
            let status = match error {
                AuthError::IssuerUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            let reason = error.to_string();
            let challenge = format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                reason.replace('"', "'")
            );
            Refusal::new(Outcome::Unauthenticated, status, reason)
                .with_header(header::WWW_AUTHENTICATE, challenge)
        })?;
        let named = self
            .session_header
            .then(|| named_session(headers))
            .flatten();
        record.session_id = Some(session_id(named, &identity, token.unwrap_or("")));
        record.identity = Some(identity.clone());
        Ok(identity)
    }

    /// The route of the longest matching prefix.
    fn route(&self, path: &str, record: &mut CallRecord) -> Result<&Route, Refusal> {
        let route = self
            .routes
            .iter()
            .find(|route| matches_prefix(&route.prefix, path))
            .ok_or_else(|| {
                Refusal::new(
                    Outcome::NoRoute,
                    StatusCode::NOT_FOUND,
                    format!("no route for {path}"),
                )
            })?;
        record.route = Some(route.prefix.clone());
        record.upstream = Some(route.upstream.clone());
        record.upstream_host = Some(route.authority.host().to_owned());
        Ok(route)
    }

    /// The policy's decision, then the caller's rate limit.
    fn authorize(
        &self,
        identity: &Identity,
        method: &str,
        path: &str,
        record: &mut CallRecord,
    ) -> Result<(), Refusal> {
        let decision = self.policy.decide(&identity.groups, method, path);
        record.rule = decision.rule.clone();
        if decision.effect == Effect::Deny {
            let reason = match &decision.rule {
                Some(rule) => format!("denied by rule {rule:?}"),
                None => "denied by the default policy".to_owned(),
            };
            return Err(Refusal::new(Outcome::Denied, StatusCode::FORBIDDEN, reason));
        }
        if let Some(limiter) = &self.limiter
            && let Err(wait) = limiter.take(&identity.subject, Instant::now())
        {
            let seconds = wait.as_secs_f64().ceil().max(1.0);
            let reason = format!(
                "rate limit of {} reached; retry in {seconds} s",
                identity.subject
            );
            return Err(
                Refusal::new(Outcome::RateLimited, StatusCode::TOO_MANY_REQUESTS, reason)
                    .with_header(header::RETRY_AFTER, format!("{seconds}")),
            );
        }
        Ok(())
    }

    /// The upstream's answer to the caller: headers masked, the body
    /// masked and captured as it streams; the call is recorded in its
    /// place when the body ends.
    fn answer(
        &self,
        response: Response<Incoming>,
        mut record: CallRecord,
        request_capture: Arc<Mutex<Capture>>,
        reservation: Reservation,
        clock: Instant,
    ) -> Response<GatewayBody> {
        let (mut response_parts, response_body) = response.into_parts();
        strip_hop_by_hop(&mut response_parts.headers);
        mask_headers(&self.secrets, &mut response_parts.headers);
        record.status = response_parts.status.as_u16();
        record.response_headers = Some(response_parts.headers.clone());

        let redactor = Arc::clone(&self.redactor);
        let on_done = Box::new(move |response_capture: Capture| {
            record.duration = clock.elapsed();
            record.request_body = Some(taken(&request_capture));
            record.response_body = Some(response_capture);
            reservation.record(&record.to_event(&redactor));
        });
        let body = ResponseBody::new(
            response_body,
            Masker::new(Arc::clone(&self.secrets)),
            self.max_body,
            on_done,
        );
        Response::from_parts(response_parts, Either::Right(body))
    }

    /// Answers the call itself (`{"errors": [reason]}`) and records why,
    /// in the call's place in the queue (`None`: it has none, the queue
    /// being full; the refusal is then only logged).
    fn refuse(
        &self,
        reservation: Option<Reservation>,
        mut record: CallRecord,
        clock: Instant,
        refusal: Refusal,
    ) -> Response<GatewayBody> {
        let Refusal {
            outcome,
            status,
            reason,
            headers: extra,
        } = refusal;
        let body = serde_json::json!({ "errors": [reason] }).to_string();
        record.outcome = outcome;
        record.status = status.as_u16();
        record.reason = Some(reason.clone());
        record.duration = clock.elapsed();
        tracing::info!(outcome = outcome.as_str(), status = status.as_u16(), method = %record.method, path = %record.path, reason, "call refused");
        match reservation {
            Some(reservation) => reservation.record(&record.to_event(&self.redactor)),
            None => self.recorder.counters().emit(RecorderEvent::Dropped {
                events: 1,
                reason: "a refused call had no place in the queue",
            }),
        }
        let mut response = Response::new(Either::Left(Full::new(Bytes::from(body))));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in extra {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// Why the gateway answers a call itself instead of forwarding it.
#[derive(Debug)]
struct Refusal {
    outcome: Outcome,
    status: StatusCode,
    reason: String,
    /// Headers of the answer (`WWW-Authenticate`, `Retry-After`).
    headers: Vec<(HeaderName, String)>,
}

impl Refusal {
    fn new(outcome: Outcome, status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            outcome,
            status,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: HeaderName, value: String) -> Refusal {
        self.headers.push((name, value));
        self
    }
}

/// What a capture holds so far.
fn taken(capture: &Arc<Mutex<Capture>>) -> Capture {
    capture
        .lock()
        .map(|capture| capture.clone())
        .unwrap_or_default()
}

/// The request sent upstream: the route's path and query, the caller's
/// headers without hop-by-hop ones, the caller's credentials and `Host`,
/// with the injected ones; its body captured as it streams.
fn upstream_request(
    route: &Route,
    parts: &http::request::Parts,
    path: &str,
    body: Incoming,
    capture: &Arc<Mutex<Capture>>,
    record: &mut CallRecord,
) -> Result<Request<RequestBody<Incoming>>, Refusal> {
    let upstream_path = upstream_path(route, path);
    record.upstream_path = Some(upstream_path.clone());
    let uri = upstream_uri(route, &upstream_path, parts.uri.query())
        .map_err(|reason| Refusal::new(Outcome::UpstreamError, StatusCode::BAD_GATEWAY, reason))?;
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers);
    for name in &route.strip {
        headers.remove(name);
    }
    // Recordings and masking need the bytes as they are.
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    headers.remove(header::HOST);
    for (name, value) in &route.inject {
        headers.insert(name.clone(), value.clone());
    }
    let mut request = Request::new(RequestBody::new(body, Arc::clone(capture)));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

fn build_route(config: &RouteConfig) -> Result<(Route, Vec<String>), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid(message);
    let uri: Uri = config
        .upstream
        .parse()
        .map_err(|error| invalid(format!("route upstream {:?}: {error}", config.upstream)))?;
    let scheme = uri.scheme().cloned().ok_or_else(|| {
        invalid(format!(
            "route upstream {:?} has no scheme",
            config.upstream
        ))
    })?;
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| invalid(format!("route upstream {:?} has no host", config.upstream)))?;
    let mut inject = Vec::new();
    let mut values = Vec::new();
    let mut strip: HashSet<HeaderName> = [
        header::AUTHORIZATION,
        header::PROXY_AUTHORIZATION,
        HeaderName::from_static(SESSION_HEADER),
    ]
    .into_iter()
    .collect();
    for (name, reference) in &config.inject {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|error| invalid(format!("{name:?}: {error}")))?;
        let value = reference.resolve()?;
        let header_value = HeaderValue::from_str(&value)
            .map_err(|_| invalid(format!("secret {reference} is not a valid header value")))?;
        strip.insert(name.clone());
        inject.push((name, header_value));
        values.push(value);
    }
    if !config.forward_cookies {
        strip.insert(header::COOKIE);
    }
    for name in &config.strip_headers {
        strip.insert(
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|error| invalid(format!("{name:?}: {error}")))?,
        );
    }
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_connect_timeout(Some(Duration::from_secs(config.connect_timeout_seconds)));
    connector.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|error| ConfigError::Tls(error.to_string()))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(https);
    let route = Route {
        prefix: config.prefix.clone(),
        upstream: config.upstream.trim_end_matches('/').to_owned(),
        scheme,
        authority,
        base_path: uri.path().trim_end_matches('/').to_owned(),
        strip_prefix: config.strip_prefix,
        inject,
        strip,
        timeout: Duration::from_secs(config.timeout_seconds),
        client,
    };
    Ok((route, values))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The session a caller names in its `X-Evident-Session` header.
fn named_session(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty() && value.len() <= 128)
        .map(str::to_owned)
}

/// The caller's named session (when the configuration trusts the header),
/// else the token's session claim, else the token itself (hashed): one
/// token, one session.
fn session_id(named: Option<String>, identity: &Identity, token: &str) -> String {
    named
        .or_else(|| identity.session.clone())
        .unwrap_or_else(|| {
            let digest = Sha256::digest(token.as_bytes());
            let hex: String = digest[..8]
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            format!("tok-{hex}")
        })
}

/// Whether a canonical path falls under a route's prefix, ignoring ASCII
/// case (see [`crate::path`]).
fn matches_prefix(prefix: &str, path: &str) -> bool {
    let (prefix, path) = (path::fold(prefix), path::fold(path));
    prefix == "/"
        || path == prefix.trim_end_matches('/')
        || path.starts_with(&prefix)
            && (prefix.ends_with('/') || path[prefix.len()..].starts_with('/'))
}

fn upstream_path(route: &Route, path: &str) -> String {
    let rest = if route.strip_prefix {
        // Case folding keeps lengths: the prefix is the first bytes.
        let prefix = route.prefix.trim_end_matches('/');
        let rest = path
            .get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .map_or(path, |_| &path[prefix.len()..]);
        if rest.starts_with('/') {
            rest.to_owned()
        } else {
            format!("/{rest}")
        }
    } else {
        path.to_owned()
    };
    format!("{}{rest}", route.base_path)
}

fn upstream_uri(route: &Route, path: &str, query: Option<&str>) -> Result<Uri, String> {
    let path_and_query = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    Uri::builder()
        .scheme(route.scheme.clone())
        .authority(route.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|error| format!("building the upstream address: {error}"))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Response headers (a `Location`, an echo) never carry an injected
/// credential back.
fn mask_headers(secrets: &SecretSet, headers: &mut HeaderMap) {
    if secrets.is_empty() {
        return;
    }
    for value in headers.values_mut() {
        let mut bytes = value.as_bytes().to_vec();
        if secrets.mask(&mut bytes)
            && let Ok(masked) = HeaderValue::from_bytes(&bytes)
        {
            *value = masked;
        }
    }
}

/// An error with its causes, which name what failed (connection refused,
/// dns, tls).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretRef;
    use std::collections::BTreeMap;

    fn route(prefix: &str, upstream: &str, strip_prefix: bool) -> Result<Route, ConfigError> {
        let config = RouteConfig {
            prefix: prefix.to_owned(),
            upstream: upstream.to_owned(),
            inject: BTreeMap::new(),
            strip_headers: vec!["X-Internal".to_owned()],
            strip_prefix,
            forward_cookies: false,
            connect_timeout_seconds: 1,
            timeout_seconds: 1,
        };
        Ok(build_route(&config)?.0)
    }

    #[test]
    fn prefixes_match_whole_segments_ignoring_case() {
        assert!(matches_prefix("/admin", "/Admin/x"));
        assert!(matches_prefix("/API/", "/api/v1"));
        assert!(matches_prefix("/", "/anything"));
        assert!(matches_prefix("/api", "/api"));
        assert!(matches_prefix("/api", "/api/v1"));
        assert!(!matches_prefix("/api", "/apiary"));
        assert!(matches_prefix("/api/", "/api/v1"));
        assert!(matches_prefix("/api/", "/api"));
    }

    #[test]
    fn upstream_addresses() -> Result<(), ConfigError> {
        let plain = route("/dd", "https://api.example.com/base/", false)?;
        assert_eq!(upstream_path(&plain, "/dd/v1/x"), "/base/dd/v1/x");
        let stripped = route("/dd", "http://127.0.0.1:9000", true)?;
        assert_eq!(upstream_path(&stripped, "/dd/v1/x"), "/v1/x");
        assert_eq!(upstream_path(&stripped, "/dd"), "/");
        assert_eq!(upstream_path(&stripped, "/DD/v1/X"), "/v1/X");
        let uri = upstream_uri(&stripped, "/v1/x", Some("a=1&b=%20"));
        assert_eq!(
            uri.map(|uri| uri.to_string()),
            Ok("http://127.0.0.1:9000/v1/x?a=1&b=%20".to_owned())
        );
        assert!(
            stripped
                .strip
                .contains(&HeaderName::from_static("x-internal"))
        );
        assert!(stripped.strip.contains(&header::AUTHORIZATION));
        assert!(stripped.strip.contains(&header::COOKIE));
        Ok(())
    }

    #[test]
    fn injected_secrets_must_resolve() {
        let config = RouteConfig {
            prefix: "/".to_owned(),
            upstream: "http://127.0.0.1:1".to_owned(),
            inject: BTreeMap::from([(
                "DD-API-KEY".to_owned(),
                SecretRef::Env("EVIDENT_TEST_UNSET_SECRET".to_owned()),
            )]),
            strip_headers: Vec::new(),
            strip_prefix: false,
            forward_cookies: false,
            connect_timeout_seconds: 1,
            timeout_seconds: 1,
        };
        let error = build_route(&config).err().map(|error| error.to_string());
        assert_eq!(
            error.as_deref(),
            Some("secret env:EVIDENT_TEST_UNSET_SECRET is not set or empty")
        );
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() -> Result<(), http::Error> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, "keep-alive, x-private".parse()?);
        headers.insert("x-private", "1".parse()?);
        headers.insert("keep-alive", "timeout=5".parse()?);
        headers.insert("x-kept", "1".parse()?);
        strip_hop_by_hop(&mut headers);
        assert_eq!(
            headers.keys().map(HeaderName::as_str).collect::<Vec<_>>(),
            ["x-kept"]
        );
        Ok(())
    }

    #[test]
    fn bearer_tokens_and_sessions() -> Result<(), http::Error> {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "bearer  abc ".parse()?);
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse()?);
        assert_eq!(bearer(&headers), None);
        let identity = Identity {
            subject: "a".to_owned(),
            email: None,
            name: None,
            groups: Vec::new(),
            on_behalf_of: None,
            actor_type: crate::oidc::ActorType::User,
            session: None,
            nonce: None,
        };
        let by_token = session_id(named_session(&headers), &identity, "token-1");
        assert!(by_token.starts_with("tok-") && by_token.len() == 20);
        assert_ne!(by_token, session_id(None, &identity, "token-2"));
        headers.insert(SESSION_HEADER, "run-7".parse()?);
        assert_eq!(
            session_id(named_session(&headers), &identity, "token-1"),
            "run-7"
        );
        Ok(())
    }
}

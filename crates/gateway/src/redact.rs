//! What never reaches the store: credential headers, the injected
//! credentials' values wherever they appear, configured JSON paths and
//! query parameters, values named like secrets, and values shaped like
//! keys and tokens.

use std::collections::HashSet;
use std::sync::Arc;

use base64::Engine;
use http::HeaderMap;
use regex::bytes::Regex;
use serde_json::{Map, Value};

use crate::config::CaptureConfig;
use crate::secrets::SecretSet;

/// What a redacted value becomes.
pub const REDACTED: &str = "[redacted]";

const HEADERS: [&str; 10] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "dd-api-key",
    "dd-application-key",
    "x-amz-security-token",
    "x-auth-token",
    "x-evident-session-secret",
];

const QUERY_PARAMS: [&str; 9] = [
    "api_key",
    "apikey",
    "application_key",
    "token",
    "access_token",
    "password",
    "secret",
    "signature",
    "x-amz-signature",
];

/// JSON keys whose values are secrets wherever they appear (compared in
/// lowercase, `-` as `_`).
const JSON_KEYS: [&str; 14] = [
    "password",
    "passwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "application_key",
    "app_key",
    "private_key",
    "authorization",
];

/// Keys and tokens recognizable by their shape.
const KEY_SHAPES: &str = concat!(
    r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
    r"|(?-u:\b)(?:AKIA|ASIA)[0-9A-Z]{16}(?-u:\b)",
    r"|(?-u:\b)gh[pousr]_[A-Za-z0-9]{36,}",
    r"|github_pat_[A-Za-z0-9_]{20,}",
    r"|(?-u:\b)xox[abposr]-[A-Za-z0-9-]{10,}",
    r"|(?-u:\b)sk-[A-Za-z0-9_-]{20,}",
    r"|(?-u:\b)[0-9a-f]{40}(?-u:\b)|(?-u:\b)[0-9a-f]{32}(?-u:\b)",
    r"|(?i-u:bearer)\s+[A-Za-z0-9._~+/=-]{8,}",
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)-----END [A-Z ]*PRIVATE KEY-----",
);

/// A captured body as stored: text, or base64 when it is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    pub text: String,
    pub base64: bool,
}

#[derive(Debug, Clone)]
pub struct Redactor {
    /// Shared: a redactor for one call (with that call's secrets) is a
    /// cheap copy.
    rules: Arc<Rules>,
    /// The injected credentials' values (and a call's own).
    secrets: SecretSet,
}

#[derive(Debug)]
struct Rules {
    headers: HashSet<String>,
    query_params: HashSet<String>,
    json_paths: Vec<JsonPath>,
    key_shapes: Option<Regex>,
}

impl Redactor {
    pub fn new(config: &CaptureConfig, secrets: Vec<String>) -> Redactor {
        let lower = |items: &mut dyn Iterator<Item = &str>| -> HashSet<String> {
            items.map(str::to_ascii_lowercase).collect()
        };
        let secrets = SecretSet::new(secrets.into_iter().map(String::into_bytes));
        let rules = Rules {
            headers: lower(
                &mut HEADERS
                    .into_iter()
                    .chain(config.redact_headers.iter().map(String::as_str)),
            ),
            query_params: lower(
                &mut QUERY_PARAMS
                    .into_iter()
                    .chain(config.redact_query_params.iter().map(String::as_str)),
            ),
            json_paths: config
                .redact_json_paths
                .iter()
                .map(|path| JsonPath::parse(path))
                .collect(),
            // The pattern is a constant: it compiles, or the tests fail.
            key_shapes: config
                .redact_key_shaped
                .then(|| Regex::new(KEY_SHAPES).ok())
                .flatten(),
        };
        Redactor {
            rules: Arc::new(rules),
            secrets,
        }
    }

    /// Header names and values as stored.
    pub fn headers(&self, headers: &HeaderMap) -> Map<String, Value> {
        let mut stored = Map::new();
        for (name, value) in headers {
            let text = if self.rules.headers.contains(name.as_str()) {
                REDACTED.to_owned()
            } else {
                self.text(&String::from_utf8_lossy(value.as_bytes()))
            };
            match stored.get_mut(name.as_str()) {
                Some(Value::String(previous)) => {
                    previous.push_str(", ");
                    previous.push_str(&text);
                }
                _ => {
                    stored.insert(name.as_str().to_owned(), Value::String(text));
                }
            }
        }
        stored
    }

    /// A query string as stored, and its parameters as an object.
    pub fn query(&self, query: &str) -> (String, Map<String, Value>) {
        let mut pairs = Vec::new();
        let mut parameters = Map::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded_name = percent_decode(name);
            let value = if self
                .rules
                .query_params
                .contains(&decoded_name.to_ascii_lowercase())
            {
                REDACTED.to_owned()
            } else {
                self.text(value)
            };
            parameters.insert(decoded_name, Value::String(percent_decode(&value)));
            pairs.push(format!("{name}={value}"));
        }
        (self.text(&pairs.join("&")), parameters)
    }

    /// Any text as stored.
    pub fn text(&self, text: &str) -> String {
        let bytes = self.bytes(text.as_bytes());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A captured body as stored. `complete` is false when the capture
    /// was cut at the size limit, so it may end inside a character and
    /// cannot be parsed as JSON.
    pub fn body(&self, body: &[u8], complete: bool) -> StoredBody {
        let mut bytes = self.bytes(body);
        if complete && let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) {
            self.json(&mut json, &mut Vec::new(), &mut Vec::new());
            if let Ok(text) = serde_json::to_vec(&json) {
                bytes = text;
            }
        }
        if !complete {
            // A character cut at the limit is dropped, not made base64.
            if let Err(error) = std::str::from_utf8(&bytes)
                && error.error_len().is_none()
            {
                bytes.truncate(error.valid_up_to());
            }
        }
        match String::from_utf8(bytes) {
            Ok(text) => StoredBody {
                text,
                base64: false,
            },
            Err(error) => StoredBody {
                text: base64::engine::general_purpose::STANDARD.encode(error.as_bytes()),
                base64: true,
            },
        }
    }

    fn bytes(&self, input: &[u8]) -> Vec<u8> {
        let mut output = self.secrets.replace(input, REDACTED.as_bytes());
        if let Some(shapes) = &self.rules.key_shapes {
            output = shapes
                .replace_all(&output, REDACTED.as_bytes())
                .into_owned();
        }
        output
    }

    /// Replaces the secret values in `value`, collecting what they were.
    fn json(&self, value: &mut Value, path: &mut Vec<String>, found: &mut Vec<Vec<u8>>) {
        if self
            .rules
            .json_paths
            .iter()
            .any(|wanted| wanted.matches(path))
        {
            found_value(value, found);
            *value = Value::String(REDACTED.to_owned());
            return;
        }
        match value {
            Value::Object(fields) => {
                for (key, field) in fields.iter_mut() {
                    let normalized = key.to_ascii_lowercase().replace('-', "_");
                    if JSON_KEYS.contains(&normalized.as_str()) && !field.is_object() {
                        found_value(field, found);
                        *field = Value::String(REDACTED.to_owned());
                        continue;
                    }
                    path.push(key.clone());
                    self.json(field, path, found);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    path.push(index.to_string());
                    self.json(item, path, found);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// The secret values one call reveals by where they are (its
    /// credential headers, secret query parameters, secret JSON fields of
    /// its request body): an upstream echoing one of them elsewhere (a
    /// URL in a response, an error message) must not store it either.
    pub fn secrets_of_call(
        &self,
        headers: &HeaderMap,
        query: &str,
        request_body: Option<&[u8]>,
    ) -> Vec<Vec<u8>> {
        let mut found = Vec::new();
        for (name, value) in headers {
            if self.rules.headers.contains(name.as_str()) {
                let value = value.as_bytes();
                found.push(value.to_vec());
                // `Bearer <token>`, `Basic <credentials>`: the credential alone too.
                if let Some(space) = value.iter().position(|&byte| byte == b' ') {
                    found.push(value[space + 1..].to_vec());
                }
            }
        }
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=')
                && self
                    .rules
                    .query_params
                    .contains(&percent_decode(name).to_ascii_lowercase())
            {
                found.push(value.as_bytes().to_vec());
                found.push(percent_decode(value).into_bytes());
            }
        }
        if let Some(body) = request_body
            && let Ok(mut json) = serde_json::from_slice::<Value>(body)
        {
            self.json(&mut json, &mut Vec::new(), &mut found);
        }
        // Short values would redact ordinary text; values the key shapes
        // catch wherever they appear (a JWT, `Bearer ...`) need no search.
        found.retain(|value| {
            value.len() >= 6 && value != REDACTED.as_bytes() && !self.shaped_whole(value)
        });
        found
    }

    fn shaped_whole(&self, value: &[u8]) -> bool {
        self.rules.key_shapes.as_ref().is_some_and(|shapes| {
            shapes
                .find(value)
                .is_some_and(|found| found.start() == 0 && found.end() == value.len())
        })
    }

    /// This redactor, also redacting `values` wherever they appear.
    pub fn with_secrets(&self, values: Vec<Vec<u8>>) -> Redactor {
        let mut redactor = self.clone();
        redactor.secrets.extend(values);
        redactor
    }
}

fn found_value(value: &Value, found: &mut Vec<Vec<u8>>) {
    match value {
        Value::String(text) => found.push(text.as_bytes().to_vec()),
        Value::Number(number) => found.push(number.to_string().into_bytes()),
        _ => {}
    }
}

/// A configured JSON path: `$.a.b` from the document's root, `a.b` at any
/// depth (an upstream echoing a request nests it); `*` is any key or index.
#[derive(Debug, Clone)]
struct JsonPath {
    anchored: bool,
    parts: Vec<String>,
}

impl JsonPath {
    fn parse(text: &str) -> JsonPath {
        let (anchored, rest) = match text.strip_prefix("$.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        JsonPath {
            anchored,
            parts: rest.split('.').map(str::to_owned).collect(),
        }
    }

    fn matches(&self, path: &[String]) -> bool {
        if path.len() < self.parts.len() || self.anchored && path.len() != self.parts.len() {
            return false;
        }
        let tail = &path[path.len() - self.parts.len()..];
        self.parts
            .iter()
            .zip(tail)
            .all(|(wanted, part)| wanted == "*" || wanted == part)
    }
}

fn percent_decode(text: &str) -> String {
    let hex = |byte: u8| (byte as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut output = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let escaped = (byte == b'%')
            .then(|| Some((hex(*bytes.get(index + 1)?)?, hex(*bytes.get(index + 2)?)?)))
            .flatten();
        match (byte, escaped) {
            (_, Some((high, low))) => {
                // Two hex digits: below 256.
                output.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                index += 3;
            }
            (b'+', None) => {
                output.push(b' ');
                index += 1;
            }
            (byte, None) => {
                output.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&output).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(paths: &[&str]) -> Redactor {
        let config = CaptureConfig {
            redact_json_paths: paths.iter().map(|path| (*path).to_owned()).collect(),
            ..CaptureConfig::default()
        };
        Redactor::new(&config, vec!["upstream-secret-value".to_owned()])
    }

    #[test]
    fn headers_by_name_and_secrets_by_value() -> Result<(), http::Error> {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer abc.def.ghi".parse()?);
        headers.insert("dd-api-key", "upstream-secret-value".parse()?);
        headers.insert("x-echo", "key=upstream-secret-value;".parse()?);
        headers.append("accept", "a".parse()?);
        headers.append("accept", "b".parse()?);
        let stored = redactor(&[]).headers(&headers);
        assert_eq!(stored["authorization"], REDACTED);
        assert_eq!(stored["dd-api-key"], REDACTED);
        assert_eq!(stored["x-echo"], "key=[redacted];");
        assert_eq!(stored["accept"], "a, b");
        Ok(())
    }

    #[test]
    fn json_paths_names_and_shapes() {
        let redactor = redactor(&["data.attributes.key", "$.items.*.pin"]);
        let body = br#"{"data":{"attributes":{"key":"k1","name":"n"}},"items":[{"pin":1},{"pin":2}],
            "echo_of":{"data":{"attributes":{"key":"k2"}},"items":[{"pin":3}]},
            "Client-Secret":"x","nested":{"password":"p"},"note":"aws AKIAIOSFODNN7EXAMPLE here",
            "dd":"0123456789abcdef0123456789abcdef","jwt":"eyJhbGciOi.eyJzdWIiOi.c2ln","echo":"upstream-secret-value"}"#;
        let stored = redactor.body(body, true);
        assert!(!stored.base64);
        let value: Value = serde_json::from_str(&stored.text).unwrap_or_default();
        assert_eq!(value["data"]["attributes"]["key"], REDACTED);
        assert_eq!(value["data"]["attributes"]["name"], "n");
        assert_eq!(value["items"][1]["pin"], REDACTED);
        assert_eq!(
            value["echo_of"]["data"]["attributes"]["key"], REDACTED,
            "at any depth"
        );
        assert_eq!(
            value["echo_of"]["items"][0]["pin"], 3,
            "anchored at the root"
        );
        assert_eq!(value["Client-Secret"], REDACTED);
        assert_eq!(value["nested"]["password"], REDACTED);
        assert_eq!(value["note"], "aws [redacted] here");
        assert_eq!(value["dd"], REDACTED);
        assert_eq!(value["jwt"], REDACTED);
        assert_eq!(value["echo"], REDACTED);
    }

    #[test]
    fn truncated_and_binary_bodies() {
        let redactor = redactor(&[]);
        let cut = "héllo".as_bytes();
        let stored = redactor.body(&cut[..2], false);
        assert_eq!(
            stored,
            StoredBody {
                text: "h".to_owned(),
                base64: false
            }
        );
        let mut binary = vec![0xff, 0xfe];
        binary.extend_from_slice(b"upstream-secret-value");
        let stored = redactor.body(&binary, true);
        assert!(stored.base64);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&stored.text)
            .unwrap_or_default();
        assert!(decoded.ends_with(REDACTED.as_bytes()));
    }

    #[test]
    fn query_parameters() {
        let (text, parameters) = redactor(&[]).query("q=a+b&api_key=123&page%5Bsize%5D=10");
        assert_eq!(text, "q=a+b&api_key=[redacted]&page%5Bsize%5D=10");
        assert_eq!(parameters["q"], "a b");
        assert_eq!(parameters["api_key"], REDACTED);
        assert_eq!(parameters["page[size]"], "10");
    }

    #[test]
    fn key_shapes_compile() {
        let compiled = Regex::new(KEY_SHAPES);
        assert!(compiled.is_ok(), "{compiled:?}");
    }

    #[test]
    fn what_a_call_reveals_is_redacted_wherever_it_appears() -> Result<(), http::Error> {
        let redactor = redactor(&[]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "Bearer eyJhbGciOiJ.eyJzdWIiOiJ.c2lnbmF0dXJl".parse()?,
        );
        headers.insert("x-api-key", "plain-key-1".parse()?);
        let body = br#"{"password": "hunter2hunter2", "name": "n"}"#;
        let revealed = redactor.secrets_of_call(&headers, "token=tok%2Fen1&q=x", Some(body));
        let mut revealed_text: Vec<String> = revealed
            .iter()
            .map(|value| String::from_utf8_lossy(value).into_owned())
            .collect();
        revealed_text.sort();
        // The JWT is caught by its shape anywhere: no need to search for it.
        assert_eq!(
            revealed_text,
            ["hunter2hunter2", "plain-key-1", "tok%2Fen1", "tok/en1"]
        );
        let call = redactor.with_secrets(revealed);
        assert_eq!(
            call.text("echo plain-key-1 tok/en1 hunter2hunter2"),
            "echo [redacted] [redacted] [redacted]"
        );
        assert_eq!(
            redactor.text("plain-key-1"),
            "plain-key-1",
            "only for that call"
        );
        Ok(())
    }
}

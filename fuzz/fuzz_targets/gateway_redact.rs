//! Whatever a caller or an upstream sends (bodies, query strings, header
//! values, tokens), the gateway's redaction and token parsing never panic,
//! and no injected credential survives redaction.

#![no_main]

use evident_gateway::config::CaptureConfig;
use evident_gateway::redact::Redactor;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const SECRET: &str = "injected-credential-value";

// Built once: compiling its patterns would be most of each run.
static REDACTOR: LazyLock<Redactor> =
    LazyLock::new(|| Redactor::new(&CaptureConfig::default(), vec![SECRET.to_owned()]));

fuzz_target!(|data: &[u8]| {
    let redactor = &*REDACTOR;
    let text = String::from_utf8_lossy(data);
    for complete in [true, false] {
        let stored = redactor.body(data, complete);
        if !stored.base64 {
            assert!(!stored.text.contains(SECRET));
        }
    }
    let (query, _) = redactor.query(&text);
    assert!(!query.contains(SECRET));
    assert!(!redactor.text(&text).contains(SECRET));
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        headers.insert("authorization", value.clone());
        headers.insert("x-other", value);
    }
    let revealed = redactor.secrets_of_call(&headers, &text, Some(data));
    let _ = redactor.with_secrets(revealed).headers(&headers);
    let _ = jsonwebtoken::decode_header(text.as_bytes());
});

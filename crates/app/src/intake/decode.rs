//! Request bodies to log items: content encodings, the size cap, JSON and
//! text bodies.

use std::io::Read;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Datadog's cap on an uncompressed payload ("5MB" = 5 000 000 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 5_000_000;

/// Datadog's cap on the logs of one request (an array of at most 1000).
pub const MAX_ITEMS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("payload too large: more than {MAX_PAYLOAD_BYTES} bytes once decompressed")]
    TooLarge,
    #[error("unsupported content encoding {0:?}: use gzip, deflate, zstd or identity")]
    UnsupportedEncoding(String),
    #[error("malformed {encoding} body: {detail}")]
    BadCompression {
        encoding: &'static str,
        detail: String,
    },
    #[error("unsupported content type {0:?}: use application/json or text/plain")]
    UnsupportedContentType(String),
    #[error("malformed payload: {0}")]
    Malformed(String),
    #[error("more than {MAX_ITEMS} logs in one request")]
    TooManyItems,
}

/// Undoes `Content-Encoding` (a comma-separated list is undone last to
/// first), never producing more than [`MAX_PAYLOAD_BYTES`]: a compression
/// bomb stops at the cap instead of filling memory.
pub fn decompress(body: &[u8], content_encoding: Option<&str>) -> Result<Vec<u8>, DecodeError> {
    let encodings: Vec<String> = content_encoding
        .unwrap_or("")
        .split(',')
        .map(|encoding| encoding.trim().to_ascii_lowercase())
        .filter(|encoding| !encoding.is_empty() && encoding != "identity")
        .collect();
    let mut bytes = body.to_vec();
    if encodings.is_empty() && bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(DecodeError::TooLarge);
    }
    for encoding in encodings.iter().rev() {
        bytes = match encoding.as_str() {
            "gzip" | "x-gzip" => {
                read_capped(flate2::read::MultiGzDecoder::new(bytes.as_slice()), "gzip")?
            }
            "deflate" => {
                match read_capped(flate2::read::ZlibDecoder::new(bytes.as_slice()), "deflate") {
                    // Some senders mean raw deflate (RFC 1951) without the zlib wrapper.
                    Err(DecodeError::BadCompression { .. }) => read_capped(
                        flate2::read::DeflateDecoder::new(bytes.as_slice()),
                        "deflate",
                    )?,
                    other => other?,
                }
            }
            "zstd" | "zstd1" => {
                let decoder =
                    zstd::stream::read::Decoder::new(bytes.as_slice()).map_err(|error| {
                        DecodeError::BadCompression {
                            encoding: "zstd",
                            detail: error.to_string(),
                        }
                    })?;
                read_capped(decoder, "zstd")?
            }
            other => return Err(DecodeError::UnsupportedEncoding(other.to_string())),
        };
    }
    Ok(bytes)
}

fn read_capped(reader: impl Read, encoding: &'static str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    reader
        .take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|error| DecodeError::BadCompression {
            encoding,
            detail: error.to_string(),
        })?;
    if out.len() > MAX_PAYLOAD_BYTES {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

/// One log item and its size as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub fields: Map<String, Value>,
    pub size: usize,
}

/// Splits a decompressed body into items. JSON: an array of objects or one
/// object (`{}` and an empty body are no items, as the Agent's keep-alive
/// expects); a string in an array is a message. Text: one item per line.
pub fn parse_items(body: &[u8], content_type: Option<&str>) -> Result<Vec<Item>, DecodeError> {
    let media_type = content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" | "" | "application/x-www-form-urlencoded" => parse_json(body),
        "text/plain" | "application/logplex-1" => parse_text(body),
        other => Err(DecodeError::UnsupportedContentType(other.to_string())),
    }
}

fn parse_json(body: &[u8]) -> Result<Vec<Item>, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let malformed = |error: serde_json::Error| DecodeError::Malformed(error.to_string());
    let first = body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .copied();
    let raw_items: Vec<&RawValue> = if first == Some(b'[') {
        // Counted while they are split, before any is parsed: each parsed
        // log costs far more than its text.
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let items = serde::Deserializer::deserialize_seq(&mut deserializer, AtMost(MAX_ITEMS))
            .map_err(malformed)?;
        deserializer.end().map_err(malformed)?;
        items.ok_or(DecodeError::TooManyItems)?
    } else {
        vec![serde_json::from_slice(body).map_err(malformed)?]
    };
    let mut items = Vec::with_capacity(raw_items.len());
    for raw in raw_items {
        let size = raw.get().len();
        match serde_json::from_str::<Value>(raw.get()).map_err(malformed)? {
            Value::Object(fields) if fields.is_empty() && first != Some(b'[') => {}
            Value::Object(fields) => items.push(Item { fields, size }),
            Value::String(message) => {
                let mut fields = Map::new();
                fields.insert("message".into(), Value::String(message));
                items.push(Item { fields, size });
            }
            other => {
                return Err(DecodeError::Malformed(format!(
                    "expected log objects, found {}",
                    match other {
                        Value::Array(_) => "an array",
                        Value::Number(_) => "a number",
                        Value::Bool(_) => "a boolean",
                        _ => "null",
                    }
                )));
            }
        }
    }
    Ok(items)
}

/// An array of at most `.0` items, split but not parsed; `None` when it
/// has more (the rest is only skipped over).
struct AtMost(usize);

impl<'de> serde::de::Visitor<'de> for AtMost {
    type Value = Option<Vec<&'de RawValue>>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an array of logs")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if items.len() == self.0 {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                return Ok(None);
            }
            items.push(item);
        }
        Ok(Some(items))
    }
}

fn parse_text(body: &[u8]) -> Result<Vec<Item>, DecodeError> {
    let text = std::str::from_utf8(body)
        .map_err(|error| DecodeError::Malformed(format!("body is not UTF-8: {error}")))?;
    let lines = text
        .split('\n')
        .filter(|line| !line.trim_end_matches('\r').is_empty())
        .count();
    if lines > MAX_ITEMS {
        return Err(DecodeError::TooManyItems);
    }
    Ok(text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut fields = Map::new();
            fields.insert("message".into(), Value::String(line.to_string()));
            Item {
                fields,
                size: line.len(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("compress");
        encoder.finish().expect("compress")
    }

    #[test]
    fn encodings() {
        let body = br#"[{"message":"a"}]"#;
        assert_eq!(decompress(&gzip(body), Some("gzip")).expect("gzip"), body);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(body).expect("compress");
        assert_eq!(
            decompress(&zlib.finish().expect("zlib"), Some("deflate")).expect("zlib"),
            body
        );
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(body).expect("compress");
        assert_eq!(
            decompress(&raw.finish().expect("raw"), Some("deflate")).expect("raw deflate"),
            body
        );
        let zstd = zstd::encode_all(&body[..], 1).expect("zstd");
        assert_eq!(decompress(&zstd, Some("zstd")).expect("zstd"), body);
        assert_eq!(
            decompress(&gzip(&gzip(body)), Some("gzip, gzip")).expect("twice"),
            body
        );
        assert!(matches!(
            decompress(body, Some("br")),
            Err(DecodeError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            decompress(b"not gzip", Some("gzip")),
            Err(DecodeError::BadCompression { .. })
        ));
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let bomb = gzip(&vec![b'a'; 50_000_000]);
        assert!(bomb.len() < 1_000_000, "a bomb: {} bytes", bomb.len());
        assert!(matches!(
            decompress(&bomb, Some("gzip")),
            Err(DecodeError::TooLarge)
        ));
        assert!(matches!(
            decompress(&vec![b' '; MAX_PAYLOAD_BYTES + 1], None),
            Err(DecodeError::TooLarge)
        ));
    }

    #[test]
    fn bodies() {
        let items = parse_items(
            br#"[{"message":"a"}, "b", {"x":1}]"#,
            Some("application/json"),
        )
        .expect("array");
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].fields["message"], "b");
        assert_eq!(items[0].size, r#"{"message":"a"}"#.len());
        assert_eq!(
            parse_items(br#"{"message":"one"}"#, None)
                .expect("object")
                .len(),
            1
        );
        assert!(parse_items(b"{}", None).expect("keep-alive").is_empty());
        assert!(parse_items(b"", None).expect("empty").is_empty());
        assert_eq!(
            parse_items(b"line 1\nline 2\n", Some("text/plain; charset=utf-8"))
                .expect("text")
                .len(),
            2
        );
        assert!(matches!(
            parse_items(b"[1]", None),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            parse_items(b"[{\"a\":", None),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            parse_items(b"\xff\xfe", Some("text/plain")),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            parse_items(b"x", Some("application/xml")),
            Err(DecodeError::UnsupportedContentType(_))
        ));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse_items(deep.as_bytes(), None),
            Err(DecodeError::Malformed(_))
        ));
    }
}

//! One canonical spelling of a request path, used for routing, policy,
//! recording and forwarding alike, so that no other spelling of a denied
//! path reaches the upstream.
//!
//! The rules (documented in docs/gateway.md):
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
//!   decoded; every other escape is kept, its hex digits in upper case;
//! - refused (400): a path not starting with `/`; a malformed escape; an
//!   encoded `/` or `\`, a literal `\`, an encoded control character; a dot
//!   segment (`.` or `..`, literal or encoded, also with a `;parameter`
//!   after it, as some servers read `..;`); an empty segment (`//`), except
//!   a single trailing `/`;
//! - case: paths are forwarded as written, but routes and policy rules
//!   compare them ignoring ASCII case ([`fold`]), since many upstreams
//!   serve `/Admin` and `/admin` alike.

use std::fmt;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    BadEscape,
    EncodedSeparator,
    Backslash,
    ControlCharacter,
    DotSegment,
    EmptySegment,
}

impl fmt::Display for PathError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            PathError::NotAbsolute => "the path must start with '/'",
            PathError::BadEscape => "the path has a malformed percent-escape",
            PathError::EncodedSeparator => "the path has an encoded '/' or '\\'",
            PathError::Backslash => "the path has a '\\'",
            PathError::ControlCharacter => "the path has an encoded control character",
            PathError::DotSegment => "the path has a '.' or '..' segment",
            PathError::EmptySegment => "the path has an empty segment ('//')",
        })
    }
}

impl std::error::Error for PathError {}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The canonical spelling of `raw` (the path of a request target, without
/// its query), or why it is refused.
pub fn canonical(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut out = String::with_capacity(raw.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'%' => {
                let high = bytes.get(index + 1).copied().and_then(hex_value);
                let low = bytes.get(index + 2).copied().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(PathError::BadEscape);
                };
                let decoded = high << 4 | low;
                if decoded == b'/' || decoded == b'\\' {
                    return Err(PathError::EncodedSeparator);
                }
                if decoded < 0x20 || decoded == 0x7f {
                    return Err(PathError::ControlCharacter);
                }
                if is_unreserved(decoded) {
                    out.push(char::from(decoded));
                } else {
                    out.push('%');
                    out.push(char::from(b"0123456789ABCDEF"[usize::from(high)]));
                    out.push(char::from(b"0123456789ABCDEF"[usize::from(low)]));
                }
                index += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            byte if byte < 0x20 || byte == 0x7f => return Err(PathError::ControlCharacter),
            _ => {
                // Multi-byte characters are copied whole (raw is UTF-8).
                let width = utf8_width(byte);
                let end = (index + width).min(bytes.len());
                out.push_str(raw.get(index..end).ok_or(PathError::BadEscape)?);
                index = end;
            }
        }
    }
    check_segments(&out)?;
    Ok(out)
}

fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn check_segments(path: &str) -> Result<(), PathError> {
    // `path` starts with '/': the first split part is empty and skipped.
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (position, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            // "/" alone, or one trailing slash: "/a/".
            if position == last {
                continue;
            }
            return Err(PathError::EmptySegment);
        }
        // A parameter after the name (`..;x`, or `..%3B` once decoded)
        // does not hide a dot segment.
        let name = segment.split(';').next().unwrap_or_default();
        let name = name.split("%3B").next().unwrap_or_default();
        if name == "." || name == ".." {
            return Err(PathError::DotSegment);
        }
    }
    Ok(())
}

/// The form routes and policy rules compare: ASCII case folded.
pub fn fold(path: &str) -> String {
    path.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_escapes_are_decoded_others_kept() {
        assert_eq!(canonical("/%61dmin/x").as_deref(), Ok("/admin/x"));
        assert_eq!(canonical("/a%7eb%2D").as_deref(), Ok("/a~b-"));
        assert_eq!(canonical("/a%20b%3f").as_deref(), Ok("/a%20b%3F"));
        assert_eq!(canonical("/caf%C3%A9").as_deref(), Ok("/caf%C3%A9"));
        assert_eq!(canonical("/").as_deref(), Ok("/"));
        assert_eq!(canonical("/a/").as_deref(), Ok("/a/"));
        assert_eq!(canonical("/a;v=1/b").as_deref(), Ok("/a;v=1/b"));
    }

    #[test]
    fn ambiguous_spellings_are_refused() {
        for (path, error) in [
            ("admin", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("//admin/x", PathError::EmptySegment),
            ("/a//b", PathError::EmptySegment),
            ("/x/../admin/x", PathError::DotSegment),
            ("/../../etc", PathError::DotSegment),
            ("/./admin", PathError::DotSegment),
            ("/x/..;/admin", PathError::DotSegment),
            ("/x/..%3b/admin", PathError::DotSegment),
            ("/x/%2e%2e/admin", PathError::DotSegment),
            ("/x/%2E./admin", PathError::DotSegment),
            ("/x/.%2e", PathError::DotSegment),
            ("/a%2fb", PathError::EncodedSeparator),
            ("/a%5Cb", PathError::EncodedSeparator),
            ("/a\\b", PathError::Backslash),
            ("/a%00b", PathError::ControlCharacter),
            ("/a%zzb", PathError::BadEscape),
            ("/a%4", PathError::BadEscape),
        ] {
            assert_eq!(canonical(path), Err(error), "{path}");
        }
    }

    #[test]
    fn canonical_is_idempotent() {
        for path in ["/%61dmin/x", "/a%20b", "/A/b;c", "/x/"] {
            let once = canonical(path).expect("canonical");
            assert_eq!(canonical(&once).as_deref(), Ok(once.as_str()));
        }
    }
}

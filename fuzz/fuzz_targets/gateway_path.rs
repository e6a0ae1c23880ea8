//! The gateway's path canonicalization: for any path, and for any other
//! spelling of it (unreserved characters percent-encoded, hex digits and
//! letters in another case), the canonical form and the policy decision
//! are the same; an accepted path, fully decoded as an upstream would,
//! has no dot segment, empty segment or backslash; canonical forms are
//! fixed points.
#![no_main]

use evident_gateway::config::{Effect, PolicyConfig, RuleConfig};
use evident_gateway::path::{canonical, fold};
use evident_gateway::policy::Policy;
use libfuzzer_sys::fuzz_target;

fn rule(name: &str, effect: Effect, paths: &[&str]) -> RuleConfig {
    RuleConfig {
        name: name.to_owned(),
        effect,
        groups: Vec::new(),
        methods: Vec::new(),
        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
    }
}

fn policy() -> Policy {
    Policy::new(&PolicyConfig {
        default: Effect::Allow,
        rules: vec![
            rule("admin", Effect::Deny, &["/admin*", "/api/admin*"]),
            rule("secrets", Effect::Deny, &["*/secret*"]),
            rule("deletes", Effect::Deny, &["/api/*/delete"]),
            rule("public", Effect::Allow, &["/public/*"]),
        ],
    })
}

/// Another spelling of `path`, steered by `choices`.
fn respell(path: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    // The two hex digits of an escape already there stay digits.
    let mut in_escape = 0;
    for (index, character) in path.chars().enumerate() {
        let choice = choices.get(index % choices.len().max(1)).copied().unwrap_or(0);
        let unreserved = character.is_ascii_alphanumeric() || "-._~".contains(character);
        if character == '%' {
            in_escape = 2;
            out.push(character);
            continue;
        }
        if in_escape > 0 {
            in_escape -= 1;
            out.push(character);
            continue;
        }
        if unreserved && choice & 1 == 1 {
            let hex = format!("{:02X}", character as u32);
            out.push('%');
            if choice & 2 == 2 {
                out.push_str(&hex.to_ascii_lowercase());
            } else {
                out.push_str(&hex);
            }
        } else if character.is_ascii_alphabetic() && choice & 4 == 4 {
            if character.is_ascii_lowercase() {
                out.push(character.to_ascii_uppercase());
            } else {
                out.push(character.to_ascii_lowercase());
            }
        } else {
            out.push(character);
        }
    }
    out
}

/// Every escape decoded, as a resolving upstream would read the path.
fn decode_all(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let text = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("zz");
            if let Ok(value) = u8::from_str_radix(text, 16) {
                out.push(value);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |first| usize::from(*first) % 8);
    let (choices, rest) = data.split_at(split.min(data.len()));
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let policy = policy();
    let decide = |path: &str| policy.decide(&[], "GET", path);
    let variant = respell(path, choices);
    match (canonical(path), canonical(&variant)) {
        (Ok(one), Ok(other)) => {
            assert_eq!(fold(&one), fold(&other), "{path:?} / {variant:?}");
            assert_eq!(decide(&one), decide(&other), "{path:?} / {variant:?}");
            assert_eq!(canonical(&one).as_deref(), Ok(one.as_str()));
            let decoded = decode_all(&one);
            assert!(!decoded.contains(&b'\\'), "{one:?}");
            let segments: Vec<&[u8]> = decoded.split(|byte| *byte == b'/').skip(1).collect();
            let last = segments.len().saturating_sub(1);
            for (position, segment) in segments.iter().enumerate() {
                let name = segment.split(|byte| *byte == b';').next().unwrap_or_default();
                assert!(name != b"." && name != b"..", "{one:?}");
                assert!(!segment.is_empty() || position == last, "{one:?}");
            }
        }
        (Err(_), Err(_)) => {}
        (one, other) => panic!("{path:?} -> {one:?} but {variant:?} -> {other:?}"),
    }
});

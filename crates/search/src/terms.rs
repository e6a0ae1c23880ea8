//! Index terms: what an event contains, and what a query requires, as
//! exact strings an index can store (a bloom filter, a term dictionary).
//!
//! The contract, checked by a property test: if [`crate::matches`] accepts
//! an event, every term in [`required_terms`] of the query is among the
//! [`event_terms`] of the event. An index may therefore skip any group of
//! events whose terms lack one required term. Queries the terms cannot
//! narrow (negations, ranges, wildcards, numbers) require nothing.
//!
//! Term shapes:
//! - `w:<word>`: a lowercased word of a free-text field (`message`,
//!   `@error.message`, `@error.stack`, `@title`);
//! - `m:<word>`: a lowercased word of `message` alone;
//! - `a:<path>=<text>`: an attribute value (every element of arrays), as
//!   its JSON text;
//! - `r:<field>=<text>`: a reserved field (`status` and `source` as the
//!   matcher resolves them);
//! - `t:<tag>`: a whole tag.
//!
//! Attribute paths are joined with `\u{1f}` after escaping `\\`, `\u{1f}`
//! and `=` in each key, so that distinct paths never share a term.
//!
//! Some queries are decided by their terms alone ([`exact_terms`]): a
//! conjunction of whole-value needles and single words. For those an index
//! can count and select without reading the events (a second property test
//! checks both directions). With `OR`, a query narrows and is decided by
//! alternatives ([`required_alternatives`], [`exact_alternatives`]): an
//! index takes the union of the events holding each.

use std::collections::BTreeSet;

use evident_model::{Event, ReservedField};
use serde_json::Value as Json;

use crate::ast::{Expr, Field, Value};
use crate::text::{for_each_word, words};

const FULL_TEXT_PATHS: [&[&str]; 3] = [&["error", "message"], &["error", "stack"], &["title"]];

/// Every term of an event.
pub fn event_terms(event: &Event) -> BTreeSet<String> {
    let mut terms = BTreeSet::new();
    visit_event_terms(event, &mut |term| {
        terms.insert(term.to_string());
    });
    terms
}

/// Calls `sink` with every term of an event (a term may come more than
/// once), building each in one reused buffer: what an index builder wants.
pub fn visit_event_terms(event: &Event, sink: &mut dyn FnMut(&str)) {
    let mut out = Emitter {
        buffer: String::with_capacity(128),
        sink,
    };
    if let Some(message) = &event.message {
        for_each_word(message, |word| {
            out.emit(&["m:", word]);
            out.emit(&["w:", word]);
        });
    }
    for path in FULL_TEXT_PATHS {
        let mut values = Vec::new();
        collect(&event.attributes, path, &mut values);
        for value in values {
            if let Some(text) = scalar_text(value) {
                for_each_word(&text, |word| out.emit(&["w:", word]));
            }
        }
    }
    let mut prefix = String::new();
    for (key, value) in &event.attributes {
        push_key(&mut prefix, key);
        attribute_terms(&mut prefix, value, &mut out);
        prefix.clear();
    }
    for reserved in [
        ReservedField::Host,
        ReservedField::Service,
        ReservedField::TraceId,
    ] {
        if let Some(text) = event.reserved_text(reserved) {
            out.emit(&["r:", reserved.name(), "=", text]);
        }
    }
    match &event.status {
        Some(status) => {
            out.emit(&["r:status=", status]);
            // `@status` falls back to the reserved status when no attribute
            // of that name holds a value, as the matcher does.
            let mut values = Vec::new();
            collect(&event.attributes, &["status"], &mut values);
            if values.is_empty() {
                out.emit(&["a:status=", status]);
            }
        }
        None => {
            // Audit events carry `status` as an attribute, arrays included.
            let mut values = Vec::new();
            collect(&event.attributes, &["status"], &mut values);
            for text in values.into_iter().filter_map(scalar_text) {
                out.emit(&["r:status=", &text]);
            }
        }
    }
    if let Some(source) = &event.source {
        out.emit(&["r:source=", source]);
    }
    for tag in &event.tags {
        out.emit(&["t:", tag]);
        if let Some(source) = tag.strip_prefix("source:") {
            out.emit(&["r:source=", source]);
        }
    }
}

struct Emitter<'s> {
    buffer: String,
    sink: &'s mut dyn FnMut(&str),
}

impl Emitter<'_> {
    fn emit(&mut self, parts: &[&str]) {
        self.buffer.clear();
        parts.iter().for_each(|part| self.buffer.push_str(part));
        (self.sink)(&self.buffer);
    }
}

fn attribute_terms(prefix: &mut String, value: &Json, out: &mut Emitter<'_>) {
    match value {
        Json::Object(object) => {
            let length = prefix.len();
            for (key, child) in object {
                prefix.push('\u{1f}');
                push_key(prefix, key);
                attribute_terms(prefix, child, out);
                prefix.truncate(length);
            }
        }
        // The matcher tries every element of an array at the same path.
        Json::Array(items) => items
            .iter()
            .for_each(|item| attribute_terms(prefix, item, out)),
        scalar => {
            if let Some(text) = scalar_text(scalar) {
                out.emit(&["a:", prefix, "=", &text]);
            }
        }
    }
}

/// The path part of an `a:` term: keys escaped, then joined, so that the
/// mapping from paths to text is one-to-one.
fn join_path<S: AsRef<str>>(segments: &[S]) -> String {
    let mut joined = String::new();
    for (index, segment) in segments.iter().enumerate() {
        if index > 0 {
            joined.push('\u{1f}');
        }
        push_key(&mut joined, segment.as_ref());
    }
    joined
}

fn push_key(joined: &mut String, key: &str) {
    if !key.contains(['\\', '\u{1f}', '=']) {
        joined.push_str(key);
        return;
    }
    for ch in key.chars() {
        match ch {
            '\\' => joined.push_str("\\\\"),
            '\u{1f}' => joined.push_str("\\u"),
            '=' => joined.push_str("\\e"),
            other => joined.push(other),
        }
    }
}

fn scalar_text(value: &Json) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Json::String(text) => Some(text.into()),
        Json::Number(number) => Some(number.to_string().into()),
        Json::Bool(flag) => Some(if *flag { "true" } else { "false" }.into()),
        Json::Null | Json::Array(_) | Json::Object(_) => None,
    }
}

fn collect<'e>(
    attributes: &'e serde_json::Map<String, Json>,
    path: &[&str],
    out: &mut Vec<&'e Json>,
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(value) = attributes.get(*first) {
        descend(value, rest, out);
    }
}

fn descend<'e>(value: &'e Json, rest: &[&str], out: &mut Vec<&'e Json>) {
    match value {
        Json::Array(items) => items.iter().for_each(|item| descend(item, rest, out)),
        Json::Object(object) if !rest.is_empty() => collect(object, rest, out),
        value if rest.is_empty() => out.push(value),
        _ => {}
    }
}

/// Beyond this many alternatives ([`required_alternatives`],
/// [`exact_alternatives`]) a query is narrowed by what all of them share.
pub const MAX_ALTERNATIVES: usize = 64;

/// Sets of terms of which every matching event holds at least one whole,
/// so that an index may keep the union of the events holding each:
/// `@evt.name:A OR @evt.name:B` narrows to the events holding either
/// term, where [`required_terms`] has nothing to offer. A set with no
/// terms means no narrowing. More than [`MAX_ALTERNATIVES`]: the one set
/// of [`required_terms`].
pub fn required_alternatives(expr: &Expr) -> Vec<BTreeSet<String>> {
    required_sets(expr).unwrap_or_else(|| vec![required_terms(expr)])
}

/// The alternatives that decide `expr`: an event matches exactly when it
/// holds every term of one of them ([`exact_terms`] with `OR`). `None`
/// when the matcher is needed, or there would be more than
/// [`MAX_ALTERNATIVES`].
pub fn exact_alternatives(expr: &Expr) -> Option<Vec<BTreeSet<String>>> {
    match expr {
        Expr::All => Some(vec![BTreeSet::new()]),
        Expr::Match { field, value } => {
            exact_match_term(field, value).map(|term| vec![BTreeSet::from([term])])
        }
        Expr::And(operands) => operands
            .iter()
            .try_fold(vec![BTreeSet::new()], |sets, operand| {
                cross(sets, exact_alternatives(operand)?)
            }),
        Expr::Or(operands) => {
            let mut sets = Vec::new();
            for operand in operands {
                sets.extend(exact_alternatives(operand)?);
                if sets.len() > MAX_ALTERNATIVES {
                    return None;
                }
            }
            Some(distinct(sets))
        }
        Expr::Not(_) | Expr::Exists(_) | Expr::Cidr { .. } => None,
    }
}

/// [`required_alternatives`], `None` past [`MAX_ALTERNATIVES`].
fn required_sets(expr: &Expr) -> Option<Vec<BTreeSet<String>>> {
    match expr {
        Expr::And(operands) => operands
            .iter()
            .try_fold(vec![BTreeSet::new()], |sets, operand| {
                cross(sets, required_sets(operand)?)
            }),
        Expr::Or(operands) => {
            let mut sets = Vec::new();
            for operand in operands {
                let branch = required_sets(operand)?;
                // A branch that requires nothing lets everything through.
                if branch.iter().any(BTreeSet::is_empty) {
                    return Some(vec![BTreeSet::new()]);
                }
                sets.extend(branch);
                if sets.len() > MAX_ALTERNATIVES {
                    return None;
                }
            }
            Some(distinct(sets))
        }
        Expr::Match { field, value } => Some(vec![match_terms(field, value)]),
        Expr::All | Expr::Not(_) | Expr::Exists(_) | Expr::Cidr { .. } => {
            Some(vec![BTreeSet::new()])
        }
    }
}

/// Every union of one set of `left` and one of `right`: what holding one
/// alternative of each side means.
fn cross(
    left: Vec<BTreeSet<String>>,
    right: Vec<BTreeSet<String>>,
) -> Option<Vec<BTreeSet<String>>> {
    if left.len().saturating_mul(right.len()) > MAX_ALTERNATIVES {
        return None;
    }
    let mut sets = Vec::with_capacity(left.len() * right.len());
    for one in &left {
        for other in &right {
            sets.push(one.union(other).cloned().collect());
        }
    }
    Some(distinct(sets))
}

fn distinct(mut sets: Vec<BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    sets.sort();
    sets.dedup();
    sets
}

/// Terms every matching event contains. Empty when the query cannot be
/// narrowed this way (it may still match anything).
pub fn required_terms(expr: &Expr) -> BTreeSet<String> {
    match expr {
        Expr::And(operands) => operands.iter().flat_map(required_terms).collect(),
        // Each branch must supply a term the others share to narrow an OR;
        // keep only what all branches require.
        Expr::Or(operands) => {
            let mut branches = operands.iter().map(required_terms);
            let Some(first) = branches.next() else {
                return BTreeSet::new();
            };
            branches.fold(first, |common, branch| {
                common.intersection(&branch).cloned().collect()
            })
        }
        Expr::Match { field, value } => match_terms(field, value),
        Expr::All | Expr::Not(_) | Expr::Exists(_) | Expr::Cidr { .. } => BTreeSet::new(),
    }
}

/// The terms that decide `expr` on their own: an event matches exactly
/// when it holds all of them. `None` when the query needs the matcher
/// (alternatives, negations, wildcards, numbers, ranges, phrases of
/// several words). `Some` of no terms means every event matches.
pub fn exact_terms(expr: &Expr) -> Option<BTreeSet<String>> {
    match expr {
        Expr::All => Some(BTreeSet::new()),
        Expr::And(operands) => {
            let mut terms = BTreeSet::new();
            for operand in operands {
                terms.extend(exact_terms(operand)?);
            }
            Some(terms)
        }
        Expr::Match { field, value } => {
            exact_match_term(field, value).map(|term| BTreeSet::from([term]))
        }
        Expr::Or(_) | Expr::Not(_) | Expr::Exists(_) | Expr::Cidr { .. } => None,
    }
}

fn exact_match_term(field: &Field, value: &Value) -> Option<String> {
    // Keyword fields compare whole values as text; a term that reads as a
    // number also compares numerically, which no term captures.
    let text = match value {
        Value::Term(term) if term.number().is_none() => term.text(),
        Value::Phrase(phrase) if !matches!(field, Field::FreeText) => phrase.as_str(),
        _ => return None,
    };
    match field {
        Field::Attribute(path) if !path.is_full_text() => {
            Some(format!("a:{}={text}", join_path(path.segments())))
        }
        // `status` falls back to the attribute of that name, as its terms do.
        Field::Reserved(
            reserved @ (ReservedField::Host | ReservedField::Service | ReservedField::Status),
        ) => Some(format!("r:{}={text}", reserved.name())),
        Field::Tags => Some(format!("t:{text}")),
        // A key with a colon would split elsewhere in the tag.
        Field::TagKey(key) if !key.contains(':') => Some(format!("t:{key}:{text}")),
        // One bare word: present in some text field, exactly its `w:` term.
        Field::FreeText => {
            let mut found = words(text);
            let word = found.next()?;
            (found.next().is_none() && word == text.to_lowercase()).then(|| format!("w:{word}"))
        }
        _ => None,
    }
}

fn match_terms(field: &Field, value: &Value) -> BTreeSet<String> {
    // Words and whole values only; a term that reads as a number can match
    // numerically (`200` matches `200.0`), so on keyword fields it requires
    // nothing. Phrases compare as text.
    let (text, numeric) = match value {
        Value::Term(term) => (term.text(), term.number().is_some()),
        Value::Phrase(phrase) => (phrase.as_str(), false),
        Value::Wildcard(_) | Value::Compare(..) | Value::Range(_) => return BTreeSet::new(),
    };
    let word_terms = |prefix: &str| words(text).map(|word| format!("{prefix}:{word}")).collect();
    let one = |term: String| BTreeSet::from([term]);
    match field {
        // Free text: each word must be in some text field.
        Field::FreeText => word_terms("w"),
        Field::Reserved(ReservedField::Message) => word_terms("m"),
        Field::Attribute(path) if !path.is_full_text() && !numeric => {
            one(format!("a:{}={text}", join_path(path.segments())))
        }
        // `status` may fall back to a numeric attribute.
        Field::Reserved(
            reserved @ (ReservedField::Host
            | ReservedField::Service
            | ReservedField::TraceId
            | ReservedField::Status
            | ReservedField::Source),
        ) if !numeric => one(format!("r:{}={text}", reserved.name())),
        Field::TagKey(key) => one(format!("t:{key}:{text}")),
        Field::Tags => one(format!("t:{text}")),
        _ => BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms_of(query: &str) -> Vec<String> {
        required_terms(&crate::parse_filter(query).expect("valid"))
            .into_iter()
            .collect()
    }

    #[test]
    fn needles_and_words() {
        assert_eq!(
            terms_of("@usr.email:a@b.co @evt.name:Request"),
            ["a:evt\u{1f}name=Request", "a:usr\u{1f}email=a@b.co"]
        );
        assert_eq!(terms_of("Hello, World"), ["w:hello", "w:world"]);
        assert_eq!(
            terms_of("service:web env:prod"),
            ["r:service=web", "t:env:prod"]
        );
        assert!(terms_of("-@usr.email:x").is_empty());
        assert!(
            terms_of("@http.status_code:200").is_empty(),
            "numbers match numerically"
        );
        assert_eq!(terms_of("(a b) OR (a c)"), ["w:a"]);
        assert!(terms_of("a OR b").is_empty());
    }

    #[test]
    fn status_is_decided_by_its_terms_wherever_the_event_keeps_it() {
        let events = [
            r#"{"status":"error"}"#,
            r#"{"status":"Error"}"#,
            r#"{"status":"info","attributes":{"status":"error"}}"#,
            r#"{"attributes":{"status":"error"}}"#,
            r#"{"attributes":{"status":["warn","error"]}}"#,
            r#"{"attributes":{"status":{"code":"error"}}}"#,
            r#"{"attributes":{"status":true}}"#,
            r#"{"attributes":{"status":500}}"#,
            r#"{"attributes":{"state":"error"}}"#,
            r#"{"status":"error","attributes":{"status":[]}}"#,
            r#"{"status":"error","attributes":{"status":null}}"#,
            r#"{"status":"warn","attributes":{"status":{"code":"error"}}}"#,
        ];
        for query in [
            "status:error",
            "status:true",
            "status:Error",
            "status:(error OR warn)",
            "@status:error",
            "@status:(error OR warn)",
        ] {
            let filter = crate::parse_filter(query).expect("valid");
            let sets = exact_alternatives(&filter).expect("decided by terms");
            for text in events {
                let event: Event = serde_json::from_str(text).expect("event");
                let have = event_terms(&event);
                let held = sets.iter().any(|set| set.is_subset(&have));
                assert_eq!(crate::matches(&filter, &event), held, "{query} on {text}");
            }
        }
        let numeric = crate::parse_filter("status:500").expect("valid");
        assert!(
            exact_alternatives(&numeric).is_none(),
            "numbers match numerically"
        );
    }

    #[test]
    fn alternatives_of_or_and_and() {
        let sets = |query: &str| -> Vec<Vec<String>> {
            required_alternatives(&crate::parse_filter(query).expect("valid"))
                .into_iter()
                .map(|set| set.into_iter().collect())
                .collect()
        };
        assert_eq!(sets("@a:x OR @a:y"), [["a:a=x"], ["a:a=y"]]);
        assert_eq!(
            sets("service:web (@a:x OR @a:y)"),
            [["a:a=x", "r:service=web"], ["a:a=y", "r:service=web"]]
        );
        assert_eq!(
            sets("@a:x OR -@a:y"),
            [Vec::<String>::new()],
            "a branch requiring nothing"
        );
        let wide = (0..=MAX_ALTERNATIVES)
            .map(|at| format!("@a:v{at}"))
            .collect::<Vec<_>>();
        let query = format!("service:web ({})", wide.join(" OR "));
        assert_eq!(
            sets(&query),
            [["r:service=web"]],
            "too many: what they share"
        );
    }
}

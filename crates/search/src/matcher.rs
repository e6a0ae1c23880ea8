//! The reference matcher: the single definition of what a query means.
//!
//! [`matches`] evaluates a filter against one [`Event`]. The storage
//! engine's columnar evaluation must agree with it on every event; the
//! rules below are the search syntax spec §5, with the project's decisions:
//!
//! - **text fields** (`message`, the free-text attributes `@error.message`,
//!   `@error.stack`, `@title`, and `*:` over everything) are tokenised and
//!   case-insensitive (see [`crate::text`]);
//! - **keyword fields** (attributes, tags, reserved fields) compare the whole
//!   value, case-sensitively; numbers and booleans through their JSON text,
//!   and numbers also numerically (`@a:200` matches `200.0`);
//! - **comparisons and ranges** are numeric when the stored value is a JSON
//!   number and the bound is numeric; a stored string compares byte-wise
//!   with the bound's text (so `"9" > "10"`), everything else is false;
//!   `timestamp` compares instants; `[* TO *]` only asks that the field
//!   exists;
//! - an attribute path walks objects and tries **every element** of an array
//!   it meets; a clause holds if any reached value satisfies it;
//! - `NOT` is the plain complement: `-@a:x` holds when `@a` is absent.

use std::cell::OnceCell;
use std::cmp::Ordering;
use std::net::IpAddr;

use evident_model::{Event, ReservedField, Timestamp};
use serde_json::{Map, Value as Json};

use crate::ast::{AttrPath, Bound, Expr, Field, Literal, Number, Range, Value};
use crate::glob::Glob;
use crate::text::{TextQuery, Tokenized};

/// True if `filter` holds for `event`.
pub fn matches(filter: &Expr, event: &Event) -> bool {
    EventView::new(event).eval(filter)
}

/// The paths Datadog searches besides `message` when no field is given.
const FULL_TEXT_ATTRIBUTES: [&[&str]; 3] = [&["error", "message"], &["error", "stack"], &["title"]];

/// An event with its tokenised text computed on first use, so that a query
/// with many free-text clauses tokenises the message once.
struct EventView<'e> {
    event: &'e Event,
    message: OnceCell<Option<Tokenized>>,
    full_text_attributes: OnceCell<Vec<Tokenized>>,
}

/// A value reached by a field, seen as a comparable scalar.
#[derive(Clone, Copy)]
enum Scalar<'e> {
    Str(&'e str),
    Num(&'e serde_json::Number),
    Bool(bool),
    /// `null`, an object: present, but equal to no value.
    Other,
}

impl<'e> Scalar<'e> {
    fn of(json: &'e Json) -> Scalar<'e> {
        match json {
            Json::String(text) => Scalar::Str(text),
            Json::Number(number) => Scalar::Num(number),
            Json::Bool(flag) => Scalar::Bool(*flag),
            Json::Null | Json::Array(_) | Json::Object(_) => Scalar::Other,
        }
    }

    /// The canonical text a value is matched through.
    fn text(self) -> Option<std::borrow::Cow<'e, str>> {
        match self {
            Scalar::Str(text) => Some(text.into()),
            Scalar::Num(number) => Some(number.to_string().into()),
            Scalar::Bool(flag) => Some(if flag { "true" } else { "false" }.into()),
            Scalar::Other => None,
        }
    }

    /// Ordering against a comparison bound, when the two are comparable.
    fn compare(self, bound: &Literal) -> Option<Ordering> {
        match self {
            Scalar::Num(number) => Number::from_json(number)?.compare(bound.number()?),
            Scalar::Str(text) => Some(text.as_bytes().cmp(bound.text().as_bytes())),
            Scalar::Bool(_) | Scalar::Other => None,
        }
    }

    fn in_range(self, range: &Range) -> bool {
        let open = matches!(
            (&range.lower, &range.upper),
            (Bound::Unbounded, Bound::Unbounded)
        );
        if open {
            // `[* TO *]` is an existence test, whatever the value's type.
            return true;
        }
        if matches!(self, Scalar::Bool(_) | Scalar::Other) {
            return false;
        }
        let above_lower = match &range.lower {
            Bound::Unbounded => true,
            Bound::Inclusive(bound) => self.compare(bound).is_some_and(Ordering::is_ge),
            Bound::Exclusive(bound) => self.compare(bound).is_some_and(Ordering::is_gt),
        };
        let below_upper = match &range.upper {
            Bound::Unbounded => true,
            Bound::Inclusive(bound) => self.compare(bound).is_some_and(Ordering::is_le),
            Bound::Exclusive(bound) => self.compare(bound).is_some_and(Ordering::is_lt),
        };
        above_lower && below_upper
    }

    fn equals_term(self, term: &Literal) -> bool {
        match self {
            Scalar::Str(text) => text == term.text(),
            Scalar::Num(number) => {
                let numerically =
                    Number::from_json(number)
                        .zip(term.number())
                        .is_some_and(|(stored, wanted)| {
                            stored.compare(wanted) == Some(Ordering::Equal)
                        });
                numerically || number.to_string() == term.text()
            }
            Scalar::Bool(_) => self.text().is_some_and(|text| text == term.text()),
            Scalar::Other => false,
        }
    }

    fn ip(self) -> Option<IpAddr> {
        match self {
            Scalar::Str(text) => text.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Whole-value semantics for keyword fields.
fn keyword_matches(value: &Value, scalars: &[Scalar<'_>]) -> bool {
    match value {
        Value::Term(term) => scalars.iter().any(|scalar| scalar.equals_term(term)),
        Value::Phrase(phrase) => scalars
            .iter()
            .any(|scalar| scalar.text().is_some_and(|text| text == phrase.as_str())),
        Value::Wildcard(pattern) => {
            let glob = Glob::new(pattern, false);
            scalars
                .iter()
                .any(|scalar| scalar.text().is_some_and(|text| glob.is_match(&text)))
        }
        Value::Compare(operator, bound) => scalars.iter().any(|scalar| {
            scalar
                .compare(bound)
                .is_some_and(|ordering| operator.holds(ordering))
        }),
        Value::Range(range) => scalars.iter().any(|scalar| scalar.in_range(range)),
    }
}

/// Tokenised semantics for text fields; `None` for comparisons and ranges,
/// which compare whole values even on text fields.
fn text_query(value: &Value) -> Option<TextQuery> {
    match value {
        Value::Term(term) => Some(TextQuery::term(term.text())),
        Value::Phrase(phrase) => Some(TextQuery::phrase(phrase)),
        Value::Wildcard(pattern) => Some(TextQuery::wildcard(pattern)),
        Value::Compare(..) | Value::Range(_) => None,
    }
}

impl<'e> EventView<'e> {
    fn new(event: &'e Event) -> EventView<'e> {
        EventView {
            event,
            message: OnceCell::new(),
            full_text_attributes: OnceCell::new(),
        }
    }

    fn eval(&self, expr: &Expr) -> bool {
        match expr {
            Expr::All => true,
            Expr::And(operands) => operands.iter().all(|operand| self.eval(operand)),
            Expr::Or(operands) => operands.iter().any(|operand| self.eval(operand)),
            Expr::Not(operand) => !self.eval(operand),
            Expr::Exists(field) => self.exists(field),
            Expr::Match { field, value } => self.field_matches(field, value),
            Expr::Cidr { field, blocks } => self
                .scalars(field)
                .into_iter()
                .filter_map(Scalar::ip)
                .any(|ip| blocks.iter().any(|block| block.contains(ip))),
        }
    }

    fn message_tokens(&self) -> Option<&Tokenized> {
        self.message
            .get_or_init(|| self.event.message.as_deref().map(Tokenized::new))
            .as_ref()
    }

    fn full_text_attribute_tokens(&self) -> &[Tokenized] {
        self.full_text_attributes.get_or_init(|| {
            let mut values = Vec::new();
            for path in FULL_TEXT_ATTRIBUTES {
                collect_path(&self.event.attributes, path, &mut values);
            }
            values
                .into_iter()
                .filter_map(|json| Scalar::of(json).text().map(|text| Tokenized::new(&text)))
                .collect()
        })
    }

    fn message_scalar(&self) -> Vec<Scalar<'e>> {
        self.event
            .message
            .as_deref()
            .map(Scalar::Str)
            .into_iter()
            .collect()
    }

    fn field_matches(&self, field: &Field, value: &Value) -> bool {
        match field {
            Field::FreeText => match text_query(value) {
                Some(query) => {
                    self.message_tokens()
                        .is_some_and(|tokens| query.is_match(tokens))
                        || self
                            .full_text_attribute_tokens()
                            .iter()
                            .any(|tokens| query.is_match(tokens))
                }
                None => keyword_matches(value, &self.message_scalar()),
            },
            Field::Reserved(ReservedField::Message) => match text_query(value) {
                Some(query) => self
                    .message_tokens()
                    .is_some_and(|tokens| query.is_match(tokens)),
                None => keyword_matches(value, &self.message_scalar()),
            },
            Field::Reserved(ReservedField::Timestamp) => self.timestamp_matches(value),
            Field::Attribute(path) if path.is_full_text() => {
                let scalars = self.scalars(field);
                match text_query(value) {
                    Some(query) => scalars
                        .iter()
                        .filter_map(|scalar| scalar.text())
                        .any(|text| query.is_match(&Tokenized::new(&text))),
                    None => keyword_matches(value, &scalars),
                }
            }
            Field::AnyField => {
                let scalars = self.scalars(field);
                match text_query(value) {
                    Some(query) => scalars
                        .iter()
                        .filter_map(|scalar| scalar.text())
                        .any(|text| query.is_match(&Tokenized::new(&text))),
                    None => keyword_matches(value, &scalars),
                }
            }
            _ => keyword_matches(value, &self.scalars(field)),
        }
    }

    fn timestamp_matches(&self, value: &Value) -> bool {
        let Some(stored) = self.event.timestamp else {
            return false;
        };
        let instant = |text: &str| text.parse::<Timestamp>().ok();
        let compare = |bound: &Literal| instant(bound.text()).map(|bound| stored.cmp(&bound));
        match value {
            Value::Term(term) => instant(term.text()) == Some(stored),
            Value::Phrase(phrase) => instant(phrase) == Some(stored),
            Value::Wildcard(pattern) => Glob::new(pattern, false).is_match(&stored.to_string()),
            Value::Compare(operator, bound) => compare(bound).is_some_and(|o| operator.holds(o)),
            Value::Range(range) => {
                let lower = match &range.lower {
                    Bound::Unbounded => true,
                    Bound::Inclusive(bound) => compare(bound).is_some_and(Ordering::is_ge),
                    Bound::Exclusive(bound) => compare(bound).is_some_and(Ordering::is_gt),
                };
                let upper = match &range.upper {
                    Bound::Unbounded => true,
                    Bound::Inclusive(bound) => compare(bound).is_some_and(Ordering::is_le),
                    Bound::Exclusive(bound) => compare(bound).is_some_and(Ordering::is_lt),
                };
                lower && upper
            }
        }
    }

    fn exists(&self, field: &Field) -> bool {
        match field {
            Field::Reserved(ReservedField::Timestamp) => self.event.timestamp.is_some(),
            Field::FreeText => {
                self.event.message.is_some() || !self.full_text_attribute_tokens().is_empty()
            }
            field => !self.scalars(field).is_empty(),
        }
    }

    /// Every value `field` reaches in the event.
    fn scalars(&self, field: &Field) -> Vec<Scalar<'e>> {
        let event = self.event;
        match field {
            Field::FreeText => {
                let mut values = Vec::new();
                for path in FULL_TEXT_ATTRIBUTES {
                    collect_path(&event.attributes, path, &mut values);
                }
                let mut scalars = self.message_scalar();
                scalars.extend(values.into_iter().map(Scalar::of));
                scalars
            }
            Field::AnyField => {
                let mut scalars = self.message_scalar();
                for value in event.attributes.values() {
                    collect_leaves(value, &mut scalars);
                }
                scalars
            }
            Field::Reserved(ReservedField::Status) if event.status.is_none() => {
                // Audit events carry `status` as an attribute only.
                attribute_scalars(&event.attributes, &["status"])
            }
            Field::Reserved(ReservedField::Source) => {
                // Datadog carries the source as a `source:` tag too.
                let mut scalars: Vec<Scalar<'e>> = event
                    .source
                    .as_deref()
                    .map(Scalar::Str)
                    .into_iter()
                    .collect();
                scalars.extend(tag_values(&event.tags, "source").map(Scalar::Str));
                scalars
            }
            Field::Reserved(ReservedField::Timestamp) => Vec::new(),
            Field::Reserved(reserved) => event
                .reserved_text(*reserved)
                .map(Scalar::Str)
                .into_iter()
                .collect(),
            Field::Tags => event.tags.iter().map(|tag| Scalar::Str(tag)).collect(),
            Field::TagKey(key) => tag_values(&event.tags, key).map(Scalar::Str).collect(),
            Field::Attribute(path) => {
                let scalars = attribute_scalars(&event.attributes, path.segments());
                match (&event.status, path.segments()) {
                    // `@status` falls back to the reserved status, as
                    // `status:` falls back to the attribute: imported and
                    // evident's own events keep it there only.
                    (Some(status), [only]) if scalars.is_empty() && only == "status" => {
                        vec![Scalar::Str(status)]
                    }
                    _ => scalars,
                }
            }
        }
    }
}

/// Values of the tags `key:value` with the given key (the text before the
/// first `:`); a bare tag `key` has no value and is not one of them.
fn tag_values<'e, 'k>(tags: &'e [String], key: &'k str) -> impl Iterator<Item = &'e str> + 'k
where
    'e: 'k,
{
    tags.iter().filter_map(move |tag| {
        let (tag_key, value) = tag.split_once(':')?;
        (tag_key == key).then_some(value)
    })
}

fn attribute_scalars<'e, S: AsRef<str>>(
    attributes: &'e Map<String, Json>,
    path: &[S],
) -> Vec<Scalar<'e>> {
    let mut values = Vec::new();
    collect_path(attributes, path, &mut values);
    values.into_iter().map(Scalar::of).collect()
}

/// Walks `path` from `attributes`, trying every element of the arrays it
/// meets on the way and at the end.
fn collect_path<'e, S: AsRef<str>>(
    attributes: &'e Map<String, Json>,
    path: &[S],
    out: &mut Vec<&'e Json>,
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(value) = attributes.get(first.as_ref()) {
        descend(value, rest, out);
    }
}

fn descend<'e, S: AsRef<str>>(value: &'e Json, rest: &[S], out: &mut Vec<&'e Json>) {
    match value {
        Json::Array(items) => items.iter().for_each(|item| descend(item, rest, out)),
        Json::Object(object) if !rest.is_empty() => collect_path(object, rest, out),
        value if rest.is_empty() => out.push(value),
        _ => {}
    }
}

/// Every scalar below `value`, for `*:` searches.
fn collect_leaves<'e>(value: &'e Json, out: &mut Vec<Scalar<'e>>) {
    match value {
        Json::Array(items) => items.iter().for_each(|item| collect_leaves(item, out)),
        Json::Object(object) => object.values().for_each(|item| collect_leaves(item, out)),
        scalar => out.push(Scalar::of(scalar)),
    }
}

impl AttrPath {
    /// The JSON values this path reaches in `attributes` (arrays expanded),
    /// for callers outside the matcher (facets, column extraction).
    pub fn resolve<'e>(&self, attributes: &'e Map<String, Json>) -> Vec<&'e Json> {
        let mut values = Vec::new();
        collect_path(attributes, self.segments(), &mut values);
        values
    }
}

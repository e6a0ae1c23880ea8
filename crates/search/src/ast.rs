//! The syntax tree of a search query.
//!
//! The tree is built for *lowering* as much as for matching: every clause
//! says which field it targets ([`Field`]: free text, a reserved field, a tag
//! key, the tag list or an attribute path), how its value is to be compared
//! ([`Value`]: a word, a phrase, a wildcard [`Pattern`], a comparison or a
//! [`Range`]) and, for literals, whether the text reads as a number
//! ([`Literal::number`]). Nothing downstream needs to look at the query text
//! again.
//!
//! Sugar is removed while parsing: a field group `@a:(x OR y)` becomes
//! `@a:x OR @a:y`, `_missing_:f` becomes `NOT _exists_:f`, and `f:*`
//! becomes `_exists_:f`. Printing a tree ([`std::fmt::Display`]) gives a query
//! that parses back to the same tree.

use std::net::IpAddr;

use evident_model::ReservedField;

/// A whole query: the filter, then an optional `| stats ...` pipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filter: Expr,
    pub stats: Option<Stats>,
}

/// A boolean filter over one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `*`, `*:*` or the empty query: every event.
    All,
    /// At least two operands, all of which must hold.
    And(Vec<Expr>),
    /// At least two operands, one of which must hold.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `_exists_:f`, `f:*`: the field holds a value.
    Exists(Field),
    /// `f:value`, or a bare value against the free-text fields.
    Match {
        field: Field,
        value: Value,
    },
    /// `CIDR(@f, 10.0.0.0/8, ...)`: the field holds an IP inside a block.
    Cidr {
        field: Field,
        blocks: Vec<CidrBlock>,
    },
}

/// What a clause looks at, resolved once at parse time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// No field written: `message` plus the full-text attributes
    /// (`@error.message`, `@error.stack`, `@title`), tokenised and
    /// case-insensitive.
    FreeText,
    /// `*:value`: every attribute value and the message, tokenised and
    /// case-insensitive.
    AnyField,
    /// `message`, `host`, `service`, `status`, `source`, `trace_id`,
    /// `timestamp`.
    Reserved(ReservedField),
    /// `tags:x`: an element of the tag list, taken whole.
    Tags,
    /// `env:prod`: tags whose key (the text before the first `:`) is `env`.
    TagKey(String),
    /// `@usr.email`: a path into the JSON attributes.
    Attribute(AttrPath),
}

/// A dotted path into the attributes. Each segment is one JSON object key;
/// a key that itself contains dots is written `@a\.b` or `@\"a.b\"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    segments: Vec<String>,
}

impl AttrPath {
    /// `None` for an empty path or an empty segment.
    pub fn new(segments: Vec<String>) -> Option<AttrPath> {
        let valid = !segments.is_empty() && segments.iter().all(|segment| !segment.is_empty());
        valid.then_some(AttrPath { segments })
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The attributes Datadog tokenises like `message` ("default fields" of
    /// full-text search): `@error.message`, `@error.stack`, `@title`.
    pub fn is_full_text(&self) -> bool {
        matches!(
            self.segments
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice(),
            ["error", "message"] | ["error", "stack"] | ["title"]
        )
    }
}

/// How a clause compares against the field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// One word. Whole-value equality on keyword fields (attributes, tags,
    /// reserved fields); on text fields its tokens must appear in sequence.
    Term(Literal),
    /// `"..."`: exact on keyword fields; on text fields a token sequence in
    /// which written punctuation counts. `*` and `?` are literal here.
    Phrase(String),
    /// A word with unescaped `*` or `?`.
    Wildcard(Pattern),
    /// `>v`, `>=v`, `<v`, `<=v`.
    Compare(CompareOp, Literal),
    /// `[a TO b]`, `{a TO b}`, mixed brackets allowed, `*` for open ends.
    Range(Range),
}

/// Literal text with its numeric reading, decided once.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    text: String,
    number: Option<Number>,
}

impl Literal {
    pub fn new(text: impl Into<String>) -> Literal {
        let text = text.into();
        let number = Number::parse(&text);
        Literal { text, number }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// `Some` when the text is a number in the query grammar
    /// (`-?digits(.digits)?([eE][+-]?digits)?`).
    pub fn number(&self) -> Option<Number> {
        self.number
    }
}

/// A number from a query or an event: integers that fit in `i64` compare
/// exactly, anything else as `f64` (equality on huge integers still holds
/// through the canonical text).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    /// Parses the query grammar's numbers only: no `+`, no `inf`, no hex.
    pub fn parse(text: &str) -> Option<Number> {
        let bytes = text.as_bytes();
        let mut at = usize::from(bytes.first() == Some(&b'-'));
        let digits = |at: &mut usize| {
            let start = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at > start
        };
        if !digits(&mut at) {
            return None;
        }
        let mut integral = true;
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            integral = false;
            if !digits(&mut at) {
                return None;
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            integral = false;
            if matches!(bytes.get(at), Some(b'-' | b'+')) {
                at += 1;
            }
            if !digits(&mut at) {
                return None;
            }
        }
        if at != bytes.len() {
            return None;
        }
        if integral && let Ok(int) = text.parse::<i64>() {
            return Some(Number::Int(int));
        }
        text.parse::<f64>()
            .ok()
            .filter(|float| float.is_finite())
            .map(Number::Float)
    }

    /// A JSON number as a [`Number`].
    pub fn from_json(number: &serde_json::Number) -> Option<Number> {
        match number.as_i64() {
            Some(int) => Some(Number::Int(int)),
            None => number.as_f64().map(Number::Float),
        }
    }

    #[allow(clippy::cast_precision_loss)]
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(int) => int as f64,
            Number::Float(float) => float,
        }
    }

    pub fn compare(self, other: Number) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Number::Int(left), Number::Int(right)) => Some(left.cmp(&right)),
            (left, right) => left.as_f64().partial_cmp(&right.as_f64()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Greater => ">",
            CompareOp::GreaterOrEqual => ">=",
            CompareOp::Less => "<",
            CompareOp::LessOrEqual => "<=",
        }
    }

    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Greater, Less};
        match self {
            CompareOp::Greater => ordering == Greater,
            CompareOp::GreaterOrEqual => ordering != Less,
            CompareOp::Less => ordering == Less,
            CompareOp::LessOrEqual => ordering != Greater,
        }
    }
}

/// A range; `[* TO *]` holds for any comparable value.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub lower: Bound,
    pub upper: Bound,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Unbounded,
    Inclusive(Literal),
    Exclusive(Literal),
}

/// A glob: `*` any run of characters, `?` exactly one.
///
/// Invariants (kept by [`Pattern::new`]): adjacent literals are merged, runs
/// of `*` collapse to one, there is at least one wildcard, and the pattern is
/// not a lone `*` (that is [`Expr::All`] or [`Expr::Exists`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    pieces: Vec<GlobPiece>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GlobPiece {
    Literal(String),
    AnyRun,
    AnyChar,
}

impl Pattern {
    pub fn new(pieces: impl IntoIterator<Item = GlobPiece>) -> Option<Pattern> {
        let mut normalized: Vec<GlobPiece> = Vec::new();
        for piece in pieces {
            match (normalized.last_mut(), piece) {
                (_, GlobPiece::Literal(text)) if text.is_empty() => {}
                (Some(GlobPiece::Literal(previous)), GlobPiece::Literal(text)) => {
                    previous.push_str(&text);
                }
                (Some(GlobPiece::AnyRun), GlobPiece::AnyRun) => {}
                (_, piece) => normalized.push(piece),
            }
        }
        let has_wildcard = normalized
            .iter()
            .any(|piece| !matches!(piece, GlobPiece::Literal(_)));
        let lone_star = normalized == [GlobPiece::AnyRun];
        (has_wildcard && !lone_star).then_some(Pattern { pieces: normalized })
    }

    pub fn pieces(&self) -> &[GlobPiece] {
        &self.pieces
    }

    /// `Some("web")` for `web*`: the shape an index can answer with a prefix
    /// scan.
    pub fn as_prefix(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [GlobPiece::Literal(prefix), GlobPiece::AnyRun] => Some(prefix),
            _ => None,
        }
    }
}

/// An IPv4 or IPv6 network. The address is kept as written; host bits are
/// ignored when testing membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CidrBlock {
    pub address: IpAddr,
    pub prefix_len: u8,
}

/// `| stats agg, ... [by field, ...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub aggregations: Vec<Aggregation>,
    pub group_by: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    pub function: AggregateFunction,
    /// `None` only for [`AggregateFunction::Count`].
    pub field: Option<Field>,
    pub alias: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateFunction {
    /// `count`, `count()`: events.
    Count,
    /// `count(@f)`, `cardinality(@f)`: distinct values of the field.
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    Median,
    /// `pc75`, `pc90`, `pc95`, `pc98`, `pc99`.
    Percentile(u8),
}

impl AggregateFunction {
    pub const PERCENTILES: [u8; 5] = [75, 90, 95, 98, 99];

    pub fn from_name(name: &str) -> Option<AggregateFunction> {
        Some(match name {
            "count" => AggregateFunction::Count,
            "cardinality" => AggregateFunction::CountDistinct,
            "sum" => AggregateFunction::Sum,
            "avg" => AggregateFunction::Avg,
            "min" => AggregateFunction::Min,
            "max" => AggregateFunction::Max,
            "median" => AggregateFunction::Median,
            _ => {
                let percent: u8 = name.strip_prefix("pc")?.parse().ok()?;
                AggregateFunction::PERCENTILES
                    .contains(&percent)
                    .then_some(AggregateFunction::Percentile(percent))?
            }
        })
    }

    /// The name in the Datadog aggregate API (`count`, `cardinality`,
    /// `pc95`, ...).
    pub fn api_name(self) -> String {
        match self {
            AggregateFunction::Count => "count".into(),
            AggregateFunction::CountDistinct => "cardinality".into(),
            AggregateFunction::Sum => "sum".into(),
            AggregateFunction::Avg => "avg".into(),
            AggregateFunction::Min => "min".into(),
            AggregateFunction::Max => "max".into(),
            AggregateFunction::Median => "median".into(),
            AggregateFunction::Percentile(percent) => format!("pc{percent}"),
        }
    }
}

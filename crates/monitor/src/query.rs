//! The monitor query: Datadog's log-monitor form over the audit trail, and
//! evident's extension for new values.
//!
//! ```text
//! audits("<search>")[.index("*")].rollup("count"|"cardinality","@f"|"sum","@f"|"avg","@f")
//!     [.by("@a,@b")].last("5m") (> | >= | < | <=) <number>
//! audits("<search>").new_value("@f")[.by("@a")][.learning("30d")][.forget("90d")]
//! ```
//!
//! The first is a threshold over a rolling window (a "no data" monitor is
//! one with `< 1`); the second fires when `@f` takes a value not seen in the
//! learning period (per group, with `.by`); a value unseen for the
//! `.forget` period (none by default) counts as new again. Errors carry the column of
//! the query text they point at; errors inside the search string carry the
//! column of the whole query, so a client can underline either.

use std::time::Duration;

use evident_search::{Expr, Field};

/// The shortest and longest rolling window of a threshold.
pub const MIN_WINDOW: Duration = Duration::from_secs(60);
pub const MAX_WINDOW: Duration = Duration::from_secs(2 * 24 * 3600);
/// The longest learning period of a new-value monitor.
pub const MAX_LEARNING: Duration = Duration::from_secs(90 * 24 * 3600);
/// The learning period when `.learning(...)` is not given.
pub const DEFAULT_LEARNING: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most `.by` fields.
pub const MAX_GROUP_BY: usize = 4;

/// A parsed monitor query.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorQuery {
    /// The search inside `audits("...")`, as written.
    pub search: String,
    /// The search, parsed.
    pub filter: Expr,
    /// The fields of `.by(...)`, as written, and parsed.
    pub group_by: Vec<(String, Field)>,
    pub kind: Kind,
}

/// What the monitor watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A rollup over a rolling window, compared with a threshold.
    Threshold {
        rollup: Rollup,
        window: Duration,
        comparator: Comparator,
        threshold: f64,
    },
    /// A value of `field` not seen before, once `learning` has passed;
    /// with `forget`, a value unseen that long is new again.
    NewValue {
        field: (String, Field),
        learning: Duration,
        forget: Option<Duration>,
    },
}

/// What a threshold monitor counts in its window.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollup {
    Count,
    /// Distinct values of the field.
    Cardinality(String, Field),
    /// The sum of the field's numeric values.
    Sum(String, Field),
    /// Their mean.
    Avg(String, Field),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Above,
    AboveOrEqual,
    Below,
    BelowOrEqual,
}

impl Comparator {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Above => ">",
            Comparator::AboveOrEqual => ">=",
            Comparator::Below => "<",
            Comparator::BelowOrEqual => "<=",
        }
    }

    /// Whether `value` crosses `threshold`.
    pub fn breached(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparator::Above => value > threshold,
            Comparator::AboveOrEqual => value >= threshold,
            Comparator::Below => value < threshold,
            Comparator::BelowOrEqual => value <= threshold,
        }
    }

    /// Whether alerting on values above (as opposed to below) the threshold.
    pub fn upward(self) -> bool {
        matches!(self, Comparator::Above | Comparator::AboveOrEqual)
    }
}

/// A monitor query that cannot be parsed, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {message}")]
pub struct QueryError {
    /// Byte offset into the monitor query.
    pub offset: usize,
    /// Characters from 1.
    pub column: usize,
    pub message: String,
}

impl QueryError {
    fn at(source: &str, offset: usize, message: impl Into<String>) -> QueryError {
        let offset = offset.min(source.len());
        let column = source
            .get(..offset)
            .map_or(offset, |head| head.chars().count())
            + 1;
        QueryError {
            offset,
            column,
            message: message.into(),
        }
    }
}

/// Parses a monitor query.
pub fn parse(text: &str) -> Result<MonitorQuery, QueryError> {
    let mut cursor = Cursor { text, at: 0 };
    cursor.skip_space();
    let name_at = cursor.at;
    let name = cursor.identifier();
    if name != "audits" && name != "logs" {
        return Err(QueryError::at(
            text,
            name_at,
            "a monitor query starts with audits(\"<search>\")",
        ));
    }
    cursor.expect('(')?;
    let search_at = cursor.at;
    let search = cursor.string()?;
    cursor.expect(')')?;
    let filter = evident_search::parse_filter(&search).map_err(|error| {
        // The search string's error, placed in the whole query (+1: the quote).
        QueryError::at(
            text,
            search_at + 1 + error.offset,
            format!("in the search: {}", error.message),
        )
    })?;

    let mut rollup = None;
    let mut window = None;
    let mut group_by = Vec::new();
    let mut new_value = None;
    let mut learning = None;
    let mut forget = None;
    loop {
        cursor.skip_space();
        if !cursor.eat('.') {
            break;
        }
        let method_at = cursor.at;
        let method = cursor.identifier();
        cursor.expect('(')?;
        let arguments = cursor.arguments()?;
        let argument = |index: usize| {
            arguments
                .get(index)
                .map(|(offset, value)| (*offset, value.as_str()))
        };
        let one = |what: &str| -> Result<(usize, &str), QueryError> {
            match arguments.as_slice() {
                [(offset, value)] => Ok((*offset, value.as_str())),
                _ => Err(QueryError::at(
                    text,
                    method_at,
                    format!(".{method}() takes one argument: {what}"),
                )),
            }
        };
        match method {
            "index" => {
                one("an index name")?;
            }
            "rollup" => {
                if rollup.is_some() {
                    return Err(QueryError::at(text, method_at, ".rollup() is given twice"));
                }
                let Some((function_at, function)) = argument(0) else {
                    return Err(QueryError::at(
                        text,
                        method_at,
                        ".rollup() needs a function: \"count\", \"cardinality\", \"sum\" or \"avg\"",
                    ));
                };
                let field = match argument(1) {
                    Some((offset, name)) => Some((name.to_owned(), field(text, offset, name)?)),
                    None => None,
                };
                if arguments.len() > 2 {
                    return Err(QueryError::at(
                        text,
                        method_at,
                        ".rollup() takes a function and at most one field",
                    ));
                }
                rollup = Some(match (function, field) {
                    ("count", None) => Rollup::Count,
                    ("count", Some(_)) => {
                        return Err(QueryError::at(
                            text,
                            function_at,
                            "\"count\" counts events and takes no field; \"cardinality\" counts a field's distinct values",
                        ));
                    }
                    ("cardinality", Some((name, field))) => Rollup::Cardinality(name, field),
                    ("sum", Some((name, field))) => Rollup::Sum(name, field),
                    ("avg", Some((name, field))) => Rollup::Avg(name, field),
                    ("cardinality" | "sum" | "avg", None) => {
                        return Err(QueryError::at(
                            text,
                            function_at,
                            format!(
                                "\"{function}\" needs a field: .rollup(\"{function}\", \"@field\")"
                            ),
                        ));
                    }
                    _ => {
                        return Err(QueryError::at(
                            text,
                            function_at,
                            format!(
                                "unknown rollup {function:?}: \"count\", \"cardinality\", \"sum\" or \"avg\""
                            ),
                        ));
                    }
                });
            }
            "by" => {
                let (offset, list) = one("the fields to group by, \"@a,@b\"")?;
                let mut position = offset;
                for name in list.split(',') {
                    let trimmed = name.trim();
                    if trimmed.is_empty() {
                        return Err(QueryError::at(text, position, "an empty field in .by()"));
                    }
                    group_by.push((trimmed.to_owned(), field(text, position, trimmed)?));
                    position += name.len() + 1;
                }
                if group_by.len() > MAX_GROUP_BY {
                    return Err(QueryError::at(
                        text,
                        method_at,
                        format!("at most {MAX_GROUP_BY} fields to group by"),
                    ));
                }
            }
            "last" => {
                let (offset, value) = one("a window, \"5m\"")?;
                let duration = duration(text, offset, value)?;
                if !(MIN_WINDOW..=MAX_WINDOW).contains(&duration) {
                    return Err(QueryError::at(
                        text,
                        offset,
                        "the window must be between 1m and 2d",
                    ));
                }
                window = Some((offset, duration));
            }
            "new_value" => {
                let (offset, name) = one("the field whose new values alert, \"@usr.id\"")?;
                new_value = Some((name.to_owned(), field(text, offset, name)?));
            }
            "learning" => {
                let (offset, value) = one("a learning period, \"30d\"")?;
                let duration = duration(text, offset, value)?;
                if duration.is_zero() || duration > MAX_LEARNING {
                    return Err(QueryError::at(
                        text,
                        offset,
                        "the learning period must be between 1s and 90d",
                    ));
                }
                learning = Some(duration);
            }
            "forget" => {
                let (offset, value) = one("how long an unseen value is remembered, \"90d\"")?;
                let duration = duration(text, offset, value)?;
                if duration.is_zero() || duration > MAX_LEARNING {
                    return Err(QueryError::at(
                        text,
                        offset,
                        "the forget period must be between 1s and 90d",
                    ));
                }
                forget = Some(duration);
            }
            _ => {
                return Err(QueryError::at(
                    text,
                    method_at,
                    format!(
                        "unknown method .{method}(): .index, .rollup, .by, .last, .new_value, .learning or .forget"
                    ),
                ));
            }
        }
    }
    cursor.skip_space();
    let comparator_at = cursor.at;
    let comparator = cursor.comparator();

    let kind = match (new_value, rollup) {
        (Some(field), None) => {
            if let Some((offset, _)) = window {
                return Err(QueryError::at(
                    text,
                    offset,
                    "a new-value monitor has a learning period, .learning(\"30d\"), not a window",
                ));
            }
            if comparator.is_some() {
                return Err(QueryError::at(
                    text,
                    comparator_at,
                    "a new-value monitor takes no threshold",
                ));
            }
            Kind::NewValue {
                field,
                learning: learning.unwrap_or(DEFAULT_LEARNING),
                forget,
            }
        }
        (Some(_), Some(_)) => {
            return Err(QueryError::at(
                text,
                0,
                "a monitor has either .rollup() (a threshold) or .new_value(), not both",
            ));
        }
        (None, rollup) => {
            if learning.is_some() || forget.is_some() {
                return Err(QueryError::at(
                    text,
                    0,
                    ".learning() and .forget() go with .new_value()",
                ));
            }
            let Some((_, window)) = window else {
                return Err(QueryError::at(
                    text,
                    comparator_at,
                    "a threshold monitor needs a window: .last(\"5m\")",
                ));
            };
            let Some(comparator) = comparator else {
                return Err(QueryError::at(
                    text,
                    comparator_at,
                    "expected a comparison: > 10, >= 10, < 1 or <= 1",
                ));
            };
            cursor.skip_space();
            let number_at = cursor.at;
            let number = cursor.rest().trim();
            let Some(threshold) = evident_search::ast::Number::parse(number) else {
                return Err(QueryError::at(
                    text,
                    number_at,
                    "expected a number after the comparison",
                ));
            };
            cursor.at = text.len();
            Kind::Threshold {
                rollup: rollup.unwrap_or(Rollup::Count),
                window,
                comparator,
                threshold: threshold.as_f64(),
            }
        }
    };
    cursor.skip_space();
    if cursor.at < text.len() {
        return Err(QueryError::at(
            text,
            cursor.at,
            "unexpected text after the query",
        ));
    }
    Ok(MonitorQuery {
        search,
        filter,
        group_by,
        kind,
    })
}

fn field(text: &str, offset: usize, name: &str) -> Result<Field, QueryError> {
    evident_search::parse_field(name).map_err(|error| QueryError::at(text, offset, error.message))
}

/// `30s`, `5m`, `1h`, `2d`, `1w`.
fn duration(text: &str, offset: usize, value: &str) -> Result<Duration, QueryError> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(count) if seconds > 0 && count <= 100_000 => Ok(Duration::from_secs(count * seconds)),
        _ => Err(QueryError::at(
            text,
            offset,
            format!("invalid duration {value:?}: a number and s, m, h, d or w, such as \"5m\""),
        )),
    }
}

/// Prints a duration as the query form writes it.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, wanted: char) -> bool {
        if self.rest().starts_with(wanted) {
            self.at += wanted.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), QueryError> {
        self.skip_space();
        if self.eat(wanted) {
            Ok(())
        } else {
            Err(QueryError::at(
                self.text,
                self.at,
                format!("expected '{wanted}'"),
            ))
        }
    }

    fn identifier(&mut self) -> &'a str {
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let start = self.at;
        self.at += end;
        &self.text[start..self.at]
    }

    /// A quoted string (`"..."` or `'...'`, backslash escapes the quote and
    /// itself; anything else stays as written, for the search inside).
    fn string(&mut self) -> Result<String, QueryError> {
        self.skip_space();
        let start = self.at;
        let quote = match self.rest().chars().next() {
            Some(quote @ ('"' | '\'')) => quote,
            _ => return Err(QueryError::at(self.text, start, "expected a quoted string")),
        };
        self.at += 1;
        let mut value = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((index, c)) = chars.next() {
            if c == quote {
                self.at += index + 1;
                return Ok(value);
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, next)) if next == quote || next == '\\' => value.push(next),
                    Some((_, next)) => {
                        value.push('\\');
                        value.push(next);
                    }
                    None => break,
                }
            } else {
                value.push(c);
            }
        }
        Err(QueryError::at(self.text, start, "unterminated string"))
    }

    /// The quoted arguments of a call up to its `)`, each with its offset
    /// (just inside its quote).
    fn arguments(&mut self) -> Result<Vec<(usize, String)>, QueryError> {
        let mut arguments = Vec::new();
        self.skip_space();
        if self.eat(')') {
            return Ok(arguments);
        }
        loop {
            self.skip_space();
            let offset = self.at + 1;
            arguments.push((offset, self.string()?));
            self.skip_space();
            if self.eat(')') {
                return Ok(arguments);
            }
            if !self.eat(',') {
                return Err(QueryError::at(self.text, self.at, "expected ',' or ')'"));
            }
        }
    }

    fn comparator(&mut self) -> Option<Comparator> {
        for (symbol, comparator) in [
            (">=", Comparator::AboveOrEqual),
            ("<=", Comparator::BelowOrEqual),
            (">", Comparator::Above),
            ("<", Comparator::Below),
        ] {
            if self.rest().starts_with(symbol) {
                self.at += symbol.len();
                return Some(comparator);
            }
        }
        None
    }
}

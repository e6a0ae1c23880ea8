//! Printing a tree back to query text.
//!
//! The output parses back to the same tree (`parse(print(ast)) == ast`): it
//! escapes every character the lexer would read as syntax, writes `AND` and
//! `OR` explicitly and parenthesizes nested boolean operators. It is a
//! canonical form, not the user's spelling: `@a:(x OR y)` prints as
//! `(@a:x OR @a:y)`, `_missing_:f` as `NOT _exists_:f`.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{
    AggregateFunction, Aggregation, AttrPath, Bound, CidrBlock, Expr, Field, GlobPiece, Literal,
    Pattern, Query, Range, Stats, Value,
};

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.filter)?;
        if let Some(stats) = &self.stats {
            write!(f, " | {stats}")?;
        }
        Ok(())
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All => f.write_str("*"),
            Expr::And(operands) => write_operands(f, operands, " AND "),
            Expr::Or(operands) => write_operands(f, operands, " OR "),
            Expr::Not(operand) => {
                f.write_str("NOT ")?;
                write_operand(f, operand)
            }
            Expr::Exists(field) => write!(f, "_exists_:{field}"),
            Expr::Match { field, value } => match field {
                Field::FreeText => write!(f, "{value}"),
                Field::AnyField => write!(f, "*:{value}"),
                field => write!(f, "{field}:{value}"),
            },
            Expr::Cidr { field, blocks } => {
                write!(f, "CIDR({field}")?;
                for block in blocks {
                    write!(f, ", {block}")?;
                }
                f.write_char(')')
            }
        }
    }
}

fn write_operands(f: &mut Formatter<'_>, operands: &[Expr], separator: &str) -> fmt::Result {
    for (index, operand) in operands.iter().enumerate() {
        if index > 0 {
            f.write_str(separator)?;
        }
        write_operand(f, operand)?;
    }
    Ok(())
}

/// Operands that are themselves AND/OR lists get parentheses, so that the
/// tree's shape survives a round trip.
fn write_operand(f: &mut Formatter<'_>, operand: &Expr) -> fmt::Result {
    match operand {
        Expr::And(_) | Expr::Or(_) => write!(f, "({operand})"),
        operand => write!(f, "{operand}"),
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            // Not written as a field: a bare value targets the free text.
            Field::FreeText => f.write_str("message"),
            Field::AnyField => f.write_char('*'),
            Field::Reserved(reserved) => f.write_str(reserved.name()),
            Field::Tags => f.write_str("tags"),
            Field::TagKey(key) => {
                let reserved_spelling =
                    matches!(key.as_str(), "tags" | "_exists_" | "_missing_" | "*")
                        || evident_model::ReservedField::from_name(key).is_some()
                        || key.starts_with(['@', '#']);
                let mut chars = key.chars();
                match chars.next() {
                    // An escape keeps the name from being read as special.
                    Some(first) if reserved_spelling => {
                        f.write_char('\\')?;
                        f.write_char(first)?;
                        write_escaped(f, chars.as_str(), EscapeContext::FieldNameRest)
                    }
                    _ => write_escaped(f, key, EscapeContext::FieldName),
                }
            }
            Field::Attribute(path) => write!(f, "{path}"),
        }
    }
}

impl Display for AttrPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('@')?;
        for (index, segment) in self.segments().iter().enumerate() {
            if index > 0 {
                f.write_char('.')?;
            }
            write_escaped(f, segment, EscapeContext::PathSegment)?;
        }
        Ok(())
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Term(literal) => write_word(f, literal.text()),
            Value::Phrase(text) => write_phrase(f, text),
            Value::Wildcard(pattern) => write!(f, "{pattern}"),
            Value::Compare(operator, literal) => {
                f.write_str(operator.symbol())?;
                match literal.text() {
                    "" => write_phrase(f, ""),
                    text => write_word(f, text),
                }
            }
            Value::Range(range) => write!(f, "{range}"),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_word(f, self.text())
    }
}

impl Display for Pattern {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (index, piece) in self.pieces().iter().enumerate() {
            match piece {
                GlobPiece::AnyRun => f.write_char('*')?,
                GlobPiece::AnyChar => f.write_char('?')?,
                GlobPiece::Literal(text) if index == 0 => {
                    write_escaped(f, text, EscapeContext::WordStart)?
                }
                GlobPiece::Literal(text) => write_escaped(f, text, EscapeContext::WordMiddle)?,
            }
        }
        Ok(())
    }
}

impl Display for Range {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (open, lower) = match &self.lower {
            Bound::Unbounded => ('[', None),
            Bound::Inclusive(literal) => ('[', Some(literal)),
            Bound::Exclusive(literal) => ('{', Some(literal)),
        };
        let (close, upper) = match &self.upper {
            Bound::Unbounded => (']', None),
            Bound::Inclusive(literal) => (']', Some(literal)),
            Bound::Exclusive(literal) => ('}', Some(literal)),
        };
        f.write_char(open)?;
        write_bound(f, lower)?;
        f.write_str(" TO ")?;
        write_bound(f, upper)?;
        f.write_char(close)
    }
}

fn write_bound(f: &mut Formatter<'_>, bound: Option<&Literal>) -> fmt::Result {
    let Some(literal) = bound else {
        return f.write_char('*');
    };
    let text = literal.text();
    let plain = !text.is_empty()
        && text != "*"
        && !text.starts_with('"')
        && !text
            .chars()
            .any(|ch| ch.is_whitespace() || matches!(ch, ']' | '}' | '\\'));
    if plain {
        f.write_str(text)
    } else {
        write_phrase(f, text)
    }
}

impl Display for CidrBlock {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl Display for Stats {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("stats ")?;
        for (index, aggregation) in self.aggregations.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{aggregation}")?;
        }
        for (index, field) in self.group_by.iter().enumerate() {
            f.write_str(if index == 0 { " by " } else { ", " })?;
            write!(f, "{field}")?;
        }
        Ok(())
    }
}

impl Display for Aggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match (&self.function, &self.field) {
            (AggregateFunction::Count, _) => f.write_str("count")?,
            (AggregateFunction::CountDistinct, Some(field)) => write!(f, "count({field})")?,
            (function, Some(field)) => write!(f, "{}({field})", function.api_name())?,
            (function, None) => write!(f, "{}()", function.api_name())?,
        }
        if let Some(alias) = &self.alias {
            write!(f, " as {alias}")?;
        }
        Ok(())
    }
}

fn write_phrase(f: &mut Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for ch in text.chars() {
        if matches!(ch, '"' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(ch)?;
    }
    f.write_char('"')
}

/// A literal word: every wildcard and syntax character escaped, and the
/// operator words escaped so they stay words.
fn write_word(f: &mut Formatter<'_>, text: &str) -> fmt::Result {
    if matches!(text, "AND" | "OR" | "NOT" | "TO" | "CIDR") {
        f.write_char('\\')?;
        return f.write_str(text);
    }
    write_escaped(f, text, EscapeContext::WordStart)
}

#[derive(Clone, Copy, PartialEq)]
enum EscapeContext {
    /// The start of a word, where `-`, `+` and the like are operators.
    WordStart,
    WordMiddle,
    FieldName,
    /// A field name after its first character.
    FieldNameRest,
    PathSegment,
}

fn write_escaped(f: &mut Formatter<'_>, text: &str, context: EscapeContext) -> fmt::Result {
    for (index, ch) in text.chars().enumerate() {
        let always = ch.is_whitespace()
            || matches!(
                ch,
                '(' | ')' | '[' | ']' | '{' | '}' | '"' | '\\' | ':' | '*' | '?' | '|' | '&'
            );
        let at_start = index == 0
            && !matches!(
                context,
                EscapeContext::WordMiddle | EscapeContext::FieldNameRest
            )
            && matches!(ch, '-' | '+' | '!' | '=' | '<' | '>');
        let in_name = matches!(
            context,
            EscapeContext::FieldName | EscapeContext::FieldNameRest | EscapeContext::PathSegment
        ) && ch == ',';
        let in_path = context == EscapeContext::PathSegment && ch == '.';
        if always || at_start || in_name || in_path {
            f.write_char('\\')?;
        }
        f.write_char(ch)?;
    }
    Ok(())
}

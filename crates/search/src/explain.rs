//! A readable outline of a parsed query, for `evident match --explain` and
//! the explorer: one node per line, each clause with its resolved field kind
//! and value kind.

use std::fmt::Write;

use crate::ast::{Bound, Expr, Field, GlobPiece, Query, Value};

/// The parsed tree as indented text, followed by the canonical query.
pub fn explain(query: &Query) -> String {
    let mut out = String::new();
    write_expr(&mut out, &query.filter, 0);
    if let Some(stats) = &query.stats {
        let _ = writeln!(out, "stats");
        for aggregation in &stats.aggregations {
            let _ = write!(out, "  aggregate {}", aggregation.function.api_name());
            if let Some(field) = &aggregation.field {
                let _ = write!(out, " of {}", describe_field(field));
            }
            if let Some(alias) = &aggregation.alias {
                let _ = write!(out, " as {alias}");
            }
            out.push('\n');
        }
        for field in &stats.group_by {
            let _ = writeln!(out, "  group by {}", describe_field(field));
        }
    }
    let _ = writeln!(out, "canonical: {query}");
    out
}

fn write_expr(out: &mut String, expr: &Expr, depth: usize) {
    let indent = "  ".repeat(depth);
    match expr {
        Expr::All => {
            let _ = writeln!(out, "{indent}all events");
        }
        Expr::And(operands) | Expr::Or(operands) => {
            let name = if matches!(expr, Expr::And(_)) {
                "AND"
            } else {
                "OR"
            };
            let _ = writeln!(out, "{indent}{name}");
            for operand in operands {
                write_expr(out, operand, depth + 1);
            }
        }
        Expr::Not(operand) => {
            let _ = writeln!(out, "{indent}NOT");
            write_expr(out, operand, depth + 1);
        }
        Expr::Exists(field) => {
            let _ = writeln!(out, "{indent}exists {}", describe_field(field));
        }
        Expr::Match { field, value } => {
            let _ = writeln!(
                out,
                "{indent}{} {}",
                describe_field(field),
                describe_value(value)
            );
        }
        Expr::Cidr { field, blocks } => {
            let blocks: Vec<String> = blocks.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "{indent}{} in CIDR {}",
                describe_field(field),
                blocks.join(", ")
            );
        }
    }
}

fn describe_field(field: &Field) -> String {
    match field {
        Field::FreeText => "free text (message, @error.message, @error.stack, @title)".into(),
        Field::AnyField => "any attribute or message".into(),
        Field::Reserved(reserved) => format!("reserved field {}", reserved.name()),
        Field::Tags => "tag list".into(),
        Field::TagKey(key) => format!("tag {key:?}"),
        Field::Attribute(path) if path.is_full_text() => format!("full-text attribute {path}"),
        Field::Attribute(path) => format!("attribute {path}"),
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::Term(literal) => match literal.number() {
            Some(_) => format!("= number {}", literal.text()),
            None => format!("= term {:?}", literal.text()),
        },
        Value::Phrase(text) => format!("= phrase {text:?}"),
        Value::Wildcard(pattern) => {
            let shape = match pattern.as_prefix() {
                Some(_) => "prefix",
                None if pattern
                    .pieces()
                    .iter()
                    .all(|p| !matches!(p, GlobPiece::AnyChar)) =>
                {
                    "wildcard"
                }
                None => "wildcard (? = one character)",
            };
            format!("~ {shape} {pattern}")
        }
        Value::Compare(operator, literal) => {
            let kind = if literal.number().is_some() {
                "number"
            } else {
                "text"
            };
            format!("{} {kind} {:?}", operator.symbol(), literal.text())
        }
        Value::Range(range) => {
            let bound = |bound: &Bound| match bound {
                Bound::Unbounded => "unbounded".to_string(),
                Bound::Inclusive(literal) => format!("{:?} inclusive", literal.text()),
                Bound::Exclusive(literal) => format!("{:?} exclusive", literal.text()),
            };
            format!(
                "in range from {} to {}",
                bound(&range.lower),
                bound(&range.upper)
            )
        }
    }
}

//! Two token-level edits make Datadog's `dd.audit(...) AS (...)` survive
//! the SQL parser and the PostgreSQL-compatibility rewrites:
//!
//! - Datadog writes the typed column list without a table name:
//!   `dd.audit(...) AS (ts TIMESTAMP, ...)`. PostgreSQL's grammar allows
//!   that after a function call, the SQL parser does not, so the list gets
//!   a name (`AS _dd(ts TIMESTAMP, ...)`).
//! - The compatibility rewrites drop the schema of every table function
//!   (catalog queries from BI tools call `pg_catalog.f(...)`, which
//!   DataFusion knows as `f`), which would turn `dd.audit` into `audit`;
//!   the call travels as one quoted name, `"dd.audit"(...)`, instead.
//!
//! Only a `dd.<name>(...)` call and a `(` right after the `AS` that follows
//! it are touched; strings, comments and other `AS (` (CTEs) are left alone.

use std::ops::Range;

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// The name given to a nameless column list.
pub const IMPLICIT_ALIAS: &str = "_dd";

/// `sql` with every `dd.<name>(...)` call named as one quoted identifier
/// and every nameless column list after such a call named. Text that does
/// not tokenize is returned as it is: the parser reports the error with
/// its position.
pub fn protect_dd_calls(sql: &str) -> String {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return sql.to_string();
    };
    let significant: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|token| !matches!(token.token, Token::Whitespace(_)))
        .collect();
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut index = 0;
    while index + 3 < significant.len() {
        let (dd, period, name, open) = (
            significant[index],
            significant[index + 1],
            significant[index + 2],
            significant[index + 3],
        );
        let Token::Word(function) = &name.token else {
            index += 1;
            continue;
        };
        if !(is_word(&dd.token, "dd")
            && period.token == Token::Period
            && open.token == Token::LParen)
        {
            index += 1;
            continue;
        }
        let Some(close) = matching_paren(&significant, index + 3) else {
            break;
        };
        if let (Some(start), Some(end)) = (
            byte_offset(sql, dd.span.start),
            byte_offset(sql, name.span.end),
        ) {
            edits.push((start..end, format!("\"dd.{}\"", function.value)));
        }
        if let (Some(as_keyword), Some(list)) =
            (significant.get(close + 1), significant.get(close + 2))
            && is_word(&as_keyword.token, "as")
            && list.token == Token::LParen
            && let Some(at) = byte_offset(sql, list.span.start)
        {
            edits.push((at..at, IMPLICIT_ALIAS.to_string()));
        }
        index = close + 1;
    }
    let mut rewritten = sql.to_string();
    for (range, text) in edits.into_iter().rev() {
        rewritten.replace_range(range, &text);
    }
    rewritten
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(found) if found.quote_style.is_none() && found.value.eq_ignore_ascii_case(word))
}

/// The index of the `)` closing the `(` at `open`.
fn matching_paren(tokens: &[&TokenWithSpan], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (index, token) in tokens.iter().enumerate().skip(open) {
        match token.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
    }
    None
}

/// The byte offset of a location (1-based line and character column).
fn byte_offset(sql: &str, location: Location) -> Option<usize> {
    let mut offset = 0;
    for (number, text) in sql.split_inclusive('\n').enumerate() {
        if number as u64 + 1 == location.line {
            let chars = usize::try_from(location.column.checked_sub(1)?).ok()?;
            return text
                .char_indices()
                .map(|(inside, _)| inside)
                .chain(std::iter::once(text.len()))
                .nth(chars)
                .map(|inside| offset + inside);
        }
        offset += text.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_list_after_a_dd_call_only() {
        assert_eq!(
            protect_dd_calls("SELECT * FROM dd.audit(columns => ARRAY['a']) AS (a VARCHAR)"),
            "SELECT * FROM \"dd.audit\"(columns => ARRAY['a']) AS _dd(a VARCHAR)"
        );
        let cte = "WITH t(a) AS (SELECT 1) SELECT * FROM t";
        assert_eq!(protect_dd_calls(cte), cte);
        assert_eq!(
            protect_dd_calls("SELECT * FROM DD.Audit(columns => ARRAY['a']) AS x(a VARCHAR)"),
            "SELECT * FROM \"dd.Audit\"(columns => ARRAY['a']) AS x(a VARCHAR)"
        );
        let quoted = "SELECT 'dd.audit(x) AS (' FROM t";
        assert_eq!(protect_dd_calls(quoted), quoted);
    }

    #[test]
    fn leaves_other_qualified_calls_alone() {
        let sql = "SELECT pg_catalog.format_type(23, NULL), * FROM ddx.audit(1) AS (a INT)";
        assert_eq!(protect_dd_calls(sql), sql);
    }

    #[test]
    fn keeps_positions_across_lines_and_non_ascii_text() {
        let sql =
            "-- é\nSELECT * FROM dd.audit(\n  filter => 'é AND (a)'\n) AS (\n  ts TIMESTAMP\n)";
        assert_eq!(
            protect_dd_calls(sql),
            "-- é\nSELECT * FROM \"dd.audit\"(\n  filter => 'é AND (a)'\n) AS _dd(\n  ts TIMESTAMP\n)"
        );
    }
}

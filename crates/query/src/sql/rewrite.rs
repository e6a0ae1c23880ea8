//! Datadog writes the typed column list of `dd.audit(...)` without a table
//! name: `dd.audit(...) AS (ts TIMESTAMP, ...)`. PostgreSQL's grammar
//! allows that after a function call, the SQL parser does not, so the
//! list gets a name (`AS _dd(ts TIMESTAMP, ...)`) before parsing. Only a
//! `(` right after the `AS` that follows a `dd.<name>(...)` call is
//! touched; strings, comments and other `AS (` (CTEs) are left alone.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// The name given to a nameless column list.
pub const IMPLICIT_ALIAS: &str = "_dd";

/// `sql` with every nameless column list after a `dd.*(...)` call named.
/// Text that does not tokenize is returned as it is: the parser reports
/// the error with its position.
pub fn name_column_lists(sql: &str) -> String {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return sql.to_string();
    };
    let significant: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|token| !matches!(token.token, Token::Whitespace(_)))
        .collect();
    let mut insert_at = Vec::new();
    let mut index = 0;
    while index + 3 < significant.len() {
        if is_word(&significant[index].token, "dd")
            && significant[index + 1].token == Token::Period
            && matches!(significant[index + 2].token, Token::Word(_))
            && significant[index + 3].token == Token::LParen
        {
            let Some(close) = matching_paren(&significant, index + 3) else {
                break;
            };
            if let (Some(as_keyword), Some(open)) =
                (significant.get(close + 1), significant.get(close + 2))
                && is_word(&as_keyword.token, "as")
                && open.token == Token::LParen
            {
                insert_at.push(byte_offset(
                    sql,
                    open.span.start.line,
                    open.span.start.column,
                ));
            }
            index = close + 1;
        } else {
            index += 1;
        }
    }
    let mut rewritten = sql.to_string();
    for offset in insert_at.into_iter().flatten().rev() {
        rewritten.insert_str(offset, IMPLICIT_ALIAS);
    }
    rewritten
}

/// Whether `sql` holds parameter placeholders (`$1`, `?`), which the
/// engine does not bind.
pub fn has_parameters(sql: &str) -> bool {
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .is_ok_and(|tokens| {
            tokens
                .iter()
                .any(|token| matches!(token, Token::Placeholder(_)))
        })
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

/// The byte offset of a 1-based line and character column.
fn byte_offset(sql: &str, line: u64, column: u64) -> Option<usize> {
    let mut offset = 0;
    for (number, text) in sql.split_inclusive('\n').enumerate() {
        if number as u64 + 1 == line {
            let chars = usize::try_from(column.checked_sub(1)?).ok()?;
            return text
                .char_indices()
                .nth(chars)
                .map(|(inside, _)| offset + inside);
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
            name_column_lists("SELECT * FROM dd.audit(columns => ARRAY['a']) AS (a VARCHAR)"),
            "SELECT * FROM dd.audit(columns => ARRAY['a']) AS _dd(a VARCHAR)"
        );
        let cte = "WITH t(a) AS (SELECT 1) SELECT * FROM t";
        assert_eq!(name_column_lists(cte), cte);
        let named = "SELECT * FROM dd.audit(columns => ARRAY['a']) AS x(a VARCHAR)";
        assert_eq!(name_column_lists(named), named);
        let quoted = "SELECT 'dd.audit(x) AS (' FROM t";
        assert_eq!(name_column_lists(quoted), quoted);
    }

    #[test]
    fn finds_placeholders_outside_strings() {
        assert!(has_parameters("SELECT * FROM t WHERE a = $1"));
        assert!(!has_parameters("SELECT '$1' AS a"));
    }

    #[test]
    fn keeps_positions_across_lines_and_non_ascii_text() {
        let sql =
            "-- é\nSELECT * FROM dd.audit(\n  filter => 'é AND (a)'\n) AS (\n  ts TIMESTAMP\n)";
        assert_eq!(
            name_column_lists(sql),
            "-- é\nSELECT * FROM dd.audit(\n  filter => 'é AND (a)'\n) AS _dd(\n  ts TIMESTAMP\n)"
        );
    }
}

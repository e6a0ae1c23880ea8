//! Parse errors that point at the offending position.

/// A query that cannot be parsed, with where and why.
///
/// Displays as `at column 17: expected a value after ':'`. `column` counts
/// characters from 1; `offset` is the byte offset into the query, for
/// callers that highlight the position (the explorer, the SQL `filter`
/// argument, which adds its own offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {message}")]
pub struct ParseError {
    pub offset: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(source: &str, offset: usize, message: impl Into<String>) -> ParseError {
        let offset = offset.min(source.len());
        // `offset` always sits on a char boundary: the lexer only stops there.
        let column = source
            .get(..offset)
            .map_or(offset, |head| head.chars().count())
            + 1;
        ParseError {
            offset,
            column,
            message: message.into(),
        }
    }
}

//! Recursive descent over the grammar of the search syntax spec §3.
//!
//! Precedence, loosest first: `OR` (`||`), `AND` (`&&` or juxtaposition),
//! the prefixes `NOT`, `-`, `+`, `!(`, then primaries. Every bare value is
//! bound to a *context field*: the free-text fields at the top level, the
//! field of an enclosing group inside `@a:( ... )`. Nesting (groups and
//! negations together) is capped at [`MAX_DEPTH`] so that hostile input
//! gets an error instead of a stack overflow.

use evident_model::ReservedField;

use crate::ast::{
    AggregateFunction, Aggregation, AttrPath, Bound, CompareOp, Expr, Field, GlobPiece, Literal,
    Pattern, Query, Range, Stats, Value,
};
use crate::error::ParseError;
use crate::lexer::{Cursor, Word, WordChar, WordEnd};

/// How deep groups and negations may nest.
pub const MAX_DEPTH: usize = 100;

/// Parses a query, including an optional `| stats ...` pipe.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    Parser {
        cursor: Cursor::new(query),
        depth: 0,
    }
    .query()
}

/// Parses a filter: a query without a pipe (monitors, forwarding filters,
/// the SQL `filter =>` argument).
pub fn parse_filter(query: &str) -> Result<Expr, ParseError> {
    let parsed = parse(query)?;
    if parsed.stats.is_some() {
        let pipe_at = pipe_offset(query).unwrap_or(0);
        return Err(ParseError::at(
            query,
            pipe_at,
            "a '| stats' pipe is not allowed in a filter",
        ));
    }
    Ok(parsed.filter)
}

/// Resolves a facet name as the aggregate API and `| stats` take it
/// (`@usr.email`, `service`, `env`): an attribute path, a reserved field,
/// `tags` or a tag key.
pub fn parse_field(name: &str) -> Result<Field, ParseError> {
    let mut cursor = Cursor::new(name.trim());
    let word = cursor.word(WordEnd::Argument)?;
    if !cursor.at_end() || word.chars.is_empty() {
        return Err(ParseError::at(
            name,
            cursor.position(),
            format!("invalid field name {name:?}"),
        ));
    }
    let parser = Parser { cursor, depth: 0 };
    parser.resolve_field(&word)
}

/// Where the pipe starts, for error messages.
fn pipe_offset(query: &str) -> Option<usize> {
    let mut cursor = Cursor::new(query);
    let mut in_phrase = false;
    while let Some(ch) = cursor.peek() {
        match ch {
            '\\' => {
                cursor.bump();
            }
            '"' => in_phrase = !in_phrase,
            '|' if !in_phrase && cursor.at_pipe() => return Some(cursor.position()),
            '|' if !in_phrase => {
                cursor.bump();
            }
            _ => {}
        }
        cursor.bump();
    }
    None
}

struct Parser<'a> {
    cursor: Cursor<'a>,
    depth: usize,
}

impl Parser<'_> {
    fn query(mut self) -> Result<Query, ParseError> {
        self.cursor.skip_whitespace();
        let filter = if self.cursor.at_end() || self.cursor.at_pipe() {
            Expr::All
        } else {
            self.or_expr(&Field::FreeText)?
        };
        self.cursor.skip_whitespace();
        let stats = if self.cursor.at_pipe() {
            self.cursor.bump();
            Some(self.stats()?)
        } else {
            None
        };
        self.cursor.skip_whitespace();
        match self.cursor.peek() {
            None => Ok(Query { filter, stats }),
            Some(')') => Err(self.error_here("unbalanced ')': there is no '(' to close")),
            Some(ch) => Err(self.error_here(format!("unexpected '{ch}'"))),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> ParseError {
        self.cursor.error(self.cursor.position(), message)
    }

    /// End of the current clause list: end of input, `)` or the pipe.
    fn at_clause_end(&self) -> bool {
        self.cursor.at_end() || self.cursor.peek() == Some(')') || self.cursor.at_pipe()
    }

    /// Consumes `keyword` if it stands there as a whole, unescaped word that
    /// is not a field name (`OR:x` is a tag, `ORDER` a word).
    fn eat_keyword(&mut self, keyword: &str) -> Result<bool, ParseError> {
        let start = self.cursor.position();
        let word = self.cursor.word(WordEnd::AtColon)?;
        if word.is_plain(keyword) && self.cursor.peek() != Some(':') {
            return Ok(true);
        }
        self.cursor.reset(start);
        Ok(false)
    }

    fn at_keyword(&mut self, keyword: &str) -> Result<bool, ParseError> {
        let start = self.cursor.position();
        let found = self.eat_keyword(keyword)?;
        self.cursor.reset(start);
        Ok(found)
    }

    // `or_expr`, `and_expr`, `unary`, `primary` and `group` are the frames
    // that recursion through parentheses stacks up; they delegate scanning
    // and error building to helpers to keep those frames small.

    fn or_expr(&mut self, context: &Field) -> Result<Expr, ParseError> {
        let mut operands = vec![self.and_expr(context)?];
        while self.eat_or()? {
            operands.push(self.and_expr(context)?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            Expr::Or(operands)
        })
    }

    fn and_expr(&mut self, context: &Field) -> Result<Expr, ParseError> {
        let mut operands = vec![self.unary(context)?];
        while self.next_and_operand()? {
            operands.push(self.unary(context)?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            Expr::And(operands)
        })
    }

    /// Consumes an `OR` (or `||`) that has a clause after it.
    #[inline(never)]
    fn eat_or(&mut self) -> Result<bool, ParseError> {
        let before = self.cursor.position();
        self.cursor.skip_whitespace();
        let operator_at = self.cursor.position();
        if !(self.eat_keyword("OR")? || self.cursor.eat_str("||")) {
            self.cursor.reset(before);
            return Ok(false);
        }
        self.cursor.skip_whitespace();
        if self.at_clause_end() {
            return Err(self
                .cursor
                .error(operator_at, "expected a clause after 'OR'"));
        }
        Ok(true)
    }

    /// True when another AND operand follows (explicit `AND`, `&&`, or
    /// juxtaposition), with the operator consumed.
    #[inline(never)]
    fn next_and_operand(&mut self) -> Result<bool, ParseError> {
        let before = self.cursor.position();
        self.cursor.skip_whitespace();
        if self.at_clause_end() || self.at_keyword("OR")? || self.cursor.rest().starts_with("||") {
            self.cursor.reset(before);
            return Ok(false);
        }
        let operator_at = self.cursor.position();
        if self.eat_keyword("AND")? || self.cursor.eat_str("&&") {
            self.cursor.skip_whitespace();
            if self.at_clause_end() {
                return Err(self
                    .cursor
                    .error(operator_at, "expected a clause after 'AND'"));
            }
        }
        Ok(true)
    }

    fn unary(&mut self, context: &Field) -> Result<Expr, ParseError> {
        let negations = self.prefixes()?;
        self.depth += negations;
        let primary = self.primary(context);
        self.depth -= negations;
        let mut expr = primary?;
        for _ in 0..negations {
            expr = Expr::Not(Box::new(expr));
        }
        Ok(expr)
    }

    /// Consumes the prefix operators `NOT`, `-`, `+` and `!` (before `(`);
    /// returns how many negate.
    #[inline(never)]
    fn prefixes(&mut self) -> Result<usize, ParseError> {
        let start = self.cursor.position();
        let mut negations = 0;
        loop {
            let operator_at = self.cursor.position();
            let operator = if self.eat_keyword("NOT")? {
                negations += 1;
                "NOT"
            } else if self.cursor.eat('-') {
                negations += 1;
                "-"
            } else if self.cursor.eat('+') {
                "+"
            } else if self.cursor.peek() == Some('!') && self.cursor.peek_second() == Some('(') {
                self.cursor.bump();
                negations += 1;
                continue;
            } else {
                return Ok(negations);
            };
            self.cursor.skip_whitespace();
            if self.at_clause_end() {
                return Err(self
                    .cursor
                    .error(operator_at, format!("expected a clause after '{operator}'")));
            }
            if self.depth + negations > MAX_DEPTH {
                return Err(self.too_deep(start));
            }
        }
    }

    fn too_deep(&self, at: usize) -> ParseError {
        self.cursor.error(
            at,
            format!("the query nests groups and negations deeper than {MAX_DEPTH} levels"),
        )
    }

    /// Groups recurse; everything else is handled by [`Parser::leaf`], kept
    /// out of this frame so that deep nesting costs little stack.
    fn primary(&mut self, context: &Field) -> Result<Expr, ParseError> {
        if self.cursor.peek() == Some('(') {
            return self.group(context);
        }
        self.leaf(context)
    }

    #[inline(never)]
    fn leaf(&mut self, context: &Field) -> Result<Expr, ParseError> {
        let start = self.cursor.position();
        let Some(ch) = self.cursor.peek() else {
            return Err(self.error_here("expected a clause"));
        };
        match ch {
            '"' => {
                let text = self.cursor.phrase()?;
                if self.cursor.peek() == Some(':') {
                    return Err(self.cursor.error(
                        start,
                        "a quoted field name is not supported: escape the quotes (@\\\"a.b\\\":value) or the dots (@a\\.b:value)",
                    ));
                }
                Ok(Expr::Match {
                    field: context.clone(),
                    value: Value::Phrase(text),
                })
            }
            '[' | '{' => Ok(Expr::Match {
                field: context.clone(),
                value: self.range()?,
            }),
            '>' | '<' => Ok(Expr::Match {
                field: context.clone(),
                value: self.comparison()?,
            }),
            ')' => Err(self.error_here("unbalanced ')': there is no '(' to close")),
            ']' | '}' => {
                Err(self.error_here(format!("unexpected '{ch}': there is no range to close")))
            }
            ':' => Err(self.error_here("expected a field name before ':'")),
            '=' => Err(self.error_here("unexpected '=': escape it as '\\=' to search for it")),
            '!' => Err(self.error_here(
                "'!' only negates a group, as in !(a OR b): use NOT or '-', or escape it as '\\!'",
            )),
            '|' if self.cursor.at_pipe() => {
                Err(self.error_here("expected a clause before the '|' pipe"))
            }
            '|' => Err(self.error_here("expected a clause before '||'")),
            '&' if self.cursor.peek_second() == Some('&') => {
                Err(self.error_here("expected a clause before '&&'"))
            }
            _ => self.word_clause(context),
        }
    }

    fn group(&mut self, context: &Field) -> Result<Expr, ParseError> {
        let open = self.open_group()?;
        self.depth += 1;
        let inner = self.or_expr(context);
        self.depth -= 1;
        let inner = inner?;
        self.close_group(open)?;
        Ok(inner)
    }

    /// Consumes `(` and checks that a clause follows; returns its offset.
    #[inline(never)]
    fn open_group(&mut self) -> Result<usize, ParseError> {
        let open = self.cursor.position();
        self.cursor.bump();
        if self.depth >= MAX_DEPTH {
            return Err(self.too_deep(open));
        }
        self.cursor.skip_whitespace();
        if self.cursor.peek() == Some(')') {
            return Err(self.cursor.error(open, "empty group '()'"));
        }
        if self.at_clause_end() {
            return Err(self.cursor.error(open, "unbalanced '(': missing ')'"));
        }
        Ok(open)
    }

    #[inline(never)]
    fn close_group(&mut self, open: usize) -> Result<(), ParseError> {
        self.cursor.skip_whitespace();
        if !self.cursor.eat(')') {
            return Err(self.cursor.error(open, "unbalanced '(': missing ')'"));
        }
        Ok(())
    }

    /// A word in clause position: a field clause, a `CIDR(...)` call, a
    /// keyword out of place, or a bare value.
    fn word_clause(&mut self, context: &Field) -> Result<Expr, ParseError> {
        let start = self.cursor.position();
        let word = self.cursor.word(WordEnd::AtColon)?;
        if word.chars.is_empty() {
            let ch = self.cursor.peek().unwrap_or(' ');
            return Err(self.error_here(format!("unexpected '{ch}'")));
        }
        if self.cursor.eat(':') {
            return self.field_clause(&word);
        }
        for keyword in ["AND", "OR"] {
            if word.is_plain(keyword) {
                return Err(self.cursor.error(
                    start,
                    format!("'{keyword}' needs a clause on each side (escape it as '\\{keyword}' to search for the word)"),
                ));
            }
        }
        if word.is_plain("CIDR") && self.cursor.peek() == Some('(') {
            return self.cidr(start);
        }
        Ok(value_from_word(context, &word))
    }

    fn field_clause(&mut self, name: &Word) -> Result<Expr, ParseError> {
        if name.is_plain("_exists_") {
            return self.existence(false);
        }
        if name.is_plain("_missing_") {
            return self.existence(true);
        }
        let field = if name.is_plain("*") {
            Field::AnyField
        } else {
            self.resolve_field(name)?
        };
        let value_at = self.cursor.position();
        match self.cursor.peek() {
            None => Err(self.cursor.error(value_at, "expected a value after ':'")),
            Some(ch) if crate::lexer::is_whitespace(ch) || ch == ')' => {
                Err(self.cursor.error(value_at, "expected a value after ':'"))
            }
            Some('(') => self.group(&field),
            Some(_) => self.field_value(&field),
        }
    }

    /// The value right after `field:`.
    fn field_value(&mut self, field: &Field) -> Result<Expr, ParseError> {
        let at = self.cursor.position();
        let value = match self.cursor.peek() {
            Some('"') => Value::Phrase(self.cursor.phrase()?),
            Some('[' | '{') => self.range()?,
            Some('>' | '<') => self.comparison()?,
            Some('-')
                if !self
                    .cursor
                    .peek_second()
                    .is_some_and(|c| c.is_ascii_digit()) =>
            {
                return Err(self.cursor.error(
                    at,
                    "a value cannot start with '-': escape it as '\\-', or negate the whole clause as -field:value",
                ));
            }
            Some(']' | '}' | '|' | ':' | '=' | '!' | '&') => {
                return Err(self.cursor.error(at, "expected a value after ':'"));
            }
            _ => {
                let word = self.cursor.word(WordEnd::Value)?;
                if word.chars.is_empty() {
                    return Err(self.cursor.error(at, "expected a value after ':'"));
                }
                if word.is_plain("CIDR") && self.cursor.peek() == Some('(') {
                    // `@network.client.ip:CIDR(10.0.0.0/8)`
                    self.cursor.bump();
                    let blocks = self.cidr_blocks(at, false)?;
                    if blocks.is_empty() {
                        return Err(self.cursor.error(at, "CIDR(...) needs at least one block"));
                    }
                    return Ok(Expr::Cidr {
                        field: field.clone(),
                        blocks,
                    });
                }
                return Ok(value_from_word(field, &word));
            }
        };
        Ok(Expr::Match {
            field: field.clone(),
            value,
        })
    }

    fn existence(&mut self, missing: bool) -> Result<Expr, ParseError> {
        let operator = if missing { "_missing_" } else { "_exists_" };
        let at = self.cursor.position();
        let name = if self.cursor.peek() == Some('"') {
            let text = self.cursor.phrase()?;
            Word {
                chars: text
                    .chars()
                    .map(|ch| WordChar { ch, escaped: false })
                    .collect(),
                start: at,
            }
        } else {
            self.cursor.word(WordEnd::Value)?
        };
        if name.chars.is_empty() || name.is_plain("*") {
            return Err(self
                .cursor
                .error(at, format!("expected a field name after '{operator}:'")));
        }
        let exists = Expr::Exists(self.resolve_field(&name)?);
        Ok(if missing {
            Expr::Not(Box::new(exists))
        } else {
            exists
        })
    }

    fn resolve_field(&self, name: &Word) -> Result<Field, ParseError> {
        let Some(first) = name.chars.first() else {
            return Err(self.cursor.error(name.start, "empty field name"));
        };
        if !first.escaped && first.ch == '@' {
            return self.attribute_path(name).map(Field::Attribute);
        }
        if !first.escaped && first.ch == '#' {
            return Err(self
                .cursor
                .error(name.start, "calculated fields (#name) are not supported"));
        }
        let written_plain = name.chars.iter().all(|c| !c.escaped);
        let text = name.text();
        if written_plain {
            if text == "tags" {
                return Ok(Field::Tags);
            }
            if let Some(reserved) = ReservedField::from_name(&text) {
                return Ok(Field::Reserved(reserved));
            }
        }
        Ok(Field::TagKey(text))
    }

    /// `@a.b`, `@a\.b` (one key with a dot), `@\"a.b\".c` (quoted key).
    fn attribute_path(&self, name: &Word) -> Result<AttrPath, ParseError> {
        let chars = &name.chars[1..];
        if chars.is_empty() {
            return Err(self
                .cursor
                .error(name.start, "expected an attribute name after '@'"));
        }
        let mut segments = Vec::new();
        let mut segment = String::new();
        let mut index = 0;
        while index < chars.len() {
            let WordChar { ch, escaped } = chars[index];
            if ch == '"' && segment.is_empty() {
                let Some(close) = chars[index + 1..].iter().position(|c| c.ch == '"') else {
                    return Err(self
                        .cursor
                        .error(name.start, "unterminated quoted key in attribute path"));
                };
                segment.extend(chars[index + 1..index + 1 + close].iter().map(|c| c.ch));
                index += close + 2;
                if segment.is_empty() {
                    return Err(self
                        .cursor
                        .error(name.start, "empty quoted key in attribute path"));
                }
                if chars.get(index).is_some_and(|c| c.ch != '.' || c.escaped) {
                    return Err(self.cursor.error(
                        name.start,
                        "expected '.' after a quoted key in attribute path",
                    ));
                }
                continue;
            }
            if ch == '.' && !escaped {
                segments.push(std::mem::take(&mut segment));
            } else {
                segment.push(ch);
            }
            index += 1;
        }
        segments.push(segment);
        AttrPath::new(segments).ok_or_else(|| {
            self.cursor
                .error(name.start, "empty segment in attribute path")
        })
    }

    fn range(&mut self) -> Result<Value, ParseError> {
        let open = self.cursor.position();
        let lower_inclusive = self.cursor.bump() == Some('[');
        self.cursor.skip_whitespace();
        let lower = self.bound()?;
        let separator_at = self.cursor.position();
        let separated = self.cursor.skip_whitespace()
            && self.cursor.eat_str("TO")
            && self.cursor.skip_whitespace();
        if !separated {
            return Err(self.cursor.error(
                separator_at,
                "expected ' TO ' between the bounds of the range",
            ));
        }
        let upper = self.bound()?;
        self.cursor.skip_whitespace();
        let upper_inclusive = match self.cursor.peek() {
            Some(']') => true,
            Some('}') => false,
            _ => {
                return Err(self
                    .cursor
                    .error(open, "unterminated range: expected ']' or '}'"));
            }
        };
        self.cursor.bump();
        let bound = |literal: Option<Literal>, inclusive| match literal {
            None => Bound::Unbounded,
            Some(literal) if inclusive => Bound::Inclusive(literal),
            Some(literal) => Bound::Exclusive(literal),
        };
        Ok(Value::Range(Range {
            lower: bound(lower, lower_inclusive),
            upper: bound(upper, upper_inclusive),
        }))
    }

    /// A range bound: `*` (open), a phrase, or characters up to whitespace,
    /// `]` or `}`.
    fn bound(&mut self) -> Result<Option<Literal>, ParseError> {
        let at = self.cursor.position();
        if self.cursor.peek() == Some('"') {
            return Ok(Some(Literal::new(self.cursor.phrase()?)));
        }
        let mut text = String::new();
        let mut plain_star = true;
        while let Some(ch) = self.cursor.peek() {
            if crate::lexer::is_whitespace(ch) || ch == ']' || ch == '}' {
                break;
            }
            self.cursor.bump();
            if ch == '\\' {
                let Some(escaped) = self.cursor.bump() else {
                    return Err(self.cursor.error(at, "trailing '\\' escapes nothing"));
                };
                text.push(escaped);
                plain_star = false;
            } else {
                text.push(ch);
            }
        }
        if text.is_empty() {
            return Err(self
                .cursor
                .error(at, "expected a range bound (a value or *)"));
        }
        Ok(if plain_star && text == "*" {
            None
        } else {
            Some(Literal::new(text))
        })
    }

    fn comparison(&mut self) -> Result<Value, ParseError> {
        let operator = if self.cursor.eat_str(">=") {
            CompareOp::GreaterOrEqual
        } else if self.cursor.eat_str("<=") {
            CompareOp::LessOrEqual
        } else if self.cursor.eat('>') {
            CompareOp::Greater
        } else {
            self.cursor.bump();
            CompareOp::Less
        };
        let at = self.cursor.position();
        let text = if self.cursor.peek() == Some('"') {
            self.cursor.phrase()?
        } else {
            let word = self.cursor.word(WordEnd::Value)?;
            if word.chars.is_empty() {
                return Err(self.cursor.error(
                    at,
                    format!("expected a value after '{}'", operator.symbol()),
                ));
            }
            word.text()
        };
        Ok(Value::Compare(operator, Literal::new(text)))
    }

    /// `CIDR(@field, block, ...)`, the cursor on the `(`.
    fn cidr(&mut self, start: usize) -> Result<Expr, ParseError> {
        self.cursor.bump();
        self.cursor.skip_whitespace();
        let field_at = self.cursor.position();
        let field_word = self.cursor.word(WordEnd::Argument)?;
        if field_word.chars.is_empty() {
            return Err(self
                .cursor
                .error(field_at, "expected a field name in CIDR(...)"));
        }
        let field = self.resolve_field(&field_word)?;
        let blocks = self.cidr_blocks(start, true)?;
        if blocks.is_empty() {
            return Err(self
                .cursor
                .error(start, "CIDR(...) needs a field and at least one block"));
        }
        Ok(Expr::Cidr { field, blocks })
    }

    /// The blocks of `CIDR(...)` up to and including the closing `)`; the
    /// function form has the field first, so its first block follows a
    /// comma.
    fn cidr_blocks(
        &mut self,
        start: usize,
        after_field: bool,
    ) -> Result<Vec<crate::ast::CidrBlock>, ParseError> {
        let mut blocks = Vec::new();
        loop {
            self.cursor.skip_whitespace();
            if self.cursor.at_end() {
                return Err(self
                    .cursor
                    .error(start, "unterminated CIDR(...): missing ')'"));
            }
            if self.cursor.eat(')') {
                return Ok(blocks);
            }
            let needs_comma = after_field || !blocks.is_empty();
            if needs_comma && !self.cursor.eat(',') {
                return Err(self.error_here("expected ',' or ')' in CIDR(...)"));
            }
            self.cursor.skip_whitespace();
            let block_at = self.cursor.position();
            let block = self.cursor.word(WordEnd::Argument)?.text();
            if block.is_empty() {
                return Err(self
                    .cursor
                    .error(block_at, "expected a CIDR block such as 10.0.0.0/8"));
            }
            let parsed = crate::cidr::parse_block(&block).ok_or_else(|| {
                self.cursor
                    .error(block_at, format!("invalid CIDR block '{block}'"))
            })?;
            blocks.push(parsed);
        }
    }

    fn stats(&mut self) -> Result<Stats, ParseError> {
        self.cursor.skip_whitespace();
        let at = self.cursor.position();
        if self.identifier() != "stats" {
            return Err(self.cursor.error(
                at,
                "expected 'stats' after '|', as in '| stats count by @field'",
            ));
        }
        self.cursor.skip_whitespace();
        let mut aggregations = vec![self.aggregation()?];
        while self.eat_separator(',') {
            aggregations.push(self.aggregation()?);
        }
        let mut group_by = Vec::new();
        let before = self.cursor.position();
        if self.cursor.skip_whitespace() && self.identifier() == "by" {
            self.cursor.skip_whitespace();
            group_by.push(self.stats_field()?);
            while self.eat_separator(',') {
                let field_at = self.cursor.position();
                if group_by.len() == crate::stats::MAX_GROUP_BY {
                    return Err(self.cursor.error(
                        field_at,
                        format!(
                            "'| stats' groups by at most {} fields",
                            crate::stats::MAX_GROUP_BY
                        ),
                    ));
                }
                group_by.push(self.stats_field()?);
            }
        } else {
            self.cursor.reset(before);
        }
        Ok(Stats {
            aggregations,
            group_by,
        })
    }

    fn eat_separator(&mut self, separator: char) -> bool {
        let before = self.cursor.position();
        self.cursor.skip_whitespace();
        if self.cursor.eat(separator) {
            self.cursor.skip_whitespace();
            return true;
        }
        self.cursor.reset(before);
        false
    }

    fn identifier(&mut self) -> &str {
        let rest = self.cursor.rest();
        let length = rest
            .char_indices()
            .find(|&(_, ch)| !(ch.is_ascii_alphanumeric() || ch == '_'))
            .map_or(rest.len(), |(index, _)| index);
        self.cursor.reset(self.cursor.position() + length);
        &rest[..length]
    }

    fn aggregation(&mut self) -> Result<Aggregation, ParseError> {
        let at = self.cursor.position();
        let name = self.identifier().to_string();
        if name.is_empty() {
            return Err(self
                .cursor
                .error(at, "expected an aggregation such as count or sum(@field)"));
        }
        let Some(mut function) = AggregateFunction::from_name(&name) else {
            return Err(self.cursor.error(
                at,
                format!("unknown aggregation '{name}': expected count, cardinality, sum, avg, min, max, median or pc75, pc90, pc95, pc98, pc99"),
            ));
        };
        let mut field = None;
        if self.cursor.eat('(') {
            self.cursor.skip_whitespace();
            if !self.cursor.eat(')') {
                field = Some(self.stats_field()?);
                self.cursor.skip_whitespace();
                if !self.cursor.eat(')') {
                    return Err(self.error_here(format!("expected ')' to close {name}(")));
                }
            }
        }
        match (function, &field) {
            (AggregateFunction::Count, Some(_)) => function = AggregateFunction::CountDistinct,
            (AggregateFunction::Count, None) => {}
            (_, None) => {
                return Err(self
                    .cursor
                    .error(at, format!("{name} needs a field, as in {name}(@field)")));
            }
            (_, Some(_)) => {}
        }
        let before = self.cursor.position();
        let mut alias = None;
        if self.cursor.skip_whitespace()
            && self.identifier() == "as"
            && self.cursor.skip_whitespace()
        {
            let alias_at = self.cursor.position();
            let name = self.identifier().to_string();
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(self.cursor.error(alias_at, "expected a name after 'as'"));
            }
            alias = Some(name);
        } else {
            self.cursor.reset(before);
        }
        Ok(Aggregation {
            function,
            field,
            alias,
        })
    }

    fn stats_field(&mut self) -> Result<Field, ParseError> {
        let at = self.cursor.position();
        let word = self.cursor.word(WordEnd::Argument)?;
        if word.chars.is_empty() {
            return Err(self
                .cursor
                .error(at, "expected a field such as @usr.email or service"));
        }
        self.resolve_field(&word)
    }
}

/// A bare word bound to `field`: a term, a wildcard, or `*`.
fn value_from_word(field: &Field, word: &Word) -> Expr {
    if word.has_wildcard() {
        let pieces = word.chars.iter().map(|c| match c {
            WordChar {
                ch: '*',
                escaped: false,
            } => GlobPiece::AnyRun,
            WordChar {
                ch: '?',
                escaped: false,
            } => GlobPiece::AnyChar,
            WordChar { ch, .. } => GlobPiece::Literal(ch.to_string()),
        });
        return match Pattern::new(pieces) {
            Some(pattern) => Expr::Match {
                field: field.clone(),
                value: Value::Wildcard(pattern),
            },
            None => star(field),
        };
    }
    Expr::Match {
        field: field.clone(),
        value: Value::Term(Literal::new(word.text())),
    }
}

/// `*` bound to a field: every event for the free-text fields, presence for
/// a real field.
fn star(field: &Field) -> Expr {
    match field {
        Field::FreeText | Field::AnyField => Expr::All,
        field => Expr::Exists(field.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(query: &str) -> String {
        parse(query).expect_err(query).to_string()
    }

    #[test]
    fn positions_point_at_the_problem() {
        assert_eq!(
            error_of("@usr.email:alice @evt.name:"),
            "at column 28: expected a value after ':'"
        );
        assert_eq!(
            error_of("a AND"),
            "at column 3: expected a clause after 'AND'"
        );
        assert_eq!(
            error_of("(a OR b"),
            "at column 1: unbalanced '(': missing ')'"
        );
        assert_eq!(
            error_of("a)"),
            "at column 2: unbalanced ')': there is no '(' to close"
        );
        assert_eq!(
            error_of("\"open"),
            "at column 1: unterminated phrase: missing closing '\"'"
        );
        assert_eq!(
            error_of("@a:[1 5]"),
            "at column 6: expected ' TO ' between the bounds of the range"
        );
        assert_eq!(
            error_of("foo\\"),
            "at column 4: trailing '\\' escapes nothing"
        );
        assert_eq!(
            error_of("CIDR(@ip, 10.0.0.0/33)"),
            "at column 11: invalid CIDR block '10.0.0.0/33'"
        );
        assert_eq!(
            error_of("é AND"),
            "at column 3: expected a clause after 'AND'"
        );
    }

    #[test]
    fn precedence_follows_the_spec() {
        let parsed = parse("a OR b c").expect("valid").filter;
        let Expr::Or(operands) = parsed else {
            panic!("expected OR, got {parsed:?}")
        };
        assert!(matches!(operands[1], Expr::And(_)));
        let parsed = parse("NOT foo bar").expect("valid").filter;
        let Expr::And(operands) = parsed else {
            panic!("expected AND, got {parsed:?}")
        };
        assert!(matches!(operands[0], Expr::Not(_)));
    }

    #[test]
    fn field_groups_distribute_the_field() {
        let parsed = parse("@action:(created OR deleted)").expect("valid").filter;
        let expected = parse("@action:created OR @action:deleted")
            .expect("valid")
            .filter;
        assert_eq!(parsed, expected);
    }

    #[test]
    fn both_cidr_forms_mean_the_same() {
        let value_form =
            parse("@network.client.ip:CIDR(10.0.0.0/8, 2001:db8::/32)").expect("valid");
        let function_form =
            parse("CIDR(@network.client.ip,10.0.0.0/8,2001:db8::/32)").expect("valid");
        assert_eq!(value_form, function_form);
        assert!(matches!(value_form.filter, Expr::Cidr { ref blocks, .. } if blocks.len() == 2));
    }

    #[test]
    fn keywords_are_whole_words() {
        for query in ["ORDER", "NOTE:x", "ANDROID:x", "and", "not", "ORDER:x"] {
            parse(query).unwrap_or_else(|error| panic!("{query}: {error}"));
        }
        assert!(matches!(
            parse("NOTE:x").expect("valid").filter,
            Expr::Match { .. }
        ));
    }

    #[test]
    fn stats_pipe() {
        let parsed =
            parse("@aegis.decision:BLOCKED | stats count by @aegis.actor_id").expect("valid");
        let stats = parsed.stats.expect("stats");
        assert_eq!(stats.aggregations[0].function, AggregateFunction::Count);
        assert_eq!(stats.group_by.len(), 1);
        let parsed =
            parse("| stats count(@usr.id) as users, sum(@bytes) by service, @a").expect("valid");
        let stats = parsed.stats.expect("stats");
        assert_eq!(
            stats.aggregations[0].function,
            AggregateFunction::CountDistinct
        );
        assert_eq!(stats.aggregations[0].alias.as_deref(), Some("users"));
        assert_eq!(parsed.filter, Expr::All);
        assert!(error_of("a | stats sum").contains("sum needs a field"));
        assert!(error_of("a | count").contains("expected 'stats'"));
        assert!(parse_filter("a | stats count").is_err());
        assert!(parse("a || b").expect("valid").stats.is_none());
    }
}

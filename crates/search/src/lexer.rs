//! Scanning the query text: words, phrases and punctuation.
//!
//! The grammar is context-sensitive (an unescaped `:` ends a field name but
//! is an ordinary character inside a value; `,` separates `CIDR` arguments),
//! so the parser drives the scanner and says which characters end a word.
//! Every scanned character remembers whether it was escaped, because an
//! escaped `*` is a literal star, an escaped `@` does not start an attribute
//! and an escaped `AND` is a word, not an operator.

use crate::error::ParseError;

/// One character of a word and whether a `\` preceded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WordChar {
    pub ch: char,
    pub escaped: bool,
}

/// A run of word characters with its position in the query.
#[derive(Debug, Clone)]
pub(crate) struct Word {
    pub chars: Vec<WordChar>,
    pub start: usize,
}

impl Word {
    /// The text with escapes removed.
    pub fn text(&self) -> String {
        self.chars.iter().map(|c| c.ch).collect()
    }

    /// True when the word is exactly `keyword`, written without escapes.
    pub fn is_plain(&self, keyword: &str) -> bool {
        self.chars.len() == keyword.chars().count()
            && self
                .chars
                .iter()
                .zip(keyword.chars())
                .all(|(c, k)| !c.escaped && c.ch == k)
    }

    pub fn has_wildcard(&self) -> bool {
        self.chars
            .iter()
            .any(|c| !c.escaped && matches!(c.ch, '*' | '?'))
    }
}

/// Which characters end a word, besides whitespace and the characters that
/// always do: `( ) [ ] { } "`, a `|` (the pipe or `||`) and `&&`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordEnd {
    /// A field name or a free-text word: an unescaped `:` ends it.
    AtColon,
    /// A field's value: `:` is an ordinary character (`@ip:2001:db8::1`).
    Value,
    /// A `CIDR(...)` argument: `,` ends it, `:` does not (IPv6).
    Argument,
}

pub(crate) struct Cursor<'a> {
    source: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(source: &'a str) -> Cursor<'a> {
        Cursor {
            source,
            position: 0,
        }
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn reset(&mut self, position: usize) {
        self.position = position;
    }

    pub fn rest(&self) -> &'a str {
        self.source.get(self.position..).unwrap_or("")
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    pub fn at_end(&self) -> bool {
        self.position >= self.source.len()
    }

    pub fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.position += ch.len_utf8();
        Some(ch)
    }

    pub fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.position += expected.len_utf8();
        }
        found
    }

    pub fn eat_str(&mut self, expected: &str) -> bool {
        let found = self.rest().starts_with(expected);
        if found {
            self.position += expected.len();
        }
        found
    }

    /// Skips whitespace; true if there was any.
    pub fn skip_whitespace(&mut self) -> bool {
        let start = self.position;
        while self.peek().is_some_and(is_whitespace) {
            self.bump();
        }
        self.position > start
    }

    /// The pipe starts at a `|` that is not part of `||`.
    pub fn at_pipe(&self) -> bool {
        self.peek() == Some('|') && self.peek_second() != Some('|')
    }

    pub fn error(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::at(self.source, offset, message)
    }

    /// Scans a word; it may be empty if the cursor sits on a character that
    /// ends words.
    pub fn word(&mut self, end: WordEnd) -> Result<Word, ParseError> {
        let start = self.position;
        let mut chars = Vec::new();
        while let Some(ch) = self.peek() {
            if ch == '\\' {
                let escape_at = self.position;
                self.bump();
                let Some(escaped) = self.bump() else {
                    return Err(self.error(escape_at, "trailing '\\' escapes nothing"));
                };
                chars.push(WordChar {
                    ch: escaped,
                    escaped: true,
                });
                continue;
            }
            let ends = is_whitespace(ch)
                || matches!(ch, '(' | ')' | '[' | ']' | '{' | '}' | '"' | '|')
                || (ch == '&' && self.peek_second() == Some('&'))
                || (ch == ':' && end == WordEnd::AtColon)
                || (matches!(ch, ',') && end == WordEnd::Argument);
            if ends {
                break;
            }
            chars.push(WordChar { ch, escaped: false });
            self.bump();
        }
        Ok(Word { chars, start })
    }

    /// Scans `"..."` starting at the opening quote; returns the content with
    /// escapes removed.
    pub fn phrase(&mut self) -> Result<String, ParseError> {
        let open = self.position;
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.error(open, "unterminated phrase: missing closing '\"'"));
                }
                Some('"') => return Ok(text),
                Some('\\') => match self.bump() {
                    Some(escaped) => text.push(escaped),
                    None => {
                        return Err(self.error(open, "unterminated phrase: missing closing '\"'"));
                    }
                },
                Some(ch) => text.push(ch),
            }
        }
    }
}

/// Space, tab, CR, LF and the other Unicode spaces (including U+3000, the
/// ideographic space) separate tokens.
pub(crate) fn is_whitespace(ch: char) -> bool {
    ch.is_whitespace()
}

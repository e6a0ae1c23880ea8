//! Matching [`Pattern`]s: `*` any run of characters, `?` exactly one.
//!
//! The matcher walks the text once per star position it backtracks to, so
//! the cost is at most O(text × pattern), whatever the pattern: no
//! exponential blow-up on `*a*a*a*...b`.

use crate::ast::{GlobPiece, Pattern};

#[derive(Clone, Copy, PartialEq)]
enum Step {
    Char(char),
    AnyChar,
    AnyRun,
}

/// A pattern compiled to per-character steps, optionally lowercased for the
/// case-insensitive text fields.
#[derive(Clone)]
pub(crate) struct Glob {
    steps: Vec<Step>,
}

impl Glob {
    pub fn new(pattern: &Pattern, lowercase: bool) -> Glob {
        Glob::from_pieces(pattern.pieces(), lowercase)
    }

    pub fn from_pieces(pieces: &[GlobPiece], lowercase: bool) -> Glob {
        let mut steps = Vec::new();
        for piece in pieces {
            match piece {
                GlobPiece::Literal(text) if lowercase => {
                    steps.extend(text.chars().flat_map(char::to_lowercase).map(Step::Char));
                }
                GlobPiece::Literal(text) => steps.extend(text.chars().map(Step::Char)),
                GlobPiece::AnyChar => steps.push(Step::AnyChar),
                GlobPiece::AnyRun => steps.push(Step::AnyRun),
            }
        }
        Glob { steps }
    }

    /// Whole-text (anchored) match.
    pub fn is_match(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut s) = (0, 0);
        // Where the last star was, and the text position it currently covers up to.
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.steps.get(s) {
                Some(Step::AnyRun) => {
                    backtrack = Some((s, t));
                    s += 1;
                }
                Some(Step::AnyChar) => {
                    s += 1;
                    t += 1;
                }
                Some(Step::Char(ch)) if *ch == text[t] => {
                    s += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((star, covered)) => {
                        s = star + 1;
                        t = covered + 1;
                        backtrack = Some((star, covered + 1));
                    }
                    None => return false,
                },
            }
        }
        self.steps[s..].iter().all(|step| *step == Step::AnyRun)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(source: &str) -> Glob {
        let pieces: Vec<GlobPiece> = source
            .chars()
            .map(|ch| match ch {
                '*' => GlobPiece::AnyRun,
                '?' => GlobPiece::AnyChar,
                ch => GlobPiece::Literal(ch.to_string()),
            })
            .collect();
        Glob::from_pieces(&pieces, false)
    }

    #[test]
    fn anchored_matching() {
        assert!(glob("web*").is_match("webserver"));
        assert!(!glob("web*").is_match("cobweb"));
        assert!(glob("*web").is_match("cobweb"));
        assert!(glob("*b*la*").is_match("foobla"));
        assert!(glob("v*c*r").is_match("vector"));
        assert!(!glob("v*c*r").is_match("torvec"));
        assert!(glob("hello?world").is_match("hello world"));
        assert!(!glob("hello?world").is_match("hello  world"));
        assert!(glob("h?llé").is_match("hællé"));
        assert!(glob("**").is_match(""));
        assert!(!glob("?").is_match(""));
    }

    #[test]
    fn no_exponential_backtracking() {
        let pattern = format!("{}b", "*a".repeat(50));
        let text = "a".repeat(5_000);
        assert!(!glob(&pattern).is_match(&text));
    }
}

//! Tokenisation of the free-text fields (`message`, `@error.message`, ...).
//!
//! Text is lowercased, then split into *pieces*: words (maximal runs of
//! Unicode letters, digits and `_`) and single punctuation characters;
//! whitespace only separates. Search then works on pieces:
//!
//! - a word query (`hello`, `/api/v1`) matches when its words occur
//!   consecutively among the text's words: punctuation on either side is
//!   ignored, so `hello` does not match `helloworld` but `/api/v1` matches
//!   `GET /api/v1/users`;
//! - a phrase (`"hello world"`, `"*test*"`) matches when its pieces occur in
//!   order, punctuation *written in the phrase* included; punctuation in the
//!   text that the phrase does not mention is skipped, so `"hello world"`
//!   matches `Hello, world` and `"*test*"` does not match `a test`;
//! - a wildcard word (`web*`, `*net?ork*`) matches a single word, anchored.
//!
//! The index that comes with the store must tokenise with these functions,
//! so that pruning and matching agree.

use crate::ast::{GlobPiece, Pattern};
use crate::glob::Glob;

pub(crate) fn is_word_char(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// Calls `each` with the lowercased words of `text`, in order, as
/// [`words`] yields them, with one allocation in all rather than one per
/// word: index builders call it for every event.
pub fn for_each_word(text: &str, mut each: impl FnMut(&str)) {
    let lower = text.to_lowercase();
    let mut start = None;
    for (index, ch) in lower.char_indices() {
        if is_word_char(ch) {
            start.get_or_insert(index);
        } else if let Some(word_start) = start.take() {
            each(&lower[word_start..index]);
        }
    }
    if let Some(word_start) = start {
        each(&lower[word_start..]);
    }
}

/// The lowercased words of `text`, in order: the terms an index stores.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    let lower = text.to_lowercase();
    let pieces = split_pieces(&lower);
    pieces
        .into_iter()
        .filter(|piece| piece.word)
        .map(move |piece| lower[piece.start..piece.end].to_string())
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    start: usize,
    end: usize,
    word: bool,
}

fn split_pieces(lower: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut word_start: Option<usize> = None;
    for (index, ch) in lower.char_indices() {
        if is_word_char(ch) {
            word_start.get_or_insert(index);
            continue;
        }
        if let Some(start) = word_start.take() {
            pieces.push(Piece {
                start,
                end: index,
                word: true,
            });
        }
        if !ch.is_whitespace() {
            pieces.push(Piece {
                start: index,
                end: index + ch.len_utf8(),
                word: false,
            });
        }
    }
    if let Some(start) = word_start {
        pieces.push(Piece {
            start,
            end: lower.len(),
            word: true,
        });
    }
    pieces
}

/// A field value split for searching; built once per event and field.
#[derive(Debug, Clone)]
pub(crate) struct Tokenized {
    lower: String,
    pieces: Vec<Piece>,
    /// Indexes into `pieces` of the words, for word-only sequences.
    words: Vec<usize>,
}

impl Tokenized {
    pub fn new(text: &str) -> Tokenized {
        let lower = text.to_lowercase();
        let pieces = split_pieces(&lower);
        let words = (0..pieces.len())
            .filter(|&index| pieces[index].word)
            .collect();
        Tokenized {
            lower,
            pieces,
            words,
        }
    }

    fn piece(&self, index: usize) -> &str {
        let piece = self.pieces[index];
        &self.lower[piece.start..piece.end]
    }

    fn word(&self, index: usize) -> &str {
        self.piece(self.words[index])
    }

    /// The query's words occur consecutively among the text's words.
    fn contains_words(&self, query: &[String]) -> bool {
        self.contains_word_sequence(query.len(), |index, word| word == query[index])
    }

    fn contains_word_sequence(&self, length: usize, matches: impl Fn(usize, &str) -> bool) -> bool {
        if length == 0 {
            return true;
        }
        let count = self.words.len();
        (0..count.saturating_sub(length - 1))
            .any(|start| (0..length).all(|offset| matches(offset, self.word(start + offset))))
    }

    /// The query's pieces occur in order; unmatched punctuation of the text
    /// between them is skipped, words never are.
    fn contains_pieces(&self, query: &[String]) -> bool {
        let Some(first) = query.first() else {
            return true;
        };
        (0..self.pieces.len()).any(|start| {
            if self.piece(start) != first {
                return false;
            }
            let (mut wanted, mut at) = (1, start + 1);
            while wanted < query.len() {
                let Some(piece) = self.pieces.get(at) else {
                    return false;
                };
                if self.piece(at) == query[wanted] {
                    wanted += 1;
                } else if piece.word {
                    return false;
                }
                at += 1;
            }
            true
        })
    }
}

/// A query value prepared for matching against [`Tokenized`] text.
#[derive(Clone)]
pub(crate) enum TextQuery {
    Words(Vec<String>),
    Pieces(Vec<String>),
    Globs(Vec<WordGlob>),
}

#[derive(Clone)]
pub(crate) enum WordGlob {
    Exact(String),
    Glob(Glob),
}

impl TextQuery {
    /// A bare word: its words in sequence; a word made only of punctuation
    /// (`/`, `“`) falls back to its pieces.
    pub fn term(text: &str) -> TextQuery {
        let lower = text.to_lowercase();
        let pieces = split_pieces(&lower);
        let words: Vec<String> = pieces
            .iter()
            .filter(|piece| piece.word)
            .map(|piece| lower[piece.start..piece.end].to_string())
            .collect();
        if words.is_empty() {
            return TextQuery::phrase(text);
        }
        TextQuery::Words(words)
    }

    pub fn phrase(text: &str) -> TextQuery {
        let lower = text.to_lowercase();
        let pieces = split_pieces(&lower)
            .into_iter()
            .map(|piece| lower[piece.start..piece.end].to_string())
            .collect();
        TextQuery::Pieces(pieces)
    }

    /// A wildcard word, split at punctuation like a term; each part is
    /// matched against one word of the text.
    pub fn wildcard(pattern: &Pattern) -> TextQuery {
        let mut parts: Vec<Vec<GlobPiece>> = Vec::new();
        let mut current: Vec<GlobPiece> = Vec::new();
        for piece in pattern.pieces() {
            match piece {
                GlobPiece::Literal(text) => {
                    for ch in text.chars() {
                        if is_word_char(ch) {
                            current.push(GlobPiece::Literal(ch.to_string()));
                        } else if !current.is_empty() {
                            parts.push(std::mem::take(&mut current));
                        }
                    }
                }
                wildcard => current.push(wildcard.clone()),
            }
        }
        if !current.is_empty() {
            parts.push(current);
        }
        let globs = parts
            .into_iter()
            .map(|part| {
                if part
                    .iter()
                    .all(|piece| matches!(piece, GlobPiece::Literal(_)))
                {
                    let text: String = part
                        .iter()
                        .filter_map(|piece| match piece {
                            GlobPiece::Literal(text) => Some(text.as_str()),
                            _ => None,
                        })
                        .collect();
                    WordGlob::Exact(text.to_lowercase())
                } else {
                    WordGlob::Glob(Glob::from_pieces(&part, true))
                }
            })
            .collect();
        TextQuery::Globs(globs)
    }

    pub fn is_match(&self, text: &Tokenized) -> bool {
        match self {
            TextQuery::Words(words) => text.contains_words(words),
            TextQuery::Pieces(pieces) => text.contains_pieces(pieces),
            TextQuery::Globs(globs) => {
                text.contains_word_sequence(globs.len(), |index, word| match &globs[index] {
                    WordGlob::Exact(exact) => exact == word,
                    WordGlob::Glob(glob) => glob.is_match(word),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(query: &str, text: &str) -> bool {
        TextQuery::term(query).is_match(&Tokenized::new(text))
    }

    fn phrase(query: &str, text: &str) -> bool {
        TextQuery::phrase(query).is_match(&Tokenized::new(text))
    }

    #[test]
    fn words_and_sequences() {
        assert!(term("hello", "hEllo world"));
        assert!(!term("hello", "helloworld"));
        assert!(term("/api/v1", "GET /api/v1/users"));
        assert!(term("user@example.com", "by user@example.com with"));
        assert!(!term("api/v1", "v1 api"));
        assert!(term("“hello", "world says hello"));
        assert_eq!(
            words("Hello, wörld_2!").collect::<Vec<_>>(),
            ["hello", "wörld_2"]
        );
        for text in ["Hello, wörld_2!", "", "  a", "İstanbul ÉTÉ x_y-z", "end"] {
            let mut visited = Vec::new();
            for_each_word(text, |word| visited.push(word.to_string()));
            assert_eq!(visited, words(text).collect::<Vec<_>>(), "{text:?}");
        }
    }

    #[test]
    fn phrases_keep_written_punctuation() {
        assert!(phrase("hello world", "Hello, world"));
        assert!(phrase("hello world", "hello-world"));
        assert!(!phrase("hello world", "world, hello"));
        assert!(phrase("*test*", "value *test* here"));
        assert!(!phrase("*test*", "this is a test"));
        assert!(phrase("a-b", "x a--b y"));
        assert!(!phrase("a-b", "a b"));
    }
}

//! Checkpoints in the C2SP `tlog-checkpoint` text format:
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, base64>
//! [extension lines]
//! ```
//!
//! every line ending in a newline. The body is what a [`crate::note`]
//! signature covers.

use std::fmt;

use crate::error::LedgerError;
use crate::hash::Hash;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Names the log, unique among logs (`evident.example/7f3a...`).
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Opaque extra lines, kept in order.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Parses a checkpoint body (the note text, without signatures).
    pub fn parse(body: &str) -> Result<Checkpoint, LedgerError> {
        let invalid = |why: &str| LedgerError::InvalidCheckpoint(why.to_string());
        let Some(body) = body.strip_suffix('\n') else {
            return Err(invalid("the body must end with a newline"));
        };
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|origin| !origin.is_empty())
            .ok_or_else(|| invalid("empty origin line"))?;
        let size_line = lines
            .next()
            .ok_or_else(|| invalid("missing tree size line"))?;
        let canonical_size =
            size_line == "0" || (!size_line.starts_with('0') && !size_line.is_empty());
        let size = size_line
            .parse::<u64>()
            .ok()
            .filter(|_| canonical_size && size_line.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                invalid("the tree size must be a decimal number without leading zeros")
            })?;
        let root_line = lines
            .next()
            .ok_or_else(|| invalid("missing root hash line"))?;
        let root = Hash::from_base64(root_line)
            .ok_or_else(|| invalid("the root hash must be 32 bytes in base64"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(invalid("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }
}

impl fmt::Display for Checkpoint {
    /// The body text, ready to be signed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(f, "{}", self.size)?;
        writeln!(f, "{}", self.root.to_base64())?;
        for extension in &self.extensions {
            writeln!(f, "{extension}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn round_trip() {
        let mut checkpoint = Checkpoint::new("evident.test/log", 42, leaf_hash(b"x"));
        checkpoint.extensions.push("time 1714564800".into());
        let body = checkpoint.to_string();
        assert_eq!(body.lines().count(), 4);
        assert_eq!(Checkpoint::parse(&body).expect("valid"), checkpoint);
    }

    #[test]
    fn rejects_malformed_bodies() {
        let root = leaf_hash(b"x").to_base64();
        for body in [
            format!("o\n1\n{root}"),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            "o\n1\nAAAA\n".to_string(),
            format!("o\n1\n{root}\n\n"),
            "o\n1\n".to_string(),
        ] {
            assert!(Checkpoint::parse(&body).is_err(), "{body:?}");
        }
    }
}

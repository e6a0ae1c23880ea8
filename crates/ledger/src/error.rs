//! Errors of the ledger.

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {requested} is larger than the {available} leaves known")]
    SizeOutOfRange { requested: u64, available: u64 },
    #[error("invalid proof: {0}")]
    InvalidProof(&'static str),
    #[error("invalid checkpoint: {0}")]
    InvalidCheckpoint(String),
    #[error("invalid note: {0}")]
    InvalidNote(String),
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("no signature by key {0:?} verifies this note")]
    SignatureMismatch(String),
    #[error("reading tree nodes: {0}")]
    Nodes(String),
    #[error("generating a key: {0}")]
    Random(String),
}

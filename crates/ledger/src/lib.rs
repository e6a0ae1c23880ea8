//! Tamper evidence for evident's event log.
//!
//! Every stored event is a leaf of one append-only Merkle tree, in ingest
//! order, hashed over its exact stored bytes as RFC 9162 (Certificate
//! Transparency 2.0, same tree as RFC 6962) defines:
//!
//! - [`hash`]: leaf and node hashes (`SHA-256(0x00 || bytes)`,
//!   `SHA-256(0x01 || left || right)`);
//! - [`tree`]: the tree over any store of subtree hashes ([`tree::Nodes`]),
//!   an in-memory one ([`tree::MemoryTree`]), roots, inclusion and
//!   consistency proofs, and [`tree::RootBuilder`] to recompute roots while
//!   streaming leaves;
//! - [`proof`]: verifying those proofs, as any third party would;
//! - [`checkpoint`] and [`note`]: the tree size and root, signed with
//!   Ed25519 in the C2SP `tlog-checkpoint` / `signed-note` text formats, so
//!   that verifiers can be written in any language with the usual tools.
//!
//! The crate does no IO except reading and writing key files; the store
//! decides where leaves, nodes and checkpoints live.

pub mod checkpoint;
mod error;
pub mod hash;
pub mod note;
pub mod proof;
pub mod tree;

pub use checkpoint::Checkpoint;
pub use error::LedgerError;
pub use hash::{Hash, leaf_hash, node_hash};
pub use note::{NoteSigner, NoteVerifier};

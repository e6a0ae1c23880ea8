//! The Merkle tree of RFC 9162 §2.1: roots, inclusion and consistency
//! proofs over any store of subtree hashes.
//!
//! Every range the RFC's recursive definitions visit is made of *perfect*
//! subtrees (2^k leaves starting at a multiple of 2^k), so a store that can
//! return the hash of any complete perfect subtree ([`Nodes`]) gives roots
//! and proofs in O(log² n) lookups. [`MemoryTree`] keeps every level in
//! memory; the store keeps them in files.

use crate::error::LedgerError;
use crate::hash::{Hash, node_hash};

/// A source of perfect-subtree hashes.
pub trait Nodes {
    /// Leaves in the tree.
    fn size(&self) -> u64;

    /// The hash of the perfect subtree of `2^level` leaves that starts at
    /// leaf `index << level`; only asked for subtrees that are complete
    /// within [`Nodes::size`].
    fn perfect(&self, level: u32, index: u64) -> Result<Hash, LedgerError>;
}

/// The largest power of two strictly smaller than `n` (for `n > 1`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start : start + length])`.
pub fn range_root(nodes: &impl Nodes, start: u64, length: u64) -> Result<Hash, LedgerError> {
    if length == 0 {
        return Ok(Hash::empty());
    }
    if length.is_power_of_two() && start.is_multiple_of(length) {
        return nodes.perfect(length.trailing_zeros(), start / length);
    }
    let k = split_point(length);
    let left = range_root(nodes, start, k)?;
    let right = range_root(nodes, start + k, length - k)?;
    Ok(node_hash(&left, &right))
}

fn check_size(nodes: &impl Nodes, size: u64) -> Result<(), LedgerError> {
    if size > nodes.size() {
        return Err(LedgerError::SizeOutOfRange {
            requested: size,
            available: nodes.size(),
        });
    }
    Ok(())
}

/// The root of the tree of the first `size` leaves.
pub fn root(nodes: &impl Nodes, size: u64) -> Result<Hash, LedgerError> {
    check_size(nodes, size)?;
    range_root(nodes, 0, size)
}

/// The audit path of leaf `index` in the tree of the first `size` leaves
/// (RFC 9162 §2.1.3.1), leaf side first.
pub fn inclusion_proof(
    nodes: &impl Nodes,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, LedgerError> {
    check_size(nodes, size)?;
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(nodes, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path(
    nodes: &impl Nodes,
    index: u64,
    start: u64,
    length: u64,
    out: &mut Vec<Hash>,
) -> Result<(), LedgerError> {
    if length <= 1 {
        return Ok(());
    }
    let k = split_point(length);
    if index < k {
        path(nodes, index, start, k, out)?;
        out.push(range_root(nodes, start + k, length - k)?);
    } else {
        path(nodes, index - k, start + k, length - k, out)?;
        out.push(range_root(nodes, start, k)?);
    }
    Ok(())
}

/// The proof that the tree of `old_size` leaves is a prefix of the tree of
/// `new_size` leaves (RFC 9162 §2.1.4.1).
pub fn consistency_proof(
    nodes: &impl Nodes,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, LedgerError> {
    check_size(nodes, new_size)?;
    if old_size > new_size {
        return Err(LedgerError::SizeOutOfRange {
            requested: old_size,
            available: new_size,
        });
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(nodes, old_size, 0, new_size, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof(
    nodes: &impl Nodes,
    m: u64,
    start: u64,
    length: u64,
    whole_old_tree: bool,
    out: &mut Vec<Hash>,
) -> Result<(), LedgerError> {
    if m == length {
        if !whole_old_tree {
            out.push(range_root(nodes, start, length)?);
        }
        return Ok(());
    }
    let k = split_point(length);
    if m <= k {
        subproof(nodes, m, start, k, whole_old_tree, out)?;
        out.push(range_root(nodes, start + k, length - k)?);
    } else {
        subproof(nodes, m - k, start + k, length - k, false, out)?;
        out.push(range_root(nodes, start, k)?);
    }
    Ok(())
}

/// Every level of the tree in memory: `levels[k][i]` is the perfect
/// subtree of `2^k` leaves starting at leaf `i << k`.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    pub fn append(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut carry = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(carry);
            let nodes = &self.levels[level];
            if !nodes.len().is_multiple_of(2) {
                return;
            }
            carry = node_hash(&nodes[nodes.len() - 2], &nodes[nodes.len() - 1]);
            level += 1;
        }
    }
}

impl Nodes for MemoryTree {
    fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    fn perfect(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        usize::try_from(index)
            .ok()
            .and_then(|index| self.levels.get(level as usize)?.get(index).copied())
            .ok_or_else(|| {
                LedgerError::Nodes(format!("no subtree at level {level}, index {index}"))
            })
    }
}

/// Recomputes roots while leaves stream by, in O(log n) memory: the stack
/// of perfect subtrees that make up the current tree (a "compact range").
#[derive(Debug, Clone, Default)]
pub struct RootBuilder {
    size: u64,
    /// Roots of the perfect subtrees, largest (leftmost) first.
    stack: Vec<Hash>,
}

impl RootBuilder {
    pub fn new() -> RootBuilder {
        RootBuilder::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        // Each trailing one bit of the old size is a subtree that merges.
        let mut merges = self.size.trailing_ones();
        while merges > 0 {
            let Some(left) = self.stack.pop() else { break };
            carry = node_hash(&left, &carry);
            merges -= 1;
        }
        self.stack.push(carry);
        self.size += 1;
    }

    /// The root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.stack.iter().rev();
        let Some(last) = subtrees.next() else {
            return Hash::empty();
        };
        subtrees.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    /// The RFC 6962 reference inputs used by Certificate Transparency's
    /// test suites, and the roots of their first 1..=8 leaves.
    const LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn reference_roots() {
        let mut tree = MemoryTree::new();
        let mut builder = RootBuilder::new();
        assert_eq!(root(&tree, 0).expect("empty"), Hash::empty());
        for (leaf, expected) in LEAVES.iter().zip(ROOTS) {
            tree.append(leaf_hash(leaf));
            builder.push(leaf_hash(leaf));
            assert_eq!(root(&tree, tree.size()).expect("root").to_hex(), expected);
            assert_eq!(builder.root().to_hex(), expected);
        }
    }

    #[test]
    fn reference_inclusion_proof() {
        // Leaf 0 of the 8-leaf tree, from the same suite.
        let mut tree = MemoryTree::new();
        LEAVES.iter().for_each(|leaf| tree.append(leaf_hash(leaf)));
        let proof: Vec<String> = inclusion_proof(&tree, 0, 8)
            .expect("proof")
            .iter()
            .map(Hash::to_hex)
            .collect();
        assert_eq!(
            proof,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
    }

    #[test]
    fn sizes_are_checked() {
        let mut tree = MemoryTree::new();
        tree.append(leaf_hash(b"a"));
        assert!(matches!(
            root(&tree, 2),
            Err(LedgerError::SizeOutOfRange { .. })
        ));
        assert!(matches!(
            inclusion_proof(&tree, 1, 1),
            Err(LedgerError::IndexOutOfRange { .. })
        ));
        assert!(consistency_proof(&tree, 2, 1).is_err());
    }
}

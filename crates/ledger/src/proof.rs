//! Verifying proofs as a third party would (RFC 9162 §2.1.3.2, §2.1.4.2):
//! nothing here trusts the tree that produced them.

use crate::error::LedgerError;
use crate::hash::{Hash, node_hash};

/// Checks that `leaf` is leaf number `index` of the tree of `size` leaves
/// whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), LedgerError> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut hash = *leaf;
    for sibling in proof {
        if s_n == 0 {
            return Err(LedgerError::InvalidProof("inclusion proof is too long"));
        }
        if f_n & 1 == 1 || f_n == s_n {
            hash = node_hash(sibling, &hash);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(LedgerError::InvalidProof("inclusion proof is too short"));
    }
    if hash != *root {
        return Err(LedgerError::InvalidProof(
            "inclusion proof does not lead to the root",
        ));
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), LedgerError> {
    if old_size > new_size {
        return Err(LedgerError::InvalidProof(
            "the old tree is larger than the new one",
        ));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(LedgerError::InvalidProof(
                "trees of equal size need an empty proof",
            ));
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(LedgerError::InvalidProof(
                "trees of equal size have different roots",
            ))
        };
    }
    if old_size == 0 {
        // The empty tree is a prefix of every tree.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(LedgerError::InvalidProof(
                "the empty tree needs an empty proof",
            ))
        };
    }
    if proof.is_empty() {
        return Err(LedgerError::InvalidProof("consistency proof is empty"));
    }
    let mut path = proof.to_vec();
    if old_size.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (path[0], path[0]);
    for node in &path[1..] {
        if s_n == 0 {
            return Err(LedgerError::InvalidProof("consistency proof is too long"));
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(node, &f_r);
            s_r = node_hash(node, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, node);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(LedgerError::InvalidProof("consistency proof is too short"));
    }
    if f_r != *old_root || s_r != *new_root {
        return Err(LedgerError::InvalidProof(
            "consistency proof does not lead to both roots",
        ));
    }
    Ok(())
}

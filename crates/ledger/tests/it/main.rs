mod proofs;

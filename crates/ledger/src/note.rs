//! C2SP signed notes with Ed25519 keys: the text, a blank line, then one
//! line per signature, `— <key name> <base64(key hash || signature)>`.
//!
//! Keys use the same text encodings as Go's `golang.org/x/mod/sumdb/note`
//! package, so the usual tools read them:
//! verifier `<name>+<hex key hash>+<base64(0x01 || public key)>` and signer
//! `PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || seed)>`. The key hash
//! is the first four bytes of `SHA-256(name || "\n" || 0x01 || public key)`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::LedgerError;

/// The algorithm byte of Ed25519 keys in the note key encodings.
const ALGORITHM_ED25519: u8 = 0x01;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

fn key_hash(name: &str, public_key: &VerifyingKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALGORITHM_ED25519]);
    hasher.update(public_key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Splits `<name>+<hex hash>+<base64(0x01 || 32 bytes)>`, the common tail
/// of both key encodings. The base64 part may itself contain '+': it is
/// everything after the second separator.
fn split_key(text: &str) -> Result<(&str, &str, [u8; 32]), LedgerError> {
    let invalid = || LedgerError::InvalidKey("expected <name>+<hash>+<key>".into());
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    check_name(name)?;
    let bytes = STANDARD.decode(key).map_err(|_| invalid())?;
    match (
        bytes.first(),
        <[u8; 32]>::try_from(&bytes[1.min(bytes.len())..]),
    ) {
        (Some(&ALGORITHM_ED25519), Ok(raw)) => Ok((name, hash, raw)),
        _ => Err(LedgerError::InvalidKey(
            "only Ed25519 keys are supported".into(),
        )),
    }
}

fn check_key_hash(written: &str, actual: u32) -> Result<(), LedgerError> {
    if written.len() != 8 || u32::from_str_radix(written, 16).ok() != Some(actual) {
        return Err(LedgerError::InvalidKey(
            "the key hash does not match the key".into(),
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), LedgerError> {
    if name.is_empty() || name.chars().any(|ch| ch.is_whitespace() || ch == '+') {
        return Err(LedgerError::InvalidKey(format!(
            "key name {name:?} must be non-empty, without spaces or '+'"
        )));
    }
    Ok(())
}

/// Signs notes; holds the private key.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    key_hash: u32,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_hash", &self.key_hash)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A new random key, from the operating system's generator.
    pub fn generate(name: &str) -> Result<NoteSigner, LedgerError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| LedgerError::Random(error.to_string()))?;
        Ok(NoteSigner::from_seed(name, seed))
    }

    fn from_seed(name: &str, seed: [u8; 32]) -> NoteSigner {
        let key = SigningKey::from_bytes(&seed);
        let key_hash = key_hash(name, &key.verifying_key());
        NoteSigner {
            name: name.to_string(),
            key,
            key_hash,
        }
    }

    /// Reads `PRIVATE+KEY+<name>+<hash>+<base64>`.
    pub fn from_private_key(text: &str) -> Result<NoteSigner, LedgerError> {
        let rest = text.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(|| {
            LedgerError::InvalidKey("expected PRIVATE+KEY+<name>+<hash>+<key>".into())
        })?;
        let (name, hash, seed) = split_key(rest)?;
        let signer = NoteSigner::from_seed(name, seed);
        check_key_hash(hash, signer.key_hash)?;
        Ok(signer)
    }

    pub fn to_private_key(&self) -> String {
        let mut bytes = vec![ALGORITHM_ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_hash,
            STANDARD.encode(bytes)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_hash: self.key_hash,
            key: self.key.verifying_key(),
        }
    }

    /// The signed note: `text`, a blank line, this key's signature line.
    /// `text` must end with a newline and hold no other control characters.
    pub fn sign(&self, text: &str) -> Result<String, LedgerError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.key_hash.to_be_bytes().to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

fn check_text(text: &str) -> Result<(), LedgerError> {
    if !text.ends_with('\n') {
        return Err(LedgerError::InvalidNote(
            "the text must end with a newline".into(),
        ));
    }
    if text.chars().any(|ch| ch.is_control() && ch != '\n') {
        return Err(LedgerError::InvalidNote(
            "the text holds control characters".into(),
        ));
    }
    Ok(())
}

/// Checks notes against one public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_hash: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Reads `<name>+<hash>+<base64(0x01 || key)>`.
    pub fn parse(text: &str) -> Result<NoteVerifier, LedgerError> {
        let (name, hash, raw) = split_key(text.trim())?;
        let key = VerifyingKey::from_bytes(&raw)
            .map_err(|_| LedgerError::InvalidKey("not an Ed25519 public key".into()))?;
        let key_hash = self::key_hash(name, &key);
        check_key_hash(hash, key_hash)?;
        Ok(NoteVerifier {
            name: name.to_string(),
            key_hash,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the note's text if one of its signatures is this key's and
    /// verifies; other signatures are ignored.
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str, LedgerError> {
        let Some(split) = note.rfind("\n\n") else {
            return Err(LedgerError::InvalidNote(
                "no blank line before the signatures".into(),
            ));
        };
        let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
        check_text(text)?;
        if !signatures.ends_with('\n') {
            return Err(LedgerError::InvalidNote(
                "the signature block must end with a newline".into(),
            ));
        }
        for line in signatures.lines() {
            let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
                return Err(LedgerError::InvalidNote(format!(
                    "malformed signature line {line:?}"
                )));
            };
            let Some((name, blob)) = rest.split_once(' ') else {
                return Err(LedgerError::InvalidNote(format!(
                    "malformed signature line {line:?}"
                )));
            };
            if name != self.name {
                continue;
            }
            let Ok(blob) = STANDARD.decode(blob) else {
                continue;
            };
            if blob.len() != 4 + 64 || blob[..4] != self.key_hash.to_be_bytes() {
                continue;
            }
            let Ok(signature) = Signature::from_slice(&blob[4..]) else {
                continue;
            };
            if self.key.verify(text.as_bytes(), &signature).is_ok() {
                return Ok(text);
            }
        }
        Err(LedgerError::SignatureMismatch(self.name.clone()))
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = vec![ALGORITHM_ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_hash,
            STANDARD.encode(bytes)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_note_package_vectors() {
        // The example key of golang.org/x/mod/sumdb/note's documentation.
        let signer = NoteSigner::from_private_key(
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        )
        .expect("documented key");
        assert_eq!(
            signer.verifier().to_string(),
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        let signed = signer.sign(text).expect("valid text");
        assert_eq!(
            signed,
            format!(
                "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            )
        );
        let verifier = NoteVerifier::parse(&signer.verifier().to_string()).expect("round trip");
        assert_eq!(verifier.open(&signed).expect("verifies"), text);
    }

    #[test]
    fn tampering_is_detected() {
        let signer = NoteSigner::generate("evident.test").expect("random key");
        let verifier = signer.verifier();
        let signed = signer.sign("evident.test\n5\nAAAA\n").expect("valid");
        assert!(verifier.open(&signed).is_ok());
        assert!(verifier.open(&signed.replace("\n5\n", "\n6\n")).is_err());
        let other = NoteSigner::generate("evident.test")
            .expect("random key")
            .verifier();
        assert!(matches!(
            other.open(&signed),
            Err(LedgerError::SignatureMismatch(_))
        ));
        assert!(signer.sign("no newline").is_err());
        assert!(signer.sign("bell\u{7}\n").is_err());
        let restored = NoteSigner::from_private_key(&signer.to_private_key()).expect("round trip");
        assert_eq!(restored.verifier(), verifier);
    }
}

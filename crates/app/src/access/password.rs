//! Local passwords, kept as argon2id PHC strings with the `argon2` crate's
//! default parameters (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
//! Hashing is slow on purpose: callers run it off the async threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::store::KeyError;

/// Shorter passwords are refused.
pub const MIN_LENGTH: usize = 12;
/// Longer ones too: hashing a megabyte for every guess is a gift to a
/// flood.
pub const MAX_LENGTH: usize = 1024;

/// Refuses a password too short or too long.
pub fn check_length(password: &str) -> Result<(), KeyError> {
    if password.chars().count() < MIN_LENGTH || password.len() > MAX_LENGTH {
        return Err(KeyError::Invalid(format!(
            "a password has {MIN_LENGTH} to {MAX_LENGTH} characters"
        )));
    }
    Ok(())
}

/// The PHC string of `password`, after checking its length.
pub fn hash(password: &str) -> Result<String, KeyError> {
    check_length(password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|error| KeyError::Random(error.to_string()))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|error| KeyError::Random(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| KeyError::Random(error.to_string()))
}

/// Whether `password` is the one `phc` was made from.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_LENGTH {
        return false;
    }
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash no password matches, checked for unknown accounts so that they
/// take as long to refuse as known ones.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("not the password of anyone").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_short_passwords_are_refused() -> Result<(), KeyError> {
        let phc = hash("correct horse battery")?;
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        assert!(!verify("anything", "not a phc string"));
        assert!(hash("short").is_err());
        assert!(hash(&"x".repeat(MAX_LENGTH + 1)).is_err());
        assert!(!verify("not the password", decoy()));
        Ok(())
    }
}

//! API keys (write) and application keys (read), stored hashed.
//!
//! `<data>/keys.json` holds the SHA-256 of every key with its kind; the
//! keys themselves are shown once, when created. Roles and key management
//! extend this file later.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Sends events (`DD-API-KEY`).
    Api,
    /// Reads events (`DD-APPLICATION-KEY`).
    Application,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    kind: KeyKind,
    sha256: String,
    created: String,
}

#[derive(Debug, Serialize, Deserialize, Default)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

/// The keys a server accepts.
#[derive(Debug)]
pub struct KeyStore {
    keys: Vec<StoredKey>,
}

/// Keys created at this start, to show the operator once.
#[derive(Debug, Default)]
pub struct CreatedKeys {
    pub api: Option<String>,
    pub application: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid key file: {source}")]
    Malformed {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("generating a key: {0}")]
    Random(String),
}

fn digest(key: &str) -> String {
    Sha256::digest(key.trim().as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn generate() -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| KeyError::Random(error.to_string()))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

impl KeyStore {
    /// Loads `<data>/keys.json`. Keys given by the environment are added if
    /// new; on first start, a missing key of either kind is generated and
    /// returned so it can be printed.
    pub fn open(
        data_dir: &Path,
        env_api: Option<&str>,
        env_application: Option<&str>,
    ) -> Result<(KeyStore, CreatedKeys), KeyError> {
        let path = data_dir.join("keys.json");
        let mut file: KeyFile = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| KeyError::Malformed {
                path: path.clone(),
                source,
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => KeyFile::default(),
            Err(source) => {
                return Err(KeyError::Io {
                    context: format!("reading {}", path.display()),
                    source,
                });
            }
        };
        let now = jiff::Timestamp::now().to_string();
        let mut changed = false;
        let mut created = CreatedKeys::default();
        for (kind, from_env) in [
            (KeyKind::Api, env_api),
            (KeyKind::Application, env_application),
        ] {
            let from_env = from_env.map(str::trim).filter(|key| !key.is_empty());
            if let Some(key) = from_env {
                let hash = digest(key);
                if !file
                    .keys
                    .iter()
                    .any(|stored| stored.kind == kind && stored.sha256 == hash)
                {
                    file.keys.push(StoredKey {
                        kind,
                        sha256: hash,
                        created: now.clone(),
                    });
                    changed = true;
                }
            } else if !file.keys.iter().any(|stored| stored.kind == kind) {
                let key = generate()?;
                file.keys.push(StoredKey {
                    kind,
                    sha256: digest(&key),
                    created: now.clone(),
                });
                changed = true;
                match kind {
                    KeyKind::Api => created.api = Some(key),
                    KeyKind::Application => created.application = Some(key),
                }
            }
        }
        if changed {
            let bytes = serde_json::to_vec_pretty(&file).map_err(|source| KeyError::Malformed {
                path: path.clone(),
                source,
            })?;
            evident_durable::replace(&path, &bytes).map_err(|source| KeyError::Io {
                context: format!("writing {}", path.display()),
                source,
            })?;
        }
        Ok((KeyStore { keys: file.keys }, created))
    }

    /// No keys at all: for the command line working on a stopped data
    /// directory, where nobody signs in.
    pub fn none() -> KeyStore {
        KeyStore { keys: Vec::new() }
    }

    /// True if `presented` is a key of `kind`.
    pub fn accepts(&self, kind: KeyKind, presented: &str) -> bool {
        let hash = digest(presented);
        self.keys
            .iter()
            .any(|stored| stored.kind == kind && stored.sha256 == hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_keys_and_later_starts_keep_them() {
        let directory = tempfile::tempdir().expect("temp dir");
        let (keys, created) =
            KeyStore::open(directory.path(), None, Some("my-app-key")).expect("open");
        let api = created.api.expect("an api key is generated");
        assert!(
            created.application.is_none(),
            "the environment's key is used"
        );
        assert!(keys.accepts(KeyKind::Api, &api));
        assert!(keys.accepts(KeyKind::Application, "my-app-key"));
        assert!(!keys.accepts(KeyKind::Application, &api));
        let text = fs::read_to_string(directory.path().join("keys.json")).expect("file");
        assert!(
            !text.contains(&api) && !text.contains("my-app-key"),
            "only hashes are stored"
        );

        let (keys, created) = KeyStore::open(directory.path(), None, None).expect("reopen");
        assert!(created.api.is_none() && created.application.is_none());
        assert!(keys.accepts(KeyKind::Api, &api));
    }
}

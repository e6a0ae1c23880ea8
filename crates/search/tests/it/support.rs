//! Locating the shared specs next to the repository.

use std::path::PathBuf;

/// `shared/` beside the checkout, or `EVIDENT_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EVIDENT_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

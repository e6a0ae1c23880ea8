//! The data directory holds evident's keys (hashed), its signing key and
//! every event: nobody but the server's own user may read it. A directory
//! evident creates is `0700` and every file it writes `0600` (the process
//! mask is set to `077` before anything is written); an existing directory
//! that others can read or enter is reported at start, with the fix.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use rustix::fs::Mode;

/// Sets the file-creation mask and creates `path` (`0700`) if it is not
/// there; warns when an existing one is open to group or others.
pub fn prepare(path: &Path) -> io::Result<()> {
    rustix::process::umask(Mode::from_bits_truncate(0o077));
    if !path.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)?;
        return Ok(());
    }
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "the data directory can be read by other users of this machine: run chmod 700 on it"
        );
    }
    Ok(())
}

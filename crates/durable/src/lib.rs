//! Every file evident keeps beside its write-ahead log and segments (the
//! server's keys, views, import list and dead letters, the store's
//! checkpoints and last verify, the gateway's spool) goes through here,
//! with one set of guarantees for each kind:
//!
//! - **replaced whole** ([`replace`]): written to a temporary file beside
//!   it, synced, renamed over it, and the folder synced. A reader finds the
//!   old content or the new, never a mix; a temporary a crash leaves is
//!   overwritten by the next replace and never read.
//! - **append-only JSON lines** ([`JsonLines`]): one record a line, each
//!   append synced before it returns. A crash while appending can leave a
//!   torn last line (no newline); opening cuts it back to the last whole
//!   record, says so once, and the next append starts on a clean line.
//!   Read-only readers ([`whole_lines`]) skip a torn line without cutting.
//! - **append-only fixed-size records** ([`append_records`],
//!   [`read_records`]): each append synced before it returns; a torn last
//!   record (a length not a multiple of the record's) is ignored when
//!   read and cut before the next append.
//! - **written by object_store** on the local disk (segments, their
//!   indexes, the manifest) ([`sync_written`]): synced after the put, so a
//!   log file is dropped only once what replaces it is on the disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` atomically and durably.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)?;
    sync_folder(path)
}

/// Appends `bytes` (whole records of `record_len` bytes) to `path`,
/// synced; a torn last record a crash left is cut first, and a new
/// file's name is synced into its folder.
pub fn append_records(path: &Path, record_len: usize, bytes: &[u8]) -> io::Result<()> {
    if record_len == 0 || !bytes.len().is_multiple_of(record_len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("records for {} are {record_len} bytes each", path.display()),
        ));
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let length = file.metadata()?.len();
    let torn = length % record_len as u64;
    if torn != 0 {
        tracing::warn!(path = %path.display(), cut_bytes = torn, "cut a torn last record (a crash while it was written)");
        file.set_len(length - torn)?;
    }
    file.write_all(bytes)?;
    file.sync_data()?;
    if length == 0 {
        sync_folder(path)?;
    }
    Ok(())
}

/// The whole records of `path` (a torn last one left out); nothing when
/// the file does not exist. Does not write.
pub fn read_records(path: &Path, record_len: usize) -> io::Result<Vec<u8>> {
    let mut bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let whole = bytes.len() - bytes.len() % record_len.max(1);
    bytes.truncate(whole);
    Ok(bytes)
}

/// Makes a file another library wrote (object_store's local store writes
/// a temporary and renames it into place, without syncing) durable: its
/// bytes, then its name in its folder.
pub fn sync_written(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()?;
    sync_folder(path)
}

/// Syncs the folder holding `path`, so that a rename or a new file in it
/// survives a crash.
fn sync_folder(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

/// Syncs a folder: the names created, renamed or removed in it survive a
/// crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The whole lines of a JSON-lines file (each with its newline), without
/// a torn last line; nothing when the file does not exist. Does not write.
pub fn whole_lines(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    bytes.truncate(whole_length(&bytes));
    Ok(bytes)
}

fn whole_length(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |newline| newline + 1)
}

/// An append-only JSON-lines file, open for appending.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    file: File,
}

impl JsonLines {
    /// Opens (or creates) `path`, cutting a torn last line; answers the
    /// file and its whole lines.
    pub fn open(path: &Path) -> io::Result<(JsonLines, Vec<u8>)> {
        let mut bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        let whole = whole_length(&bytes);
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        if whole < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                cut_bytes = bytes.len() - whole,
                "cut a torn last line (a crash while it was written)"
            );
            file.set_len(whole as u64)?;
            file.sync_all()?;
            bytes.truncate(whole);
        } else if bytes.is_empty() {
            // A new file: its name must survive a crash too.
            sync_folder(path)?;
        }
        Ok((
            JsonLines {
                path: path.to_owned(),
                file,
            },
            bytes,
        ))
    }

    /// Appends `records` (serialized JSON, no newline in them) as lines,
    /// and syncs them before returning.
    pub fn append(&mut self, records: &[Vec<u8>]) -> io::Result<()> {
        let mut text = Vec::with_capacity(records.iter().map(|record| record.len() + 1).sum());
        for record in records {
            if record.contains(&b'\n') {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a record for {} spans lines", self.path.display()),
                ));
            }
            text.extend_from_slice(record);
            text.push(b'\n');
        }
        self.file.write_all(&text)?;
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_line_is_cut_and_the_next_append_starts_clean() -> io::Result<()> {
        let directory = tempfile::tempdir()?;
        let path = directory.path().join("log.jsonl");
        let (mut lines, text) = JsonLines::open(&path)?;
        assert!(text.is_empty());
        lines.append(&[b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()])?;
        drop(lines);
        let mut file = OpenOptions::new().append(true).open(&path)?;
        file.write_all(b"{\"size\":7,\"root\":\"abc")?;
        drop(file);
        assert_eq!(whole_lines(&path)?, b"{\"a\":1}\n{\"a\":2}\n");

        let (mut lines, text) = JsonLines::open(&path)?;
        assert_eq!(text, b"{\"a\":1}\n{\"a\":2}\n");
        lines.append(&[b"{\"a\":3}".to_vec()])?;
        assert_eq!(fs::read(&path)?, b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
        assert!(lines.append(&[b"{\n}".to_vec()]).is_err());
        Ok(())
    }

    #[test]
    fn replace_leaves_the_old_or_the_new_content() -> io::Result<()> {
        let directory = tempfile::tempdir()?;
        let path = directory.path().join("keys.json");
        replace(&path, b"old")?;
        // A crash between writing the temporary and renaming it.
        fs::write(directory.path().join("keys.json.tmp"), b"half")?;
        assert_eq!(fs::read(&path)?, b"old");
        replace(&path, b"new")?;
        assert_eq!(fs::read(&path)?, b"new");
        assert!(!directory.path().join("keys.json.tmp").exists());
        Ok(())
    }
}

//! The write-ahead log: numbered, checksummed records in rotating files.
//!
//! Files are `wal-<first sequence, 20 digits>.log` in one directory, each
//! starting with an 8-byte magic. Sequence numbers are consecutive from the
//! first record ever written, across files: a record's sequence number is
//! its position in the ledger.
//!
//! Guarantees:
//! - [`Wal::sync`] returning `Ok` means every record appended before it is
//!   on stable storage (fdatasync on the file, fsync on the directory when a
//!   file was created).
//! - A failed append (a full disk) is rolled back to the last whole record;
//!   the log stays usable and nothing already synced is touched.
//! - A failed sync *poisons* the log: after an fsync error the kernel may
//!   have dropped dirty pages, so no later write can be acknowledged until
//!   a restart replays what really reached the disk.
//! - Opening replays every record in order and cuts a torn tail (an
//!   incomplete or corrupt last record of the newest file); damage anywhere
//!   else is an error, never silently skipped.

mod group_commit;
mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use group_commit::{Acknowledge, CommitReply, GroupCommit, Maintenance};
pub use record::MAX_RECORD_BYTES;
use record::{Decoded, decode, encode};

const MAGIC: &[u8; 8] = b"EVIDWAL\x01";

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("write-ahead log {path} is damaged at byte {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("the write-ahead log refuses writes after a failed fsync ({0}); restart to recover")]
    Poisoned(String),
    #[error("a record of {0} bytes is larger than the {MAX_RECORD_BYTES}-byte maximum")]
    RecordTooLarge(usize),
}

impl WalError {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> WalError {
        let context = context.into();
        move |source| WalError::Io { context, source }
    }

    /// True when the disk is full: the caller answers "insufficient
    /// storage" rather than "internal error".
    pub fn is_disk_full(&self) -> bool {
        matches!(self, WalError::Io { source, .. } if source.raw_os_error() == Some(28))
    }
}

#[derive(Debug, Clone)]
pub struct WalOptions {
    /// A file that grows past this many bytes is closed and a new one
    /// started.
    pub file_bytes: u64,
    /// The first sequence number of a log created empty (the records
    /// before it are sealed elsewhere).
    pub start_sequence: u64,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            file_bytes: 64 << 20,
            start_sequence: 0,
        }
    }
}

#[derive(Debug)]
struct WalFile {
    path: PathBuf,
    first_sequence: u64,
    /// One past the last record's sequence.
    end_sequence: u64,
}

/// An open log, positioned after its last durable record.
#[derive(Debug)]
pub struct Wal {
    directory: PathBuf,
    options: WalOptions,
    /// Oldest first; the last one is the file being appended to.
    files: Vec<WalFile>,
    active: File,
    active_length: u64,
    next_sequence: u64,
    poisoned: Option<String>,
}

/// What [`Wal::open`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub records: u64,
    /// Bytes cut from the end of the newest file (a torn write).
    pub truncated_bytes: u64,
}

fn file_name(first_sequence: u64) -> String {
    format!("wal-{first_sequence:020}.log")
}

fn parse_file_name(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

fn sync_directory(directory: &Path) -> Result<(), WalError> {
    File::open(directory)
        .and_then(|handle| handle.sync_all())
        .map_err(WalError::io(format!(
            "syncing directory {}",
            directory.display()
        )))
}

impl Wal {
    /// Opens (or creates) the log in `directory`, calling `replay` with
    /// every durable record in sequence order.
    pub fn open(
        directory: &Path,
        options: WalOptions,
        mut replay: impl FnMut(u64, &[u8]),
    ) -> Result<(Wal, Recovery), WalError> {
        fs::create_dir_all(directory)
            .map_err(WalError::io(format!("creating {}", directory.display())))?;
        let (mut files, recovery) = replay_directory(directory, true, &mut replay)?;

        let (active, active_length, next_sequence) = match files.last() {
            Some(last) => {
                let active = OpenOptions::new()
                    .append(true)
                    .open(&last.path)
                    .map_err(WalError::io(format!("opening {}", last.path.display())))?;
                let length = active
                    .metadata()
                    .map_err(WalError::io(format!("reading {}", last.path.display())))?
                    .len();
                (active, length, last.end_sequence)
            }
            None => {
                let (active, file) = create_file(directory, options.start_sequence)?;
                files.push(file);
                (active, MAGIC.len() as u64, options.start_sequence)
            }
        };
        if recovery.truncated_bytes > 0 {
            tracing::warn!(
                truncated_bytes = recovery.truncated_bytes,
                next_sequence,
                "cut a torn write from the end of the write-ahead log"
            );
        }
        let wal = Wal {
            directory: directory.to_path_buf(),
            options,
            files,
            active,
            active_length,
            next_sequence,
            poisoned: None,
        };
        Ok((wal, recovery))
    }

    /// The sequence number the next record will get (= records ever
    /// written).
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// Writes the records without syncing; returns their sequence numbers.
    /// On failure nothing of the batch stays in the file.
    pub fn append<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> Result<Range<u64>, WalError> {
        if let Some(reason) = &self.poisoned {
            return Err(WalError::Poisoned(reason.clone()));
        }
        if let Some(large) = payloads
            .iter()
            .map(|p| p.as_ref().len())
            .find(|&len| len > MAX_RECORD_BYTES)
        {
            return Err(WalError::RecordTooLarge(large));
        }
        if self.active_length >= self.options.file_bytes {
            self.rotate()?;
        }
        let first = self.next_sequence;
        let mut buffer = Vec::with_capacity(payloads.iter().map(|p| p.as_ref().len() + 16).sum());
        for (offset, payload) in payloads.iter().enumerate() {
            encode(first + offset as u64, payload.as_ref(), &mut buffer);
        }
        if let Err(source) = self.active.write_all(&buffer) {
            self.roll_back()?;
            return Err(WalError::Io {
                context: "appending to the write-ahead log".into(),
                source,
            });
        }
        self.active_length += buffer.len() as u64;
        self.next_sequence += payloads.len() as u64;
        if let Some(active) = self.files.last_mut() {
            active.end_sequence = self.next_sequence;
        }
        Ok(first..self.next_sequence)
    }

    /// Cuts the active file back to its last whole record after a failed
    /// write; if even that fails, the log is poisoned.
    fn roll_back(&mut self) -> Result<(), WalError> {
        let restored = self
            .active
            .set_len(self.active_length)
            .and_then(|()| self.active.sync_data());
        if let Err(error) = restored {
            let reason = format!("could not cut a failed write: {error}");
            self.poisoned = Some(reason.clone());
            return Err(WalError::Poisoned(reason));
        }
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> Result<(), WalError> {
        if let Some(reason) = &self.poisoned {
            return Err(WalError::Poisoned(reason.clone()));
        }
        if let Err(error) = self.active.sync_data() {
            let reason = error.to_string();
            tracing::error!(%error, "fsync of the write-ahead log failed; refusing further writes");
            self.poisoned = Some(reason.clone());
            return Err(WalError::Poisoned(reason));
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), WalError> {
        self.sync()?;
        let (active, file) = create_file(&self.directory, self.next_sequence)?;
        self.active = active;
        self.active_length = MAGIC.len() as u64;
        self.files.push(file);
        Ok(())
    }

    /// Deletes the files whose records all have sequence numbers below
    /// `sequence` (they are sealed in segments), the active one included
    /// (after moving on to a new file).
    pub fn remove_before(&mut self, sequence: u64) -> Result<usize, WalError> {
        // An active file whose records are all sealed would stay on disk
        // until it filled up: start a fresh one so that it can go now.
        if let Some(active) = self.files.last()
            && active.first_sequence < active.end_sequence
            && active.end_sequence <= sequence
        {
            self.rotate()?;
        }
        let removable = self
            .files
            .iter()
            .take(self.files.len().saturating_sub(1))
            .take_while(|file| file.end_sequence <= sequence)
            .count();
        for file in self.files.drain(..removable) {
            fs::remove_file(&file.path)
                .map_err(WalError::io(format!("removing {}", file.path.display())))?;
        }
        if removable > 0 {
            sync_directory(&self.directory)?;
        }
        Ok(removable)
    }

    /// The files of the log, oldest first, with their first sequence
    /// numbers.
    pub fn files(&self) -> impl Iterator<Item = (&Path, u64)> {
        self.files
            .iter()
            .map(|file| (file.path.as_path(), file.first_sequence))
    }
}

fn create_file(directory: &Path, first_sequence: u64) -> Result<(File, WalFile), WalError> {
    let path = directory.join(file_name(first_sequence));
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(WalError::io(format!("creating {}", path.display())))?;
    file.write_all(MAGIC)
        .and_then(|()| file.sync_all())
        .map_err(WalError::io(format!("writing {}", path.display())))?;
    sync_directory(directory)?;
    Ok((
        file,
        WalFile {
            path,
            first_sequence,
            end_sequence: first_sequence,
        },
    ))
}

/// Reads every record of the log in `directory` without changing anything
/// (for offline verification): a torn tail is reported in
/// [`Recovery::truncated_bytes`], not cut.
pub fn read_only(
    directory: &Path,
    mut replay: impl FnMut(u64, &[u8]),
) -> Result<Recovery, WalError> {
    replay_directory(directory, false, &mut replay).map(|(_, recovery)| recovery)
}

/// Replays every file of the log in order, checking that each starts where
/// the previous one ended; `repair` cuts a torn tail of the newest file.
fn replay_directory(
    directory: &Path,
    repair: bool,
    replay: &mut impl FnMut(u64, &[u8]),
) -> Result<(Vec<WalFile>, Recovery), WalError> {
    let mut firsts: Vec<u64> = fs::read_dir(directory)
        .map_err(WalError::io(format!("listing {}", directory.display())))?
        .filter_map(|entry| parse_file_name(&entry.ok()?.file_name().to_string_lossy()))
        .collect();
    firsts.sort_unstable();
    let mut recovery = Recovery::default();
    let mut files: Vec<WalFile> = Vec::new();
    for (position, &first_sequence) in firsts.iter().enumerate() {
        let path = directory.join(file_name(first_sequence));
        if let Some(previous) = files.last()
            && previous.end_sequence != first_sequence
        {
            return Err(WalError::Corrupt {
                path,
                offset: 0,
                reason: format!(
                    "starts at record {first_sequence}, expected {} (a file is missing)",
                    previous.end_sequence
                ),
            });
        }
        let newest = position + 1 == firsts.len();
        let (end_sequence, cut) = replay_file(&path, first_sequence, newest, repair, replay)?;
        recovery.records += end_sequence - first_sequence;
        recovery.truncated_bytes += cut;
        files.push(WalFile {
            path,
            first_sequence,
            end_sequence,
        });
    }
    Ok((files, recovery))
}

/// Replays one file; returns one past its last sequence number and the
/// bytes cut (or, without `repair`, found) in a torn tail.
fn replay_file(
    path: &Path,
    first_sequence: u64,
    newest: bool,
    repair: bool,
    replay: &mut impl FnMut(u64, &[u8]),
) -> Result<(u64, u64), WalError> {
    let bytes = fs::read(path).map_err(WalError::io(format!("reading {}", path.display())))?;
    let corrupt = |offset: usize, reason: String| WalError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    if bytes.len() < MAGIC.len() {
        if !newest {
            return Err(corrupt(0, "file shorter than its header".into()));
        }
        if !repair {
            return Ok((first_sequence, bytes.len() as u64));
        }
        // Created but its header never reached the disk: rewrite it.
        let mut file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(WalError::io(format!("repairing {}", path.display())))?;
        file.write_all(MAGIC)
            .and_then(|()| file.sync_all())
            .map_err(WalError::io(format!("repairing {}", path.display())))?;
        return Ok((first_sequence, 0));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt(
            0,
            "not a write-ahead log file of this version".into(),
        ));
    }
    let mut offset = MAGIC.len();
    let mut expected = first_sequence;
    while offset < bytes.len() {
        match decode(&bytes, offset) {
            Decoded::Record {
                sequence,
                payload,
                next,
            } => {
                if sequence != expected {
                    return Err(corrupt(
                        offset,
                        format!("record {sequence} where {expected} was expected"),
                    ));
                }
                replay(sequence, &bytes[payload]);
                expected += 1;
                offset = next;
            }
            Decoded::Incomplete | Decoded::Corrupt(_)
                if newest && !whole_record_after(&bytes, offset, expected) =>
            {
                let cut = (bytes.len() - offset) as u64;
                if !repair {
                    return Ok((expected, cut));
                }
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(WalError::io(format!("opening {}", path.display())))?;
                file.set_len(offset as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(WalError::io(format!(
                        "cutting the torn tail of {}",
                        path.display()
                    )))?;
                return Ok((expected, cut));
            }
            Decoded::Incomplete => {
                return Err(corrupt(
                    offset,
                    "damaged record followed by intact ones".into(),
                ));
            }
            Decoded::Corrupt(reason) => return Err(corrupt(offset, reason.into())),
        }
    }
    Ok((expected, 0))
}

/// Whether an intact record with a later sequence number follows `offset`:
/// then the damage is not a torn tail, and cutting it would drop records
/// that were acknowledged.
fn whole_record_after(bytes: &[u8], offset: usize, expected: u64) -> bool {
    (offset + 1..bytes.len()).any(|candidate| {
        matches!(decode(bytes, candidate), Decoded::Record { sequence, .. } if sequence > expected)
    })
}

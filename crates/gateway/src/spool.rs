//! The gateway's disk spool: audit events waiting for evident, one file
//! per batch (`<sequence>.jsonl`, one event a line). A batch is written to
//! a temporary file, synced, renamed into place and the folder synced, so
//! a file either holds its whole batch or is not there; a leftover
//! temporary file (a crash mid-write) is removed at open: its events are
//! the narrow window `docs/gateway.md` states.
//! Batches are sent oldest first and removed once evident acknowledged
//! them; a batch evident refuses for good is moved to `rejected/`.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A spool folder and what it holds.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    bytes: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Batch files, oldest first, with their sizes.
    files: VecDeque<(PathBuf, u64)>,
    next_sequence: u64,
}

/// Events read from the oldest batch files.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Vec<u8>>,
    pub files: Vec<PathBuf>,
}

impl Spool {
    /// Opens (or creates, `0700`) the folder; what an earlier run left is
    /// sent first.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut files = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            match path.extension().and_then(|extension| extension.to_str()) {
                Some("tmp") => fs::remove_file(&path)?,
                Some("jsonl") => {
                    let sequence = path
                        .file_stem()
                        .and_then(|stem| stem.to_str())
                        .and_then(|stem| stem.parse::<u64>().ok());
                    if let Some(sequence) = sequence {
                        let size = fs::metadata(&path)?.len();
                        files.push((sequence, path, size));
                    }
                }
                _ => {}
            }
        }
        files.sort();
        let next_sequence = files.last().map_or(0, |(sequence, _, _)| sequence + 1);
        let bytes = files.iter().map(|(_, _, size)| size).sum();
        if !files.is_empty() {
            tracing::info!(dir = %dir.display(), batches = files.len(), bytes, "audit events left in the spool are sent first");
        }
        Ok(Spool {
            dir: dir.to_owned(),
            max_bytes,
            bytes: AtomicU64::new(bytes),
            state: Mutex::new(State {
                files: files
                    .into_iter()
                    .map(|(_, path, size)| (path, size))
                    .collect(),
                next_sequence,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The spool holds as much as it may: new batches wait.
    pub fn is_full(&self) -> bool {
        self.bytes.load(Ordering::Acquire) >= self.max_bytes
    }

    /// Bytes waiting in the spool.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    /// Writes one batch durably (blocking: file and folder synced).
    pub fn append(&self, events: &[Vec<u8>]) -> io::Result<()> {
        let sequence = {
            let mut state = self.lock();
            let sequence = state.next_sequence;
            state.next_sequence += 1;
            sequence
        };
        let path = self.dir.join(format!("{sequence:020}.jsonl"));
        let mut text = Vec::with_capacity(events.iter().map(|event| event.len() + 1).sum());
        for event in events {
            text.extend_from_slice(event);
            text.push(b'\n');
        }
        // Whole or not there: a temporary, synced, renamed, folder synced.
        evident_durable::replace(&path, &text)?;
        let size = text.len() as u64;
        let mut state = self.lock();
        // Files enter in sequence order even when two writes overlap.
        let at = state
            .files
            .iter()
            .position(|(other, _)| *other > path)
            .unwrap_or(state.files.len());
        state.files.insert(at, (path, size));
        self.bytes.fetch_add(size, Ordering::AcqRel);
        Ok(())
    }

    /// The oldest batches, up to `max_bytes` and `max_events` (at least one
    /// file), or `None` when the spool is empty.
    pub fn oldest(&self, max_bytes: usize, max_events: usize) -> io::Result<Option<Batch>> {
        let chosen: Vec<PathBuf> = {
            let state = self.lock();
            let mut total = 0u64;
            let mut chosen = Vec::new();
            for (path, size) in &state.files {
                if !chosen.is_empty() && total + size > max_bytes as u64 {
                    break;
                }
                total += size;
                chosen.push(path.clone());
            }
            chosen
        };
        if chosen.is_empty() {
            return Ok(None);
        }
        let mut events = Vec::new();
        let mut files = Vec::new();
        for path in chosen {
            let text = fs::read(&path)?;
            let lines: Vec<Vec<u8>> = text
                .split(|byte| *byte == b'\n')
                .filter(|line| !line.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            if !files.is_empty() && events.len() + lines.len() > max_events {
                break;
            }
            events.extend(lines);
            files.push(path);
        }
        Ok(Some(Batch { events, files }))
    }

    /// Forgets batches evident acknowledged.
    pub fn remove(&self, files: &[PathBuf]) -> io::Result<()> {
        for path in files {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        self.forget(files);
        Ok(())
    }

    /// Moves batches evident refused for good to `rejected/`, for an
    /// operator to look at; they are not sent again.
    pub fn set_aside(&self, files: &[PathBuf]) -> io::Result<()> {
        let rejected = self.dir.join("rejected");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&rejected)?;
        for path in files {
            if let Some(name) = path.file_name() {
                fs::rename(path, rejected.join(name))?;
            }
        }
        evident_durable::sync_dir(&rejected)?;
        evident_durable::sync_dir(&self.dir)?;
        self.forget(files);
        Ok(())
    }

    fn forget(&self, files: &[PathBuf]) {
        let mut state = self.lock();
        let mut freed = 0;
        state.files.retain(|(path, size)| {
            let gone = files.contains(path);
            if gone {
                freed += size;
            }
            !gone
        });
        self.bytes.fetch_sub(freed, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_survive_a_reopen_in_order() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let spool = Spool::open(dir.path(), 1 << 20)?;
        spool.append(&[b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()])?;
        spool.append(&[b"{\"a\":3}".to_vec()])?;
        fs::write(dir.path().join("00000000000000000009.tmp"), b"{\"torn")?;
        drop(spool);

        let spool = Spool::open(dir.path(), 1 << 20)?;
        assert!(!dir.path().join("00000000000000000009.tmp").exists());
        let batch = spool.oldest(1 << 20, 1000)?.expect("a batch");
        assert_eq!(batch.events.len(), 3);
        assert_eq!(batch.events[2], b"{\"a\":3}");
        spool.append(&[b"{\"a\":4}".to_vec()])?;
        spool.remove(&batch.files)?;
        let next = spool.oldest(1 << 20, 1000)?.expect("the later batch");
        assert_eq!(next.events, vec![b"{\"a\":4}".to_vec()]);
        spool.set_aside(&next.files)?;
        assert!(spool.oldest(1 << 20, 1000)?.is_none());
        assert_eq!(spool.bytes(), 0);
        assert_eq!(fs::read_dir(dir.path().join("rejected"))?.count(), 1);
        Ok(())
    }

    #[test]
    fn a_full_spool_says_so() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let spool = Spool::open(dir.path(), 10)?;
        assert!(!spool.is_full());
        spool.append(&[b"{\"event\":\"twelve\"}".to_vec()])?;
        assert!(spool.is_full());
        Ok(())
    }
}

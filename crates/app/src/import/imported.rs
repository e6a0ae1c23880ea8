//! Which files from a bucket were imported: an append-only list in the
//! data directory (`imported-files.jsonl`, one line a file, synced), read
//! back at start, so that a file is imported at most once across
//! re-lists and restarts.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::sync::Mutex;

use evident_durable::JsonLines;

use evident_model::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    origin: String,
    at: Timestamp,
    /// The import of `origin` began (its events may be partly stored);
    /// a later line without it says it finished.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    started: bool,
    #[serde(default)]
    records: usize,
    /// SHA-256 of the file's content, uncompressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

/// The files imported so far, by origin (`s3://bucket/key`).
#[derive(Debug)]
pub struct ImportedFiles {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Origin → the SHA-256 of its content, when known.
    origins: HashMap<String, Option<String>>,
    /// Imports that began and did not finish (cut short by a crash).
    started: HashSet<String>,
    file: JsonLines,
}

impl ImportedFiles {
    pub const FILE: &'static str = "imported-files.jsonl";

    /// Reads the list of `data_dir`. A torn last line, from a crash while
    /// it was written, is cut off: that file is checked again.
    pub fn open(data_dir: &Path) -> io::Result<ImportedFiles> {
        let (file, text) = JsonLines::open(&data_dir.join(Self::FILE))?;
        let mut origins = HashMap::new();
        let mut started = HashSet::new();
        for line in BufReader::new(text.as_slice()).lines() {
            if let Ok(line) = serde_json::from_str::<Line>(&line?) {
                if line.started {
                    started.insert(line.origin);
                } else {
                    started.remove(&line.origin);
                    origins.insert(line.origin, line.sha256);
                }
            }
        }
        Ok(ImportedFiles {
            state: Mutex::new(State {
                origins,
                started,
                file,
            }),
        })
    }

    pub fn contains(&self, origin: &str) -> bool {
        self.state
            .lock()
            .is_ok_and(|state| state.origins.contains_key(origin))
    }

    /// The SHA-256 recorded for `origin`: `None` when it was not imported,
    /// `Some(None)` when it was but its hash is unknown.
    pub fn sha256(&self, origin: &str) -> Option<Option<String>> {
        self.state
            .lock()
            .ok()
            .and_then(|state| state.origins.get(origin).cloned())
    }

    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |state| state.origins.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an import of `origin` began and did not finish: some of its
    /// events may be stored.
    pub fn was_started(&self, origin: &str) -> bool {
        self.state
            .lock()
            .is_ok_and(|state| state.started.contains(origin))
    }

    /// Records, durably, that the import of `origin` begins.
    pub fn start(&self, origin: &str) -> io::Result<()> {
        self.append(
            &Line {
                origin: origin.to_string(),
                at: Timestamp::now(),
                started: true,
                records: 0,
                sha256: None,
            },
            |state| {
                state.started.insert(origin.to_string());
            },
        )
    }

    /// Records `origin` as imported, durably.
    pub fn add(&self, origin: &str, records: usize, sha256: Option<&str>) -> io::Result<()> {
        let line = Line {
            origin: origin.to_string(),
            at: Timestamp::now(),
            started: false,
            records,
            sha256: sha256.map(str::to_string),
        };
        self.append(&line, |state| {
            state.started.remove(origin);
            state
                .origins
                .insert(origin.to_string(), sha256.map(str::to_string));
        })
    }

    fn append(&self, line: &Line, then: impl FnOnce(&mut State)) -> io::Result<()> {
        let record = serde_json::to_vec(line)?;
        let mut state = self
            .state
            .lock()
            .map_err(|_| io::Error::other("imported-files lock poisoned"))?;
        state.file.append(&[record])?;
        then(&mut state);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;

    use super::*;

    #[test]
    fn survives_a_reopen_and_a_torn_last_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ImportedFiles::open(dir.path()).expect("open");
        files.add("s3://b/one.json.gz", 3, Some("ab")).expect("add");
        files.add("s3://b/two.json.gz", 0, None).expect("add");
        drop(files);
        let mut raw = OpenOptions::new()
            .append(true)
            .open(dir.path().join(ImportedFiles::FILE))
            .expect("open");
        raw.write_all(b"{\"origin\":\"s3://b/thr").expect("write");
        let files = ImportedFiles::open(dir.path()).expect("reopen");
        assert!(files.contains("s3://b/one.json.gz") && files.contains("s3://b/two.json.gz"));
        assert_eq!(files.len(), 2);
        assert_eq!(files.sha256("s3://b/one.json.gz"), Some(Some("ab".into())));
        assert_eq!(files.sha256("s3://b/two.json.gz"), Some(None));
        assert_eq!(files.sha256("s3://b/four.json.gz"), None);
        // A start without a finish is an interrupted import.
        files.start("s3://b/four.json.gz").expect("start");
        assert!(files.was_started("s3://b/four.json.gz"));
        // The torn line is gone, so the next one is whole.
        files.add("s3://b/three.json.gz", 1, None).expect("add");
        drop(files);
        let files = ImportedFiles::open(dir.path()).expect("reopen");
        assert_eq!(files.len(), 3);
        assert!(files.was_started("s3://b/four.json.gz"));
        assert!(!files.contains("s3://b/four.json.gz"));
    }
}

//! The dead-letter area: records and files that could not be imported,
//! each with its reason, as JSON lines in `dead-letter/dead-letters.jsonl`
//! of the data directory (written and synced before the import answers),
//! so that nothing sent is silently dropped and each can be fixed and
//! imported again.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use evident_durable::JsonLines;
use evident_model::Timestamp;
use serde::Serialize;
use serde_json::Value;

/// One record (or whole file) set aside.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub at: Timestamp,
    pub source: String,
    pub file: String,
    pub reason: String,
    /// The record as read (a JSON value, or its text when it was not
    /// JSON); absent when the whole file was unreadable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<Value>,
}

/// The dead-letter file of one data directory.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    /// Opened (a torn last line cut) with the first letter.
    file: Mutex<Option<JsonLines>>,
    written: AtomicU64,
}

impl DeadLetters {
    pub const DIR: &'static str = "dead-letter";

    pub fn new(data_dir: &Path) -> DeadLetters {
        DeadLetters {
            path: data_dir.join(Self::DIR).join("dead-letters.jsonl"),
            file: Mutex::new(None),
            written: AtomicU64::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Dead letters written since start (the metric).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Appends `letters` and syncs them to disk.
    pub fn write(&self, letters: &[DeadLetter]) -> io::Result<()> {
        if letters.is_empty() {
            return Ok(());
        }
        let records = letters
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()?;
        let mut guard = self
            .file
            .lock()
            .map_err(|_| io::Error::other("dead-letter file lock poisoned"))?;
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            *guard = Some(JsonLines::open(&self.path)?.0);
        }
        let Some(file) = guard.as_mut() else {
            return Err(io::Error::other("dead-letter file not open"));
        };
        file.append(&records)?;
        self.written
            .fetch_add(letters.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let letters = DeadLetters::new(dir.path());
        let letter = DeadLetter {
            at: Timestamp::from_nanos(0),
            source: "cloudtrail".into(),
            file: "a.json".into(),
            reason: "line 2: not JSON".into(),
            record: None,
        };
        letters.write(std::slice::from_ref(&letter)).expect("write");
        letters.write(std::slice::from_ref(&letter)).expect("write");
        let text = std::fs::read_to_string(letters.path()).expect("read");
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with(r#"{"at":"1970-01-01T00:00:00Z","source":"cloudtrail","file":"a.json","reason":"line 2: not JSON"}"#));
        assert_eq!(letters.written(), 2);

        // A crash while a letter was appended: the next start cuts the torn
        // line, so the next letter is a line of its own.
        drop(letters);
        let mut torn =
            std::fs::read(dir.path().join("dead-letter/dead-letters.jsonl")).expect("read");
        torn.extend_from_slice(br#"{"at":"1970-01-01T00:00:00Z","sou"#);
        std::fs::write(dir.path().join("dead-letter/dead-letters.jsonl"), torn).expect("tear");
        let letters = DeadLetters::new(dir.path());
        letters.write(&[letter]).expect("write");
        let text = std::fs::read_to_string(letters.path()).expect("read");
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.lines()
                .all(|line| serde_json::from_str::<Value>(line).is_ok()),
            "{text}"
        );
    }
}

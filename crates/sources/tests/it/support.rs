//! Reading the shared test data.

use std::path::{Path, PathBuf};

use evident_model::{Event, Timestamp};
use evident_sources::Source;
use evident_sources::records::read_records;
use serde_json::{Map, Value};

/// `shared/` beside the checkout, or `EVIDENT_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EVIDENT_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Every data file under `dir` (not READMEs, not label sidecars).
pub fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|error| {
            panic!(
                "{}: {error} (is shared/ beside the checkout?)",
                dir.display()
            )
        });
        for entry in entries {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                pending.push(path);
            } else if !name.ends_with(".md") && !name.ends_with(".labels.jsonl") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The records of one file; any unreadable record fails the test.
pub fn records_of(path: &Path) -> Vec<Map<String, Value>> {
    let bytes = std::fs::read(path).expect("readable file");
    read_records(&bytes)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .into_iter()
        .map(|record| record.unwrap_or_else(|error| panic!("{}: {error}", path.display())))
        .collect()
}

/// Line `number` (1-based) of a JSON-lines file, normalized.
pub fn line(source: Source, path: &Path, number: usize) -> (Map<String, Value>, Event) {
    let record = records_of(path).swap_remove(number - 1);
    let event = source.normalize(record.clone()).expect("normalizes");
    (record, event)
}

/// The attribute at a dotted path, as text (strings as they are, other
/// values as JSON).
pub fn attribute(event: &Event, path: &str) -> Option<String> {
    let mut segments = path.split('.');
    let mut current = event.attributes.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    Some(match current {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

pub fn time(text: &str) -> Timestamp {
    text.parse().expect("time")
}

/// Expected fields of one record (line `line` of a JSON-lines file);
/// `None` = absent.
pub struct Checked {
    pub line: usize,
    pub fields: &'static [(&'static str, Option<&'static str>)],
    pub timestamp: Option<&'static str>,
    pub status: &'static str,
    pub message: &'static str,
}

/// Normalizes each checked line of `path` as `source` and compares.
pub fn check_all(source: Source, path: &Path, table: &[Checked]) {
    for checked in table {
        let (_, event) = line(source, path, checked.line);
        for (field, expected) in checked.fields {
            assert_eq!(
                attribute(&event, field).as_deref(),
                *expected,
                "{} line {}: {field}",
                path.display(),
                checked.line
            );
        }
        assert_eq!(
            event.timestamp,
            checked.timestamp.map(time),
            "line {}",
            checked.line
        );
        assert_eq!(
            event.status.as_deref(),
            Some(checked.status),
            "line {}",
            checked.line
        );
        assert_eq!(
            event.message.as_deref(),
            Some(checked.message),
            "line {}",
            checked.line
        );
    }
}

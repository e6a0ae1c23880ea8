//! From a file's bytes to the records in it: gzip or not; one JSON
//! document (an array, CloudTrail's `{"Records": [...]}`, Azure's
//! `{"records": [...]}`, or a single object) or JSON lines.
//!
//! A record that is not a JSON object, or a line that is not JSON, is an
//! error of its own and does not stop the others; a file that cannot be
//! decompressed, or grows past the size cap, is one error for the file.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use serde_json::{Map, Value};

/// Largest decompressed file read into memory. CloudTrail delivers files
/// of at most a few tens of megabytes; the cap stops gzip bombs.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// One record of a file, or why it is not one.
pub type RecordResult = Result<Map<String, Value>, RecordError>;

/// Why a record of a file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("line {line}: not JSON: {message}")]
    NotJson { line: usize, message: String },
    #[error("record {index}: not a JSON object")]
    NotAnObject { index: usize, raw: String },
}

impl RecordError {
    /// The record's own text, for the dead-letter area.
    pub fn raw(&self) -> Option<&str> {
        match self {
            RecordError::NotJson { .. } => None,
            RecordError::NotAnObject { raw, .. } => Some(raw),
        }
    }
}

/// Why a whole file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("not valid gzip: {0}")]
    Gzip(std::io::Error),
    #[error("larger than {MAX_FILE_BYTES} bytes once decompressed")]
    TooLarge,
}

/// The records of one file, each on its own.
pub fn read_records(bytes: &[u8]) -> Result<Vec<RecordResult>, FileError> {
    read_file(bytes).map(|file| file.records)
}

/// A file's records and the SHA-256 of its content (uncompressed), which
/// CloudTrail's digest files list.
#[derive(Debug)]
pub struct ReadFile {
    pub records: Vec<RecordResult>,
    /// Lowercase hex.
    pub sha256: String,
}

pub fn read_file(bytes: &[u8]) -> Result<ReadFile, FileError> {
    let text = decompressed(bytes)?;
    Ok(ReadFile {
        sha256: sha256_hex(&text),
        records: split(&text),
    })
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `bytes` gunzipped when they are gzip, as they are otherwise.
pub fn decompressed(bytes: &[u8]) -> Result<Vec<u8>, FileError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut output = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut output)
        .map_err(FileError::Gzip)?;
    if output.len() as u64 > MAX_FILE_BYTES {
        return Err(FileError::TooLarge);
    }
    Ok(output)
}

fn split(text: &[u8]) -> Vec<RecordResult> {
    let start = text.iter().position(|byte| !byte.is_ascii_whitespace());
    let Some(start) = start else {
        return Vec::new();
    };
    if let Ok(document) = serde_json::from_slice::<Value>(&text[start..]) {
        return match document {
            Value::Array(items) => objects(items),
            Value::Object(mut object) => {
                for key in ["Records", "records"] {
                    if matches!(object.get(key), Some(Value::Array(_)))
                        && let Some(Value::Array(items)) = object.remove(key)
                    {
                        return objects(items);
                    }
                }
                vec![Ok(object)]
            }
            other => vec![Err(not_an_object(0, &other))],
        };
    }
    json_lines(text)
}

fn objects(items: Vec<Value>) -> Vec<RecordResult> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Object(object) => Ok(object),
            other => Err(not_an_object(index, &other)),
        })
        .collect()
}

fn json_lines(text: &[u8]) -> Vec<RecordResult> {
    text.split(|byte| *byte == b'\n')
        .enumerate()
        .filter(|(_, line)| line.iter().any(|byte| !byte.is_ascii_whitespace()))
        .map(
            |(index, line)| match serde_json::from_slice::<Value>(line) {
                Ok(Value::Object(object)) => Ok(object),
                Ok(other) => Err(not_an_object(index, &other)),
                Err(error) => Err(RecordError::NotJson {
                    line: index + 1,
                    message: error.to_string(),
                }),
            },
        )
        .collect()
}

fn not_an_object(index: usize, value: &Value) -> RecordError {
    RecordError::NotAnObject {
        index,
        raw: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn count(bytes: &[u8]) -> (usize, usize) {
        let records = read_records(bytes).expect("readable");
        let good = records.iter().filter(|record| record.is_ok()).count();
        (good, records.len() - good)
    }

    #[test]
    fn reads_every_container() {
        assert_eq!(count(br#"{"Records": [{"a": 1}, {"b": 2}]}"#), (2, 0));
        assert_eq!(count(br#"{"records": [{"a": 1}]}"#), (1, 0));
        assert_eq!(count(br#"[{"a": 1}, 3]"#), (1, 1));
        assert_eq!(count(br#"{"a": 1}"#), (1, 0));
        assert_eq!(count(b"{\"a\": 1}\n\n{\"b\": 2}\n"), (2, 0));
        assert_eq!(count(b"  \n"), (0, 0));
    }

    #[test]
    fn a_bad_line_does_not_stop_the_others() {
        let records = read_records(b"{\"a\": 1}\n{not json\n[1]\n{\"b\": 2}").expect("readable");
        assert!(records[0].is_ok() && records[3].is_ok());
        assert!(matches!(
            records[1],
            Err(RecordError::NotJson { line: 2, .. })
        ));
        assert!(matches!(
            records[2],
            Err(RecordError::NotAnObject { index: 2, .. })
        ));
    }

    #[test]
    fn gzip_is_read_and_broken_gzip_is_an_error() {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder
            .write_all(br#"{"Records": [{"a": 1}]}"#)
            .expect("write");
        let gzipped = encoder.finish().expect("finish");
        assert_eq!(count(&gzipped), (1, 0));
        let truncated = &gzipped[..gzipped.len() / 2];
        assert!(matches!(read_records(truncated), Err(FileError::Gzip(_))));
    }
}

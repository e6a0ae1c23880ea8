//! From a file's bytes to the records in it: gzip or not; one JSON
//! document (an array, CloudTrail's `{"Records": [...]}`, Azure's
//! `{"records": [...]}`, or a single object) or JSON lines.
//!
//! A record that is not a JSON object, or a line that is not JSON, is an
//! error of its own and does not stop the others; a file that cannot be
//! decompressed, or grows past the size cap, is one error for the file.
//!
//! Records are streamed ([`ReadFile::for_each`]): each is parsed into a
//! JSON value only when its turn comes, so what a file costs in memory is
//! its text and one record, not a tree of every value in it (a parsed
//! value takes tens of times the bytes of its text). A record larger than
//! [`MAX_RECORD_BYTES`] is an error of its own, never parsed.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Largest decompressed file read into memory. CloudTrail delivers files
/// of at most a few tens of megabytes; the cap stops gzip bombs.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Largest record parsed: an event keeps at most 1 MB anyway.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// One record of a file, or why it is not one.
pub type RecordResult = Result<Map<String, Value>, RecordError>;

/// Why a record of a file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("line {line}: not JSON: {message}")]
    NotJson { line: usize, message: String },
    #[error("record {index}: not a JSON object")]
    NotAnObject { index: usize, raw: String },
    #[error("record {index}: larger than {MAX_RECORD_BYTES} bytes ({bytes})")]
    TooLarge { index: usize, bytes: usize },
}

impl RecordError {
    /// The record's own text, for the dead-letter area.
    pub fn raw(&self) -> Option<&str> {
        match self {
            RecordError::NotJson { .. } | RecordError::TooLarge { .. } => None,
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

/// The records of one file, each on its own, collected (tests, small
/// files; [`ReadFile::for_each`] streams them).
pub fn read_records(bytes: &[u8]) -> Result<Vec<RecordResult>, FileError> {
    read_file(bytes).map(|file| file.records())
}

/// A file's text and the SHA-256 of its content (uncompressed), which
/// CloudTrail's digest files list.
#[derive(Debug)]
pub struct ReadFile {
    text: Vec<u8>,
    /// Lowercase hex.
    pub sha256: String,
}

pub fn read_file(bytes: &[u8]) -> Result<ReadFile, FileError> {
    let text = decompressed(bytes)?;
    Ok(ReadFile {
        sha256: sha256_hex(&text),
        text,
    })
}

impl ReadFile {
    /// Hands each record (or why it is none) to `each`, in file order,
    /// parsing one at a time.
    pub fn for_each(&self, mut each: impl FnMut(RecordResult)) {
        match self.document() {
            Some(document) => {
                for_each_item(document, &mut |index, raw| each(record(index, raw)));
            }
            None => json_lines(&self.text, &mut each),
        }
    }

    /// Every record, collected (small files such as digests).
    pub fn records(&self) -> Vec<RecordResult> {
        let mut records = Vec::new();
        self.for_each(|record| records.push(record));
        records
    }

    /// How many records [`ReadFile::for_each`] hands over, counted without
    /// parsing any.
    pub fn count(&self) -> usize {
        match self.document() {
            Some(document) => {
                let mut count = 0;
                for_each_item(document, &mut |_, _| count += 1);
                count
            }
            None => self
                .text
                .split(|byte| *byte == b'\n')
                .filter(|line| line.iter().any(|byte| !byte.is_ascii_whitespace()))
                .count(),
        }
    }

    /// The text as one JSON value, when it is one (else it is JSON lines,
    /// or empty). Checked without building anything.
    fn document(&self) -> Option<&RawValue> {
        let mut values = serde_json::Deserializer::from_slice(&self.text).into_iter::<&RawValue>();
        match (values.next(), values.next()) {
            (Some(Ok(document)), None) => Some(document),
            _ => None,
        }
    }
}

/// The items of one document: the elements of an array, of an object's
/// `Records` / `records` array, or the document itself.
fn for_each_item(document: &RawValue, each: &mut dyn FnMut(usize, &RawValue)) {
    let text = document.get();
    let items = if text.starts_with('[') {
        Some(text)
    } else if text.starts_with('{') {
        records_array(text)
    } else {
        None
    };
    match items {
        Some(array) => {
            let mut deserializer = serde_json::Deserializer::from_str(array);
            // The document parsed whole before: this pass cannot fail.
            let _ = deserializer.deserialize_seq(Items { each });
        }
        None => each(0, document),
    }
}

/// The text of an object's `Records` (or `records`) array, if it has one.
fn records_array(object: &str) -> Option<&str> {
    let entries: Vec<(std::borrow::Cow<'_, str>, &RawValue)> = {
        let mut deserializer = serde_json::Deserializer::from_str(object);
        deserializer.deserialize_map(Entries).ok()?
    };
    ["Records", "records"].iter().find_map(|wanted| {
        entries
            .iter()
            .find(|(key, raw)| key == wanted && raw.get().starts_with('['))
            .map(|(_, raw)| raw.get())
    })
}

/// An object's entries, their values left as text.
struct Entries;

impl<'de> Visitor<'de> for Entries {
    type Value = Vec<(std::borrow::Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            entries.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(entries)
    }
}

/// An array's elements, handed over one at a time as text.
struct Items<'a> {
    each: &'a mut dyn FnMut(usize, &RawValue),
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            (self.each)(index, raw);
            index += 1;
        }
        Ok(())
    }
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
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(FileError::TooLarge);
        }
        return Ok(bytes.to_vec());
    }
    // Measured first, without keeping anything: a file past the cap costs
    // no memory, and one within it gets exactly its size (a growing buffer
    // would reach twice that).
    let size = std::io::copy(
        &mut MultiGzDecoder::new(bytes).take(MAX_FILE_BYTES + 1),
        &mut std::io::sink(),
    )
    .map_err(FileError::Gzip)?;
    if size > MAX_FILE_BYTES {
        return Err(FileError::TooLarge);
    }
    let mut output = Vec::with_capacity(size as usize);
    MultiGzDecoder::new(bytes)
        .take(size)
        .read_to_end(&mut output)
        .map_err(FileError::Gzip)?;
    Ok(output)
}

/// One record from its text: an object, or why not.
fn record(index: usize, raw: &RawValue) -> RecordResult {
    let text = raw.get();
    if text.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge {
            index,
            bytes: text.len(),
        });
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(not_an_object(index, &other)),
        Err(error) => Err(RecordError::NotJson {
            line: 1,
            message: error.to_string(),
        }),
    }
}

fn json_lines(text: &[u8], each: &mut dyn FnMut(RecordResult)) {
    for (index, line) in text
        .split(|byte| *byte == b'\n')
        .enumerate()
        .filter(|(_, line)| line.iter().any(|byte| !byte.is_ascii_whitespace()))
    {
        if line.len() > MAX_RECORD_BYTES {
            each(Err(RecordError::TooLarge {
                index,
                bytes: line.len(),
            }));
            continue;
        }
        each(match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(other) => Err(not_an_object(index, &other)),
            Err(error) => Err(RecordError::NotJson {
                line: index + 1,
                message: error.to_string(),
            }),
        });
    }
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

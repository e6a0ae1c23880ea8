//! One file's bytes to events ready to store and dead letters.

use evident_model::{StoredEvent, Timestamp};
use evident_sources::SourceChoice;
use evident_sources::geoip::GeoIp;
use evident_sources::records::{FileError, ReadFile, read_file};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DeadLetter;
use crate::intake::ids;
use crate::intake::normalize::{MAX_EVENT_BYTES, Normalized, normalize_tags, truncate};

/// What became of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    pub file: String,
    /// Records found (0 when the file itself could not be read).
    pub records: usize,
    pub imported: usize,
    pub dead_letters: usize,
    /// Why the whole file could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// SHA-256 of the file's content, uncompressed (absent when unreadable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `verified` or `altered` when a CloudTrail digest listed the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The file (an origin) was imported before: nothing was done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_imported: bool,
    /// The file decompresses past the size cap (`error` says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub too_large: bool,
}

/// A file, prepared (or a part of one: see [`prepare_chunks`]).
#[derive(Debug)]
pub struct Prepared {
    pub events: Vec<StoredEvent>,
    pub dead_letters: Vec<DeadLetter>,
    pub summary: FileSummary,
}

/// Records turned into events at a time: what a file costs in memory
/// beyond its text.
pub const CHUNK_RECORDS: usize = 10_000;

/// Reads the records of `bytes` (the file `file`) as `source` records
/// (or each as the source it is detected to be), all at once (small files,
/// tests). Events without a time of their own take `received`; with
/// `geoip`, the client address is located.
pub fn prepare(
    source: SourceChoice,
    file: &str,
    bytes: &[u8],
    received: Timestamp,
    geoip: Option<&GeoIp>,
) -> Prepared {
    let mut events = Vec::new();
    let mut dead_letters = Vec::new();
    let read = match read_file(bytes) {
        Ok(read) => read,
        Err(error) => {
            let too_large = matches!(error, FileError::TooLarge);
            return unreadable(source, file, received, &error.to_string(), too_large);
        }
    };
    let summary = prepare_chunks::<std::convert::Infallible>(
        source,
        file,
        &read,
        received,
        geoip,
        &mut |chunk| {
            events.extend(chunk.events);
            dead_letters.extend(chunk.dead_letters);
            Ok(())
        },
    );
    let summary = match summary {
        Ok(summary) => summary,
        Err(never) => match never {},
    };
    Prepared {
        events,
        dead_letters,
        summary,
    }
}

/// A file that could not be read, or is too large to import: one dead
/// letter, and why.
pub fn unreadable(
    source: SourceChoice,
    file: &str,
    received: Timestamp,
    reason: &str,
    too_large: bool,
) -> Prepared {
    let reason = reason.to_owned();
    Prepared {
        events: Vec::new(),
        dead_letters: vec![DeadLetter {
            at: received,
            source: source.name().to_string(),
            file: file.to_string(),
            reason: reason.clone(),
            record: None,
        }],
        summary: FileSummary {
            file: file.to_string(),
            error: Some(reason),
            dead_letters: 1,
            too_large,
            ..FileSummary::default()
        },
    }
}

/// Turns the records of a read file into events, [`CHUNK_RECORDS`] at a
/// time, each chunk handed to `sink` (which stores it) before the next is
/// made. Answers what became of the whole file, or the sink's first error
/// (no chunk after it is made).
pub fn prepare_chunks<E>(
    source: SourceChoice,
    file: &str,
    read: &ReadFile,
    received: Timestamp,
    geoip: Option<&GeoIp>,
    sink: &mut dyn FnMut(Prepared) -> Result<(), E>,
) -> Result<FileSummary, E> {
    let mut summary = FileSummary {
        file: file.to_string(),
        sha256: Some(read.sha256.clone()),
        ..FileSummary::default()
    };
    let letter = |reason: String, record: Option<Value>| DeadLetter {
        at: received,
        source: source.name().to_string(),
        file: file.to_string(),
        reason,
        record,
    };
    let mut chunk = Prepared {
        events: Vec::new(),
        dead_letters: Vec::new(),
        summary: summary.clone(),
    };
    let mut failed: Option<E> = None;
    let mut flush = |chunk: &mut Prepared, summary: &mut FileSummary, failed: &mut Option<E>| {
        summary.imported += chunk.events.len();
        summary.dead_letters += chunk.dead_letters.len();
        let full = std::mem::replace(
            chunk,
            Prepared {
                events: Vec::new(),
                dead_letters: Vec::new(),
                summary: summary.clone(),
            },
        );
        if let Err(error) = sink(full) {
            *failed = Some(error);
        }
    };
    read.for_each(|record| {
        if failed.is_some() {
            return;
        }
        summary.records += 1;
        match record {
            Ok(record) => match event_of(source, record, received, geoip) {
                Ok(event) => chunk.events.push(event),
                Err((reason, kept)) => chunk.dead_letters.push(letter(reason, kept)),
            },
            Err(error) => {
                let raw = error.raw().map(|raw| Value::String(raw.to_string()));
                chunk.dead_letters.push(letter(error.to_string(), raw));
            }
        }
        if chunk.events.len() + chunk.dead_letters.len() >= CHUNK_RECORDS {
            flush(&mut chunk, &mut summary, &mut failed);
        }
    });
    if failed.is_none() && (!chunk.events.is_empty() || !chunk.dead_letters.is_empty()) {
        flush(&mut chunk, &mut summary, &mut failed);
    }
    match failed {
        Some(error) => Err(error),
        None => Ok(summary),
    }
}

/// One record as a stored event, or why not (with the record to keep).
fn event_of(
    source: SourceChoice,
    record: serde_json::Map<String, Value>,
    received: Timestamp,
    geoip: Option<&GeoIp>,
) -> Result<StoredEvent, (String, Option<Value>)> {
    // The record's size as stored, and its text to set aside should it
    // not normalize (parsed again only then: cheaper than a copy).
    let text = serde_json::to_vec(&record).unwrap_or_default();
    let mut event = match source.normalize(record) {
        Ok(event) => event,
        Err(error) => return Err((error.to_string(), serde_json::from_slice(&text).ok())),
    };
    event.timestamp.get_or_insert(received);
    if let Some(geoip) = geoip {
        geoip.enrich(&mut event);
    }
    let mut tags = std::mem::take(&mut event.tags);
    tags.push(format!(
        "source:{}",
        event.source.as_deref().unwrap_or(source.name())
    ));
    event.tags = normalize_tags(tags);
    // The event holds the record once plus a few short fields: far
    // below the cap it needs no measuring (a whole serialization).
    let normalized = if text.len() < MAX_EVENT_BYTES / 4 {
        Normalized {
            event,
            truncated: false,
        }
    } else {
        truncate(event)
    };
    Ok(StoredEvent {
        id: ids::event_id(received),
        discovery_timestamp: received,
        tiebreaker: ids::tiebreaker(),
        random_draw: ids::random_draw(),
        ingest_size_in_bytes: text.len() as u64,
        truncated: normalized.truncated,
        event: normalized.event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_nanos(1_700_000_000_000_000_000);

    #[test]
    fn good_records_become_events_and_the_rest_dead_letters() {
        let file = concat!(
            r#"{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventTime": "2024-01-01T00:00:00Z"}"#,
            "\n{broken\n",
            r#"{"eventSource": "s3.amazonaws.com", "eventName": ""}"#,
            "\n",
            r#"{"eventSource": "s3.amazonaws.com", "eventName": "GetObject"}"#,
        );
        let prepared = prepare(
            SourceChoice::Only(evident_sources::Source::CloudTrail),
            "a.jsonl",
            file.as_bytes(),
            NOW,
            None,
        );
        assert_eq!(
            prepared.summary,
            FileSummary {
                file: "a.jsonl".into(),
                records: 4,
                imported: 2,
                dead_letters: 2,
                error: None,
                sha256: Some(evident_sources::records::sha256_hex(file.as_bytes())),
                digest: None,
                already_imported: false,
                too_large: false,
            }
        );
        assert_eq!(prepared.events[0].event.tags, vec!["source:cloudtrail"]);
        // No eventTime: the time of receipt.
        assert_eq!(prepared.events[1].event.timestamp, Some(NOW));
        assert!(prepared.dead_letters[0].reason.contains("line 2"));
        assert!(prepared.dead_letters[1].reason.contains("no eventName"));
        assert!(prepared.dead_letters[1].record.is_some());
    }

    #[test]
    fn an_unreadable_file_is_one_dead_letter() {
        let prepared = prepare(
            SourceChoice::Only(evident_sources::Source::CloudTrail),
            "a.json.gz",
            &[0x1f, 0x8b, 1, 2],
            NOW,
            None,
        );
        assert_eq!(prepared.summary.dead_letters, 1);
        assert!(prepared.summary.error.is_some());
        assert!(prepared.events.is_empty());
    }
}

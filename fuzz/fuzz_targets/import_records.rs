//! Any file's bytes (gzip or not, JSON or not) are read into records or a
//! file error; every record either normalizes under each source (and under
//! detection) or gives an error: nothing panics, and a normalized event
//! keeps the record it came from.

#![no_main]

use evident_sources::records::read_records;
use evident_sources::{Source, SourceChoice};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(records) = read_records(data) else {
        return;
    };
    for record in records.into_iter().flatten() {
        let choices = Source::ALL
            .into_iter()
            .map(SourceChoice::Only)
            .chain([SourceChoice::Detect]);
        for choice in choices {
            if let Ok(event) = choice.normalize(record.clone()) {
                assert!(event.message.is_some() && event.source.is_some());
                let _ = serde_json::to_vec(&event).expect("an event serializes");
            }
        }
    }
});

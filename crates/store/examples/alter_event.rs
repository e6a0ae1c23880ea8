//! What someone with write access to a data directory could do to hide a
//! trace: rewrite one event inside a sealed segment so that the segment
//! stays a well-formed file the server reads without complaint (the
//! segment re-encoded, the manifest's size for it updated). The tests use
//! it to show that such a change is caught: the event no longer hashes to
//! its leaf, so its inclusion proof fails and `evident verify` names it.
//!
//! ```text
//! cargo run -p evident-store --example alter_event -- DATA_DIR TEXT REPLACEMENT
//! ```
//!
//! The first sealed event whose stored bytes contain TEXT gets REPLACEMENT
//! in its place (the server must be stopped). Prints the event's position.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use evident_model::StoredEvent;
use evident_store::local_objects;
use evident_store::segment::{SegmentBuilder, SegmentStore, for_each_raw};

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data_dir, text, replacement] = args.as_slice() else {
        eprintln!("usage: alter_event DATA_DIR TEXT REPLACEMENT");
        return ExitCode::from(2);
    };
    match alter(Path::new(data_dir), text.as_bytes(), replacement.as_bytes()) {
        Ok(position) => {
            println!("{position}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("alter_event: {error}");
            ExitCode::FAILURE
        }
    }
}

fn alter(data_dir: &Path, text: &[u8], replacement: &[u8]) -> Result<u64, Failure> {
    let segments = SegmentStore::new(local_objects(data_dir)?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut manifest = runtime.block_on(segments.manifest())?;
    for index in 0..manifest.segments.len() {
        let path = manifest.segments[index].path.clone();
        let mut rows: Vec<(u64, Vec<u8>)> = Vec::new();
        for_each_raw(
            &path,
            runtime.block_on(segments.get(&path))?,
            |sequence, raw| {
                rows.push((sequence, raw.to_vec()));
            },
        )?;
        let Some(found) = rows.iter().position(|(_, raw)| find(raw, text).is_some()) else {
            continue;
        };
        let raw = &rows[found].1;
        let at = find(raw, text).unwrap_or_default();
        let altered = [&raw[..at], replacement, &raw[at + text.len()..]].concat();
        StoredEvent::from_bytes(&altered)?;
        rows[found].1 = altered;
        let mut builder = SegmentBuilder::new();
        for (sequence, raw) in &rows {
            builder.push(
                *sequence,
                &StoredEvent::from_bytes(raw)?,
                Arc::from(&raw[..]),
            );
        }
        let encoded = builder.finish()?;
        manifest.segments[index].bytes = encoded.bytes.len() as u64;
        runtime.block_on(segments.put(&path, encoded.bytes))?;
        runtime.block_on(segments.save_manifest(&manifest))?;
        return Ok(rows[found].0);
    }
    Err("no sealed event holds the text".into())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len().max(1))
        .position(|window| window == needle)
}

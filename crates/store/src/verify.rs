//! Offline verification of a data directory: `evident verify`.
//!
//! Nothing here trusts the running server or the tree it kept: every stored
//! payload is re-read and re-hashed, the tree is rebuilt from those hashes,
//! and every signed checkpoint must verify and match the rebuilt tree at
//! its size. Because each checkpoint commits to all events before it, a
//! match proves that none of them was altered, removed or reordered since
//! it was signed; checkpoints also prove each other's consistency, as each
//! is a prefix of the same rebuilt tree.

use std::collections::HashMap;
use std::path::Path;

use evident_ledger::tree::RootBuilder;
use evident_ledger::{Hash, NoteVerifier, leaf_hash};
use evident_model::StoredEvent;
use serde::{Deserialize, Serialize};

use crate::segment::{SegmentStore, for_each_raw};
use crate::store::{DataPaths, StoreError, local_objects, read_checkpoints};
use crate::tail::id_key;
use crate::term_index::Prehashed;
use crate::wal::{self, WalError};

/// How often [`verify_with_progress`] reports.
pub const PROGRESS_EVERY: u64 = 100_000;

/// Beyond this many, per-event problems are not listed one by one.
const MAX_PROBLEMS: usize = 100;

/// One thing found wrong, at a position (leaf index) when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub position: Option<u64>,
    /// True when the position is the event itself, not the start of a
    /// range that contains it.
    pub exact: bool,
    pub description: String,
}

#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub events: u64,
    /// Events dropped by retention: checked through their recorded leaves.
    pub expired: u64,
    pub checkpoints: usize,
    /// Size of the newest checkpoint that matched the stored events.
    pub verified_size: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The earliest bad position: an event pinpointed by its recorded leaf
    /// hash if there is one, else the start of the first range that failed.
    pub fn first_bad_position(&self) -> Option<u64> {
        let exact = self
            .problems
            .iter()
            .filter(|problem| problem.exact)
            .filter_map(|problem| problem.position)
            .min();
        exact.or_else(|| {
            self.problems
                .iter()
                .filter_map(|problem| problem.position)
                .min()
        })
    }

    fn problem(&mut self, position: Option<u64>, description: String) {
        self.problems.push(Problem {
            position,
            exact: true,
            description,
        });
    }

    fn range_problem(&mut self, start: u64, description: String) {
        self.problems.push(Problem {
            position: Some(start),
            exact: false,
            description,
        });
    }
}

/// What the last [`verify`] of a data directory found, kept in
/// `ledger/last-verify.json` so that the server can show it (the
/// Integrity page). Written by `evident verify`; the server never trusts
/// it for anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastVerify {
    /// When the check finished (RFC 3339).
    pub finished_at: String,
    pub seconds: f64,
    pub events: u64,
    pub checkpoints: usize,
    pub verified_size: u64,
    pub ok: bool,
    pub first_bad_position: Option<u64>,
    /// The first problems, described.
    pub problems: Vec<String>,
    /// Checked against a key given on the command line rather than the
    /// directory's own.
    pub published_key: bool,
}

/// Problems kept in [`LastVerify`].
const RECORDED_PROBLEMS: usize = 10;

impl LastVerify {
    pub fn new(report: &VerifyReport, elapsed: std::time::Duration, published_key: bool) -> Self {
        LastVerify {
            finished_at: evident_model::Timestamp::now().to_string(),
            seconds: elapsed.as_secs_f64(),
            events: report.events,
            checkpoints: report.checkpoints,
            verified_size: report.verified_size,
            ok: report.is_ok(),
            first_bad_position: report.first_bad_position(),
            problems: report
                .problems
                .iter()
                .take(RECORDED_PROBLEMS)
                .map(|problem| match problem.position {
                    Some(position) => format!("at position {position}: {}", problem.description),
                    None => problem.description.clone(),
                })
                .collect(),
            published_key,
        }
    }

    /// Replaces the record in `root` (whole, durably).
    pub fn save(&self, root: &Path) -> Result<(), StoreError> {
        let path = DataPaths::new(root).last_verify();
        let io = |source| StoreError::Io {
            context: format!("writing {}", path.display()),
            source,
        };
        let text = serde_json::to_vec_pretty(self).map_err(|error| io(error.into()))?;
        evident_durable::replace(&path, &text).map_err(io)
    }

    /// The record in `root`, if a verify left one (an unreadable record is
    /// reported as none: it says nothing about the events).
    pub fn load(root: &Path) -> Option<LastVerify> {
        let text = std::fs::read(DataPaths::new(root).last_verify()).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// Verifies the data directory `root`. `verifier` is the key to trust; by
/// default the public half of the directory's own signing key (pass the
/// published key to check against it instead).
pub fn verify(root: &Path, verifier: Option<NoteVerifier>) -> Result<VerifyReport, StoreError> {
    verify_with_progress(root, verifier, &mut |_| {})
}

/// [`verify`], calling `progress` with the number of events checked so far
/// every [`PROGRESS_EVERY`] events.
pub fn verify_with_progress(
    root: &Path,
    verifier: Option<NoteVerifier>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, StoreError> {
    let paths = DataPaths::new(root);
    let verifier = match verifier {
        Some(verifier) => verifier,
        None => {
            let text =
                std::fs::read_to_string(paths.signing_key()).map_err(|source| StoreError::Io {
                    context: format!("reading {}", paths.signing_key().display()),
                    source,
                })?;
            evident_ledger::NoteSigner::from_private_key(&text)?.verifier()
        }
    };
    let mut report = VerifyReport::default();
    let checkpoints = match read_checkpoints(&paths, &verifier) {
        Ok(checkpoints) => checkpoints,
        Err(error) => {
            report.problem(None, format!("checkpoints: {error}"));
            Vec::new()
        }
    };
    report.checkpoints = checkpoints.len();
    for pair in checkpoints.windows(2) {
        if pair[1].checkpoint.size < pair[0].checkpoint.size {
            report.problem(
                Some(pair[1].checkpoint.size),
                format!(
                    "checkpoint sizes go backwards: {} after {}",
                    pair[1].checkpoint.size, pair[0].checkpoint.size
                ),
            );
        }
    }

    // The leaf hashes recorded at ingest pinpoint which event changed; the
    // checkpoints hold even if this file was rewritten too.
    let recorded: Vec<Hash> = std::fs::read(paths.leaves())
        .map(|bytes| {
            bytes
                .chunks_exact(32)
                .filter_map(|chunk| <[u8; 32]>::try_from(chunk).ok().map(Hash))
                .collect()
        })
        .unwrap_or_default();
    // Where each recorded leaf sits, built at the first mismatch only.
    let mut recorded_at: Option<HashMap<Hash, u64>> = None;

    let mut builder = RootBuilder::new();
    let mut ids: Prehashed<u128, u64> = Prehashed::default();
    let mut pending = checkpoints.iter().peekable();
    let mut root_failed = false;
    let mut check_at_size = |builder: &RootBuilder, report: &mut VerifyReport| {
        while let Some(signed) = pending.next_if(|signed| signed.checkpoint.size <= builder.size())
        {
            if signed.checkpoint.size < builder.size() {
                continue;
            }
            if signed.checkpoint.root == builder.root() {
                if !root_failed {
                    report.verified_size = signed.checkpoint.size;
                }
            } else if !root_failed {
                // Every later checkpoint fails too; the first one says it all.
                root_failed = true;
                report.range_problem(
                    report.verified_size,
                    format!(
                        "the events at positions {}..{} do not match the checkpoint of size {}: one of them was altered, removed or reordered",
                        report.verified_size,
                        signed.checkpoint.size,
                        signed.checkpoint.size
                    ),
                );
            }
        }
    };
    check_at_size(&builder, &mut report);
    // `stored` is `None` for an expired event: its recorded leaf stands
    // in; otherwise it is the event's leaf hash and id key.
    let mut process = |report: &mut VerifyReport,
                       builder: &mut RootBuilder,
                       sequence: u64,
                       stored: Option<(Hash, Result<u128, String>)>| {
        let Some((leaf, id)) = stored else {
            match recorded.get(sequence as usize) {
                Some(leaf) => builder.push(*leaf),
                None => {
                    report.problem(
                        Some(sequence),
                        format!("event {sequence} expired but its leaf hash was not kept"),
                    );
                    builder.push(Hash::empty());
                }
            }
            check_at_size(builder, report);
            return;
        };
        match id {
            Ok(id) => {
                if let Some(first) = ids.insert(id, sequence) {
                    report.problem(
                        Some(sequence),
                        format!(
                            "the event at position {sequence} duplicates position {first} (the same id)"
                        ),
                    );
                }
            }
            Err(error) => report.problem(
                Some(sequence),
                format!("position {sequence} is not a stored event: {error}"),
            ),
        }
        if let Some(expected) = recorded.get(sequence as usize)
            && *expected != leaf
            && report.problems.len() < MAX_PROBLEMS
        {
            let recorded_at = recorded_at.get_or_insert_with(|| {
                let mut at = HashMap::with_capacity(recorded.len());
                for (index, hash) in recorded.iter().enumerate() {
                    at.entry(*hash).or_insert(index as u64);
                }
                at
            });
            let description = match recorded_at.get(&leaf) {
                Some(&original) => format!(
                    "the event at position {sequence} was stored at position {original}: events were removed, reordered or duplicated"
                ),
                None => format!(
                    "the event at position {sequence} was altered: it no longer hashes to the leaf recorded when it was stored"
                ),
            };
            report.problem(Some(sequence), description);
        }
        builder.push(leaf);
        check_at_size(builder, report);
        if builder.size().is_multiple_of(PROGRESS_EVERY) {
            progress(builder.size());
        }
    };

    // Sealed segments first, in manifest order, then the log's tail. A
    // reader thread decompresses and hashes the next segment while this
    // one is checked.
    let objects = local_objects(root)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| StoreError::Io {
            context: "starting a runtime".into(),
            source,
        })?;
    let segments = SegmentStore::new(objects);
    let manifest = match runtime.block_on(segments.manifest()) {
        Ok(manifest) => manifest,
        Err(error) => {
            report.problem(
                None,
                format!("the segment manifest cannot be read: {error}"),
            );
            Default::default()
        }
    };
    report.expired = manifest.expired_end;
    for sequence in 0..manifest.expired_end {
        process(&mut report, &mut builder, sequence, None);
    }
    let mut expected = manifest.expired_end;
    std::thread::scope(|scope| {
        // One reader per core takes every n-th segment; they are checked
        // here in order, while the readers work ahead.
        let readers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 4);
        let segments = &segments;
        let mut receivers = Vec::with_capacity(readers);
        for reader in 0..readers {
            let (sender, receiver) = std::sync::mpsc::sync_channel(1);
            receivers.push(receiver);
            let metas: Vec<_> = manifest
                .segments
                .iter()
                .skip(reader)
                .step_by(readers)
                .cloned()
                .collect();
            scope.spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                for meta in metas {
                    // The bytes are hashed and dropped here: only the leaf
                    // and the id key travel on.
                    let rows = runtime
                        .block_on(segments.get(&meta.path))
                        .map_err(|error| error.to_string())
                        .and_then(|bytes| {
                            let mut rows = Vec::new();
                            for_each_raw(&meta.path, bytes, |sequence, raw| {
                                rows.push((sequence, leaf_hash(raw), event_id_key(raw)));
                            })
                            .map_err(|error| error.to_string())?;
                            Ok(rows)
                        });
                    if sender.send((meta, rows)).is_err() {
                        break;
                    }
                }
            });
        }
        let in_order =
            (0..manifest.segments.len()).map_while(|index| receivers[index % readers].recv().ok());
        for (meta, rows) in in_order {
            if meta.first_sequence != expected {
                report.problem(
                    Some(expected),
                    format!(
                        "segment {} starts at position {}, expected {expected}: events are missing",
                        meta.path, meta.first_sequence
                    ),
                );
            }
            match rows {
                Ok(rows) => {
                    for (sequence, leaf, id) in rows {
                        if sequence != expected {
                            report.problem(Some(expected), format!("segment {} holds position {sequence} where {expected} was expected", meta.path));
                        }
                        process(&mut report, &mut builder, sequence, Some((leaf, id)));
                        expected = sequence + 1;
                    }
                }
                Err(error) => report.problem(
                    Some(meta.first_sequence),
                    format!("segment {} cannot be read: {error}", meta.path),
                ),
            }
        }
    });
    let replayed = wal::read_only(&paths.wal(), |sequence, payload| {
        if sequence < expected {
            // Also in a sealed segment: the log keeps it until its file goes.
            return;
        }
        if sequence > expected {
            report.problem(
                Some(expected),
                format!(
                    "events {expected}..{sequence} are missing between the segments and the log"
                ),
            );
        }
        process(
            &mut report,
            &mut builder,
            sequence,
            Some((leaf_hash(payload), event_id_key(payload))),
        );
        expected = sequence + 1;
    });
    match replayed {
        Ok(recovery) => {
            if recovery.truncated_bytes > 0 {
                report.problem(
                    Some(builder.size()),
                    format!("{} bytes of an unfinished write follow the last event (cut on the next start)", recovery.truncated_bytes),
                );
            }
        }
        Err(WalError::Corrupt {
            path,
            offset,
            reason,
        }) => {
            report.problem(
                Some(builder.size()),
                format!(
                    "the log is damaged after position {} ({} byte {offset}: {reason})",
                    builder.size(),
                    path.display()
                ),
            );
        }
        Err(error) => return Err(error.into()),
    }
    report.events = builder.size();
    if recorded.len() as u64 > report.events {
        report.problem(
            Some(report.events),
            format!("{} events were recorded but only {} are stored: events from position {} on are missing", recorded.len(), report.events, report.events),
        );
    }
    if let Some(last) = checkpoints.last()
        && last.checkpoint.size > report.events
    {
        report.problem(
            Some(report.events),
            format!(
                "the checkpoint of size {} covers events that are gone: only {} are stored",
                last.checkpoint.size, report.events
            ),
        );
    }
    Ok(report)
}

/// The [`id_key`] of a stored event. Stored bytes start with `{"id":"...` (the
/// field comes first and ids are plain UUID text), which is read without
/// parsing the whole event; anything else is parsed properly.
fn event_id_key(payload: &[u8]) -> Result<u128, String> {
    const PREFIX: &[u8] = b"{\"id\":\"";
    if let Some(rest) = payload.strip_prefix(PREFIX)
        && let Some(end) = rest.iter().position(|&byte| byte == b'"' || byte == b'\\')
        && rest[end] == b'"'
        && let Ok(id) = std::str::from_utf8(&rest[..end])
    {
        return Ok(id_key(id));
    }
    StoredEvent::from_bytes(payload)
        .map(|event| id_key(&event.id))
        .map_err(|error| error.to_string())
}

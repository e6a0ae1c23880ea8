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
use crate::store::{DataPaths, SignedCheckpoint, StoreError, local_objects, read_checkpoints};
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
    let verifier = load_verifier(&paths, verifier)?;
    let mut report = VerifyReport::default();
    let checkpoints = read_checkpoint_log(&paths, &verifier, &mut report);
    let mut verification =
        Verification::new(report, checkpoints, recorded_leaves(&paths), progress);
    verification.check_checkpoints();
    let expected = verify_segments(&mut verification, root)?;
    verify_log(&mut verification, &paths, expected)?;
    Ok(verification.finish())
}

/// The key that verifies the checkpoints: the one given, else the data
/// directory's own signing key's.
fn load_verifier(
    paths: &DataPaths,
    verifier: Option<NoteVerifier>,
) -> Result<NoteVerifier, StoreError> {
    if let Some(verifier) = verifier {
        return Ok(verifier);
    }
    let text = std::fs::read_to_string(paths.signing_key()).map_err(|source| StoreError::Io {
        context: format!("reading {}", paths.signing_key().display()),
        source,
    })?;
    Ok(evident_ledger::NoteSigner::from_private_key(&text)?.verifier())
}

/// The signed checkpoints, oldest first; sizes going backwards are a
/// problem.
fn read_checkpoint_log(
    paths: &DataPaths,
    verifier: &NoteVerifier,
    report: &mut VerifyReport,
) -> Vec<SignedCheckpoint> {
    let checkpoints = match read_checkpoints(paths, verifier) {
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
    checkpoints
}

/// The leaf hashes recorded at ingest: they pinpoint which event changed
/// (the checkpoints hold even if this file was rewritten too).
fn recorded_leaves(paths: &DataPaths) -> Vec<Hash> {
    std::fs::read(paths.leaves())
        .map(|bytes| {
            bytes
                .chunks_exact(32)
                .filter_map(|chunk| <[u8; 32]>::try_from(chunk).ok().map(Hash))
                .collect()
        })
        .unwrap_or_default()
}

/// The tree rebuilt from the stored events, position by position, with
/// each checkpoint compared as the tree reaches its size.
struct Verification<'p> {
    report: VerifyReport,
    checkpoints: Vec<SignedCheckpoint>,
    /// The first checkpoint not compared yet.
    next_checkpoint: usize,
    /// A root did not match: every later one fails too, the first says it all.
    root_failed: bool,
    recorded: Vec<Hash>,
    /// Where each recorded leaf sits, built at the first mismatch only.
    recorded_at: Option<HashMap<Hash, u64>>,
    builder: RootBuilder,
    ids: Prehashed<u128, u64>,
    progress: &'p mut dyn FnMut(u64),
}

impl<'p> Verification<'p> {
    fn new(
        report: VerifyReport,
        checkpoints: Vec<SignedCheckpoint>,
        recorded: Vec<Hash>,
        progress: &'p mut dyn FnMut(u64),
    ) -> Verification<'p> {
        Verification {
            report,
            checkpoints,
            next_checkpoint: 0,
            root_failed: false,
            recorded,
            recorded_at: None,
            builder: RootBuilder::new(),
            ids: Prehashed::default(),
            progress,
        }
    }

    /// Compares the checkpoints of the tree's current size.
    fn check_checkpoints(&mut self) {
        while let Some(signed) = self.checkpoints.get(self.next_checkpoint) {
            if signed.checkpoint.size > self.builder.size() {
                break;
            }
            self.next_checkpoint += 1;
            if signed.checkpoint.size < self.builder.size() || self.root_failed {
                continue;
            }
            if signed.checkpoint.root == self.builder.root() {
                self.report.verified_size = signed.checkpoint.size;
            } else {
                self.root_failed = true;
                let verified = self.report.verified_size;
                self.report.range_problem(
                    verified,
                    format!(
                        "the events at positions {verified}..{size} do not match the checkpoint of size {size}: one of them was altered, removed or reordered",
                        size = signed.checkpoint.size
                    ),
                );
            }
        }
    }

    /// An expired event: its recorded leaf stands in.
    fn expired(&mut self, sequence: u64) {
        match self.recorded.get(sequence as usize) {
            Some(leaf) => self.builder.push(*leaf),
            None => {
                self.report.problem(
                    Some(sequence),
                    format!("event {sequence} expired but its leaf hash was not kept"),
                );
                self.builder.push(Hash::empty());
            }
        }
        self.check_checkpoints();
    }

    /// A stored event: its leaf hash and id key.
    fn event(&mut self, sequence: u64, leaf: Hash, id: Result<u128, String>) {
        match id {
            Ok(id) => {
                if let Some(first) = self.ids.insert(id, sequence) {
                    self.report.problem(
                        Some(sequence),
                        format!(
                            "the event at position {sequence} duplicates position {first} (the same id)"
                        ),
                    );
                }
            }
            Err(error) => self.report.problem(
                Some(sequence),
                format!("position {sequence} is not a stored event: {error}"),
            ),
        }
        if let Some(expected) = self.recorded.get(sequence as usize)
            && *expected != leaf
            && self.report.problems.len() < MAX_PROBLEMS
        {
            let description = self.mismatch(sequence, leaf);
            self.report.problem(Some(sequence), description);
        }
        self.builder.push(leaf);
        self.check_checkpoints();
        if self.builder.size().is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(self.builder.size());
        }
    }

    /// What a leaf that differs from the recorded one means: moved, or
    /// altered.
    fn mismatch(&mut self, sequence: u64, leaf: Hash) -> String {
        let recorded = &self.recorded;
        let recorded_at = self.recorded_at.get_or_insert_with(|| {
            let mut at = HashMap::with_capacity(recorded.len());
            for (index, hash) in recorded.iter().enumerate() {
                at.entry(*hash).or_insert(index as u64);
            }
            at
        });
        match recorded_at.get(&leaf) {
            Some(&original) => format!(
                "the event at position {sequence} was stored at position {original}: events were removed, reordered or duplicated"
            ),
            None => format!(
                "the event at position {sequence} was altered: it no longer hashes to the leaf recorded when it was stored"
            ),
        }
    }

    /// The report, with what is missing at the end.
    fn finish(mut self) -> VerifyReport {
        let events = self.builder.size();
        self.report.events = events;
        if self.recorded.len() as u64 > events {
            self.report.problem(
                Some(events),
                format!(
                    "{} events were recorded but only {events} are stored: events from position {events} on are missing",
                    self.recorded.len()
                ),
            );
        }
        if let Some(last) = self.checkpoints.last()
            && last.checkpoint.size > events
        {
            self.report.problem(
                Some(events),
                format!(
                    "the checkpoint of size {} covers events that are gone: only {events} are stored",
                    last.checkpoint.size
                ),
            );
        }
        self.report
    }
}

/// The expired events, then the sealed segments in manifest order; the
/// position after the last one. A reader thread per core decompresses
/// and hashes segments ahead while they are checked here in order.
fn verify_segments(verification: &mut Verification<'_>, root: &Path) -> Result<u64, StoreError> {
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
            verification.report.problem(
                None,
                format!("the segment manifest cannot be read: {error}"),
            );
            Default::default()
        }
    };
    verification.report.expired = manifest.expired_end;
    for sequence in 0..manifest.expired_end {
        verification.expired(sequence);
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
                verification.report.problem(
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
                            verification.report.problem(Some(expected), format!("segment {} holds position {sequence} where {expected} was expected", meta.path));
                        }
                        verification.event(sequence, leaf, id);
                        expected = sequence + 1;
                    }
                }
                Err(error) => verification.report.problem(
                    Some(meta.first_sequence),
                    format!("segment {} cannot be read: {error}", meta.path),
                ),
            }
        }
    });
    Ok(expected)
}

/// The events of the log from position `expected` on (earlier ones are
/// also in a sealed segment: the log keeps them until their file goes).
fn verify_log(
    verification: &mut Verification<'_>,
    paths: &DataPaths,
    mut expected: u64,
) -> Result<(), StoreError> {
    let replayed = wal::read_only(&paths.wal(), |sequence, payload| {
        if sequence < expected {
            return;
        }
        if sequence > expected {
            verification.report.problem(
                Some(expected),
                format!(
                    "events {expected}..{sequence} are missing between the segments and the log"
                ),
            );
        }
        verification.event(sequence, leaf_hash(payload), event_id_key(payload));
        expected = sequence + 1;
    });
    let size = verification.builder.size();
    match replayed {
        Ok(recovery) => {
            if recovery.truncated_bytes > 0 {
                verification.report.problem(
                    Some(size),
                    format!(
                        "{} bytes of an unfinished write follow the last event (cut on the next start)",
                        recovery.truncated_bytes
                    ),
                );
            }
        }
        Err(WalError::Corrupt {
            path,
            offset,
            reason,
        }) => {
            verification.report.problem(
                Some(size),
                format!(
                    "the log is damaged after position {size} ({} byte {offset}: {reason})",
                    path.display()
                ),
            );
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
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

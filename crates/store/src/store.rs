//! The store: the write-ahead log, the events it holds and the ledger over
//! them, behind one handle.
//!
//! Data directory layout:
//!
//! ```text
//! <data>/wal/wal-<first seq>.log       the write-ahead log (the unsealed tail)
//! <data>/segments/seg-<first>-<end>.parquet   sealed events (through object_store)
//! <data>/segments/seg-<first>-<end>.terms     their term index
//! <data>/segments/manifest.json        the sealed segments, in order
//! <data>/ledger/signing-key            Ed25519 key, C2SP note encoding (mode 0600)
//! <data>/ledger/checkpoints.jsonl      every signed checkpoint, one JSON object a line
//! <data>/ledger/leaves.bin             the leaf hash of every event as stored, 32 bytes each
//! ```
//!
//! Events are appended through the group commit; once durable they enter,
//! in log order, the in-memory tail (searchable at once) and the Merkle
//! tree. A record's sequence number is its leaf index.
//!
//! Full runs of the tail are sealed into Parquet segments with a term
//! index beside each ([`Store::seal`]); they then leave memory, and the log
//! drops the files they cover. Reads of sealed events go to the segments
//! ([`Store::read_sealed`]), a [`Snapshot`] fixes what one query sees. On
//! start the tree comes back from the recorded leaves, the term indexes
//! from their files and the tail from the log: nothing re-reads the
//! segments (`evident verify` does).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;

use evident_ledger::tree::{self, MemoryTree, Nodes};
use evident_ledger::{Checkpoint, Hash, LedgerError, NoteSigner, NoteVerifier, leaf_hash};
use evident_model::StoredEvent;

use object_store::ObjectStore;

use crate::raw_codec::RawDecoder;
use crate::reader::{concat_rows, read_batches, reader_metadata};
use crate::segment::{
    Manifest, PROMOTED_ATTRIBUTES, SegmentBuilder, SegmentError, SegmentMeta, SegmentStore,
    for_each_raw,
};
use crate::tail::{Tail, TailEvent, TailFacts, id_key};
use crate::term_index::{Prehashed, TermIndex, event_term_hashes};
use crate::value_counts::{self, ValueCounts};
use crate::wal::{Acknowledge, CommitReply, GroupCommit, Wal, WalError, WalOptions};
use evident_durable::{self as durable, JsonLines};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("record {sequence} of the write-ahead log is not a stored event: {reason}")]
    BadRecord { sequence: u64, reason: String },
    #[error("no event with id {0:?}")]
    UnknownEvent(String),
    /// The event is newer than the latest signed checkpoint; the next one
    /// (signed every second while events arrive) covers it.
    #[error("event {0:?} is not covered by a signed checkpoint yet; retry in a second")]
    NotYetCheckpointed(String),
    #[error("{} is in use by another evident process", .0.display())]
    InUse(PathBuf),
    #[error(
        "the stored events no longer match the ledger ({0}); run `evident verify` to see what changed"
    )]
    Tampered(String),
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// The paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataPaths {
    pub root: PathBuf,
}

impl DataPaths {
    pub fn new(root: impl Into<PathBuf>) -> DataPaths {
        DataPaths { root: root.into() }
    }
    pub fn wal(&self) -> PathBuf {
        self.root.join("wal")
    }
    pub fn ledger(&self) -> PathBuf {
        self.root.join("ledger")
    }
    pub fn signing_key(&self) -> PathBuf {
        self.ledger().join("signing-key")
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.ledger().join("checkpoints.jsonl")
    }
    /// The leaf hash of every event, 32 bytes each, in log order: the
    /// record of what each event hashed to when it was stored.
    pub fn leaves(&self) -> PathBuf {
        self.ledger().join("leaves.bin")
    }
    /// What the last `evident verify` found.
    pub fn last_verify(&self) -> PathBuf {
        self.ledger().join("last-verify.json")
    }
}

/// What proves one event is in the log: the event, its leaf index, the
/// checkpoint the proof leads to, and the audit path (RFC 9162) from the
/// leaf to that checkpoint's root.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub event: Arc<StoredEvent>,
    pub leaf_index: u64,
    pub checkpoint: SignedCheckpoint,
    pub path: Vec<Hash>,
}

/// A signed checkpoint as kept in `checkpoints.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The C2SP signed note (body, blank line, signature line).
    pub note: String,
}

/// A sealed segment as the store serves it.
#[derive(Debug)]
pub struct Sealed {
    pub meta: SegmentMeta,
    pub index: TermIndex,
    /// Footer and page index, read on first use.
    metadata: OnceLock<ArrowReaderMetadata>,
    /// How `_raw` decodes, prepared on first use.
    raw: OnceLock<Arc<RawDecoder>>,
    /// The footer's value counts, parsed on first use.
    value_counts: OnceLock<Arc<ValueCounts>>,
}

/// A sealed event read back: its sequence number, exact bytes and parsed
/// form.
pub type SealedEvent = (u64, Arc<[u8]>, StoredEvent);

/// A sealed event's sequence number and exact bytes.
pub type SealedPayload = (u64, Arc<[u8]>);

/// What one query sees: the sealed segments and the unsealed tail at one
/// moment. Later appends and seals do not change it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub sealed: Vec<Arc<Sealed>>,
    pub tail: Tail,
}

#[derive(Debug, Default)]
struct Contents {
    /// Events before this position expired: only their leaves remain.
    expired_end: u64,
    /// Oldest first; they hold `[expired_end, tail.start())`.
    sealed: Vec<Arc<Sealed>>,
    tail: Tail,
    /// The tail's positions by [`id_key`].
    by_id: Prehashed<u128, u64>,
    tree: MemoryTree,
}

impl Contents {
    /// One past the last sequence number held.
    fn end(&self) -> u64 {
        self.tail.end()
    }

    fn payload(&self, sequence: u64) -> Option<&Arc<[u8]>> {
        self.tail.get(sequence).map(|event| &event.payload)
    }

    /// Adds a record replayed from the log.
    fn push(&mut self, sequence: u64, payload: &[u8]) -> Result<(), StoreError> {
        let event = StoredEvent::from_bytes(payload).map_err(|error| StoreError::BadRecord {
            sequence,
            reason: error.to_string(),
        })?;
        self.push_event(sequence, payload, TailFacts::of(&event));
        Ok(())
    }

    /// Adds an event to the tail and the tree; returns its leaf hash.
    fn push_event(&mut self, sequence: u64, payload: &[u8], facts: TailFacts) -> Hash {
        debug_assert_eq!(sequence, self.end(), "records arrive in log order");
        self.by_id.insert(facts.id_key, sequence);
        let leaf = leaf_hash(payload);
        self.tail
            .push(Arc::new(TailEvent::new(Arc::from(payload), facts)));
        self.tree.append(leaf);
        leaf
    }

    /// Hands the first `count` tail events over to a sealed segment.
    fn seal_front(&mut self, sealed: Arc<Sealed>, count: usize) {
        for event in self.tail.drop_front(count) {
            self.by_id.remove(&event.facts.id_key);
        }
        self.sealed.push(sealed);
    }
}

/// The open store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    paths: DataPaths,
    /// Held for the store's life: one process per data directory.
    _lock: fs::File,
    commit: GroupCommit<Vec<TailFacts>>,
    contents: Arc<RwLock<Contents>>,
    signer: NoteSigner,
    latest: Mutex<Option<SignedCheckpoint>>,
    /// `ledger/checkpoints.jsonl`, appended under `latest`'s lock.
    checkpoint_log: Mutex<JsonLines>,
    segments: SegmentStore,
    manifest: Mutex<Manifest>,
    runtime: IoRuntime,
    seal_rows: usize,
    pending_bytes: Arc<AtomicUsize>,
}

/// Options for [`Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub wal: WalOptions,
    /// How many bytes one fsync may cover.
    pub max_group_bytes: usize,
    /// Events per sealed segment.
    pub seal_rows: usize,
    /// Where segments go; by default the data directory on the local
    /// filesystem.
    pub objects: Option<Arc<dyn ObjectStore>>,
    /// Memory (reckoned) for parsed tail events kept between queries.
    pub parsed_tail_bytes: usize,
    /// How long the fsync after events committed with
    /// [`Store::commit_written`] may wait to cover more of them (and so how
    /// long they take to become searchable).
    pub written_sync_delay: Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            wal: WalOptions::default(),
            max_group_bytes: 32 << 20,
            seal_rows: 100_000,
            objects: None,
            parsed_tail_bytes: 64 << 20,
            written_sync_delay: Duration::from_millis(10),
        }
    }
}

/// A small runtime for object-store IO, usable from the store's plain
/// threads; dropping it never blocks (the store may be dropped inside an
/// async context).
#[derive(Debug)]
struct IoRuntime(Option<tokio::runtime::Runtime>);

impl IoRuntime {
    fn new() -> Result<IoRuntime, StoreError> {
        // Multi-threaded so that `block_on` from several query threads runs
        // each read on its caller's thread, in parallel; one worker is
        // enough for the rest.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("evident-io")
            .build()
            .map_err(io_error("starting the object-store runtime"))?;
        Ok(IoRuntime(Some(runtime)))
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match &self.0 {
            Some(runtime) => runtime.block_on(future),
            None => unreachable!("the runtime lives as long as the store"),
        }
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The local-filesystem object store rooted at the data directory.
pub fn local_objects(root: &Path) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let store = object_store::local::LocalFileSystem::new_with_prefix(root)
        .map_err(|error| StoreError::Segment(SegmentError::ObjectStore(error)))?;
    Ok(Arc::new(store))
}

impl Store {
    /// Opens or creates the store in `root`, replaying the log. Blocks (it
    /// reads the whole data directory): call it off async threads.
    pub fn open(root: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let paths = DataPaths::new(root);
        fs::create_dir_all(paths.ledger())
            .map_err(io_error(format!("creating {}", paths.ledger().display())))?;
        let lock_path = paths.root.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(format!("opening {}", lock_path.display())))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::InUse(paths.root.clone()));
        }
        let signer = load_or_create_signer(&paths)?;

        let segments = match options.objects.clone() {
            Some(objects) => SegmentStore::new(objects),
            None => SegmentStore::on_disk(local_objects(&paths.root)?, &paths.root),
        };
        let runtime = IoRuntime::new()?;
        let manifest = runtime.block_on(segments.manifest())?;

        // The tree's sealed prefix comes from the recorded leaves (what
        // a crash kept from being recorded is re-hashed from the segments),
        // the term indexes from their files, then the log's tail.
        let sealed_end = manifest.sealed_end();
        let recorded = complete_sealed_leaves(&paths, &runtime, &segments, &manifest)?;
        let mut contents = Contents {
            expired_end: manifest.expired_end,
            tail: Tail::new(
                sealed_end,
                options.seal_rows.max(1),
                options.parsed_tail_bytes,
            ),
            ..Contents::default()
        };
        let sealed_leaves = usize::try_from(sealed_end).unwrap_or(usize::MAX);
        for chunk in recorded.chunks_exact(32).take(sealed_leaves) {
            let mut leaf = [0u8; 32];
            leaf.copy_from_slice(chunk);
            contents.tree.append(Hash(leaf));
        }
        for meta in &manifest.segments {
            let index = runtime.block_on(load_term_index(&segments, meta))?;
            contents.sealed.push(Arc::new(Sealed {
                meta: meta.clone(),
                index,
                metadata: OnceLock::new(),
                raw: OnceLock::new(),
                value_counts: OnceLock::new(),
            }));
        }
        let mut bad_record: Option<StoreError> = None;
        let wal_options = WalOptions {
            start_sequence: sealed_end,
            ..options.wal.clone()
        };
        let (wal, recovery) = Wal::open(&paths.wal(), wal_options, |sequence, payload| {
            let expected = contents.end();
            if bad_record.is_some() || sequence < expected {
                return;
            }
            let pushed = if sequence == expected {
                contents.push(sequence, payload)
            } else {
                Err(StoreError::Tampered(format!(
                    "the log resumes at event {sequence}, after {expected}"
                )))
            };
            if let Err(error) = pushed {
                bad_record = Some(error);
            }
        })?;
        if let Some(error) = bad_record {
            return Err(error);
        }
        if wal.next_sequence() < contents.end() {
            return Err(StoreError::Tampered(format!(
                "the log ends at event {} but segments hold {}",
                wal.next_sequence(),
                contents.end()
            )));
        }
        tracing::info!(
            events = recovery.records,
            truncated_bytes = recovery.truncated_bytes,
            "store opened"
        );

        // A torn last line (a crash while a checkpoint was appended) is cut
        // here, so the next checkpoint starts on a clean line.
        let (checkpoint_log, checkpoint_text) = JsonLines::open(&paths.checkpoints()).map_err(
            io_error(format!("opening {}", paths.checkpoints().display())),
        )?;
        let latest =
            parse_checkpoints(&checkpoint_text, &paths.checkpoints(), &signer.verifier())?.pop();
        check_against_ledger(&paths, &recorded, &contents, latest.as_ref())?;
        let mut leaves_file = OpenOptions::new()
            .append(true)
            .open(paths.leaves())
            .map_err(io_error(format!("opening {}", paths.leaves().display())))?;
        let contents = Arc::new(RwLock::new(contents));
        let hook_contents = Arc::clone(&contents);
        let commit = GroupCommit::start(
            wal,
            options.max_group_bytes,
            options.written_sync_delay,
            Box::new(move |first, payloads, facts: Vec<TailFacts>| {
                let mut hashes = Vec::with_capacity(payloads.len() * 32);
                {
                    let mut contents = match hook_contents.write() {
                        Ok(contents) => contents,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    for (offset, (payload, facts)) in payloads.iter().zip(facts).enumerate() {
                        let leaf = contents.push_event(first + offset as u64, payload, facts);
                        hashes.extend_from_slice(leaf.as_bytes());
                    }
                }
                // Not synced: the log is the durable copy, and a missing tail
                // of this file is rebuilt from it on the next start.
                if let Err(error) = leaves_file.write_all(&hashes) {
                    tracing::error!(%error, "recording leaf hashes failed");
                }
            }),
        )?;
        Ok(Store {
            paths,
            _lock: lock,
            commit,
            contents,
            signer,
            latest: Mutex::new(latest),
            checkpoint_log: Mutex::new(checkpoint_log),
            segments,
            manifest: Mutex::new(manifest),
            runtime,
            seal_rows: options.seal_rows.max(1),
            pending_bytes: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Seals every full run of `seal_rows` unsealed events into a Parquet
    /// segment, records it in the manifest, then lets the log drop the
    /// files it no longer needs. Returns how many segments were written.
    /// Blocks for seconds (it writes segments): call it off async threads.
    pub fn seal(&self) -> Result<usize, StoreError> {
        let mut manifest = self
            .manifest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut written = 0;
        loop {
            let start = manifest.sealed_end();
            let started = std::time::Instant::now();
            let events: Vec<Arc<TailEvent>> = {
                let contents = self.read();
                if contents.tail.start() != start || contents.tail.len() < self.seal_rows {
                    break;
                }
                contents
                    .tail
                    .iter()
                    .take(self.seal_rows)
                    .map(|(_, event)| Arc::clone(event))
                    .collect()
            };
            // One parsed event at a time: the tail keeps bytes only.
            let mut builder = SegmentBuilder::new();
            for (event, sequence) in events.iter().zip(start..) {
                let stored = event.parse().map_err(|error| StoreError::BadRecord {
                    sequence,
                    reason: error.to_string(),
                })?;
                builder.push(sequence, &stored, Arc::clone(&event.payload));
            }
            let parsed_ms = started.elapsed().as_millis() as u64;
            let encoded = builder.finish()?;
            let encoded_ms = started.elapsed().as_millis() as u64;
            let index = TermIndex::from_rows(events.iter().map(|event| &event.facts.terms[..]));
            let end = start + events.len() as u64;
            let meta = SegmentMeta {
                path: SegmentStore::segment_path(start, end),
                first_sequence: start,
                end_sequence: end,
                min_time: encoded.min_time,
                max_time: encoded.max_time,
                max_discovery: encoded.max_discovery,
                bytes: encoded.bytes.len() as u64,
                min_id: encoded.min_id,
                max_id: encoded.max_id,
                multi_valued: encoded.multi_valued,
                whole_values: true,
                promoted: PROMOTED_ATTRIBUTES
                    .iter()
                    .map(|path| (*path).to_string())
                    .collect(),
                status_whole: encoded.status_whole,
                sources: Some(encoded.sources.into_iter().collect()),
            };
            // The index first: a segment the manifest names always has one.
            self.runtime
                .block_on(self.segments.put(&meta.terms_path(), index.to_bytes()))?;
            self.runtime
                .block_on(self.segments.put(&meta.path, encoded.bytes))?;
            manifest.segments.push(meta.clone());
            if let Err(error) = self
                .runtime
                .block_on(self.segments.save_manifest(&manifest))
            {
                manifest.segments.pop();
                return Err(error.into());
            }
            tracing::info!(
                path = meta.path,
                events = end - start,
                bytes = meta.bytes,
                index_bytes = index.memory_bytes(),
                parsed_ms,
                encoded_ms,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "sealed a segment"
            );
            let sealed = Arc::new(Sealed {
                meta,
                index,
                metadata: OnceLock::new(),
                raw: OnceLock::new(),
                value_counts: OnceLock::new(),
            });
            match self.contents.write() {
                Ok(mut contents) => contents.seal_front(sealed, events.len()),
                Err(poisoned) => poisoned.into_inner().seal_front(sealed, events.len()),
            }
            self.commit.maintain(Box::new(move |wal| {
                if let Err(error) = wal.remove_before(end) {
                    tracing::warn!(%error, "could not remove sealed write-ahead log files");
                }
            }));
            written += 1;
        }
        Ok(written)
    }

    /// Drops the oldest sealed segments whose events all arrived before
    /// `cutoff` (ns since the epoch): retention counts from ingest time.
    pub fn expire_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        self.expire_while(|segment| segment.max_discovery < cutoff)
    }

    /// Drops the oldest sealed segments for as long as `expired` holds for
    /// them (the oldest first: what remains is always a suffix of the log).
    /// The leaves of dropped events stay in the ledger, so the remaining
    /// events still verify against every checkpoint. Returns the number of
    /// events dropped. Blocks (it writes the manifest and deletes files).
    pub fn expire_while(&self, expired: impl Fn(&SegmentMeta) -> bool) -> Result<u64, StoreError> {
        let mut manifest = self
            .manifest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let expired = manifest
            .segments
            .iter()
            .take_while(|segment| expired(segment))
            .count();
        if expired == 0 {
            return Ok(0);
        }
        let mut next = manifest.clone();
        let dropped: Vec<SegmentMeta> = next.segments.drain(..expired).collect();
        next.expired_end = dropped
            .last()
            .map_or(next.expired_end, |segment| segment.end_sequence);
        self.runtime.block_on(self.segments.save_manifest(&next))?;
        let events = next.expired_end - manifest.expired_end;
        *manifest = next;
        let expired_end = manifest.expired_end;
        drop(manifest);
        {
            let mut contents = match self.contents.write() {
                Ok(contents) => contents,
                Err(poisoned) => poisoned.into_inner(),
            };
            contents.expired_end = expired_end;
            contents
                .sealed
                .retain(|sealed| sealed.meta.end_sequence > expired_end);
        }
        // Queries that started before hold their snapshot; a read of a
        // deleted segment fails them cleanly.
        for segment in &dropped {
            for path in [segment.path.clone(), segment.terms_path()] {
                if let Err(error) = self.runtime.block_on(self.segments.delete(&path)) {
                    tracing::warn!(%error, path, "could not delete an expired segment");
                }
            }
        }
        tracing::info!(events, segments = dropped.len(), "expired under retention");
        Ok(events)
    }

    /// The sealed segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentMeta> {
        self.manifest
            .lock()
            .map(|manifest| manifest.segments.clone())
            .unwrap_or_default()
    }

    pub fn paths(&self) -> &DataPaths {
        &self.paths
    }

    /// Queues events for the log; `reply` gets their sequence numbers once
    /// they are durable, searchable and in the tree.
    pub fn append(&self, events: Vec<StoredEvent>, reply: CommitReply) {
        let payloads: Vec<Vec<u8>> = events.iter().map(StoredEvent::to_bytes).collect();
        let facts = events.iter().map(TailFacts::of).collect();
        self.append_encoded(payloads, facts, reply);
    }

    /// Queues events for the log; the [`Commit`] resolves once they are
    /// durable, searchable and in the tree.
    pub fn commit(&self, events: Vec<StoredEvent>) -> Commit {
        Commit::submit(|reply| self.append(events, reply))
    }

    /// Like [`Store::commit`], resolved once the events are written to the
    /// log, before their fsync, which waits up to
    /// [`StoreOptions::written_sync_delay`] to cover more such events (or
    /// less, when anything durable is committed): for records whose
    /// submitter must not pay a fsync each (the records of reads). A crash
    /// of the machine before that fsync can lose them; a crash of the
    /// process cannot. They join the tail and the tree, and so become
    /// searchable, after the fsync.
    pub fn commit_written(&self, events: Vec<StoredEvent>) -> Commit {
        let payloads: Vec<Vec<u8>> = events.iter().map(StoredEvent::to_bytes).collect();
        let facts = events.iter().map(TailFacts::of).collect();
        Commit::submit(|reply| self.submit(payloads, facts, Acknowledge::Written, reply))
    }

    /// [`Store::commit`] of events already encoded (see
    /// [`Store::append_encoded`]).
    pub fn commit_encoded(&self, payloads: Vec<Vec<u8>>, facts: Vec<TailFacts>) -> Commit {
        Commit::submit(|reply| self.append_encoded(payloads, facts, reply))
    }

    /// Like [`Store::append`], with each event's bytes already serialized
    /// by [`StoredEvent::to_bytes`] and its [`TailFacts`] derived (both off
    /// the caller's async threads).
    pub fn append_encoded(
        &self,
        payloads: Vec<Vec<u8>>,
        facts: Vec<TailFacts>,
        reply: CommitReply,
    ) {
        self.submit(payloads, facts, Acknowledge::Durable, reply);
    }

    fn submit(
        &self,
        payloads: Vec<Vec<u8>>,
        facts: Vec<TailFacts>,
        acknowledge: Acknowledge,
        reply: CommitReply,
    ) {
        debug_assert_eq!(facts.len(), payloads.len());
        let bytes: usize = payloads.iter().map(Vec::len).sum();
        self.pending_bytes.fetch_add(bytes, Ordering::Relaxed);
        let pending = Arc::clone(&self.pending_bytes);
        self.commit.submit(
            payloads,
            facts,
            acknowledge,
            Box::new(move |result| {
                pending.fetch_sub(bytes, Ordering::Relaxed);
                reply(result);
            }),
        );
    }

    /// Bytes submitted and not yet durable: the intake sheds load above a
    /// limit instead of queueing without bound.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes.load(Ordering::Relaxed)
    }

    /// The sealed segments and the unsealed tail as of now: every durable
    /// batch (one answered once written may join a few milliseconds after
    /// its answer, see [`Store::commit_written`]).
    pub fn snapshot(&self) -> Snapshot {
        let contents = self.read();
        Snapshot {
            sealed: contents.sealed.clone(),
            tail: contents.tail.clone(),
        }
    }

    /// Columns of a sealed segment, for the rows at `rows` (offsets,
    /// ascending) or for every row. Blocks (it reads the segment).
    pub fn read_sealed(
        &self,
        sealed: &Sealed,
        columns: &[&str],
        rows: Option<&[u32]>,
    ) -> Result<RecordBatch, StoreError> {
        let metadata = self.sealed_metadata(sealed)?;
        let batches = self.read_sealed_batches(sealed, columns, rows)?;
        Ok(concat_rows(&metadata, columns, &batches).map_err(SegmentError::from)?)
    }

    /// Like [`Store::read_sealed`], in batches of up to a row group.
    /// Blocks (it reads the segment).
    pub fn read_sealed_batches(
        &self,
        sealed: &Sealed,
        columns: &[&str],
        rows: Option<&[u32]>,
    ) -> Result<Vec<RecordBatch>, StoreError> {
        let metadata = self.sealed_metadata(sealed)?;
        Ok(self.runtime.block_on(read_batches(
            self.segments.objects(),
            &sealed.meta,
            &metadata,
            columns,
            rows,
        ))?)
    }

    fn sealed_metadata(&self, sealed: &Sealed) -> Result<ArrowReaderMetadata, StoreError> {
        if let Some(metadata) = sealed.metadata.get() {
            return Ok(metadata.clone());
        }
        let loaded = self
            .runtime
            .block_on(reader_metadata(self.segments.objects(), &sealed.meta))?;
        Ok(sealed.metadata.get_or_init(|| loaded).clone())
    }

    /// How often each value occurs in the segment's keyword columns (those
    /// with few distinct values; see [`value_counts`]). Blocks the first
    /// time (it reads the segment's footer).
    pub fn value_counts(&self, sealed: &Sealed) -> Result<Arc<ValueCounts>, StoreError> {
        if let Some(counts) = sealed.value_counts.get() {
            return Ok(Arc::clone(counts));
        }
        let metadata = self.sealed_metadata(sealed)?;
        let footer = metadata.metadata().file_metadata().key_value_metadata();
        let counts = Arc::new(value_counts::from_footer(footer));
        Ok(Arc::clone(sealed.value_counts.get_or_init(|| counts)))
    }

    /// The sealed events at `rows` (offsets, ascending), with their
    /// sequence numbers and exact bytes. Blocks (it reads the segment).
    pub fn sealed_events(
        &self,
        sealed: &Sealed,
        rows: &[u32],
    ) -> Result<Vec<SealedEvent>, StoreError> {
        self.sealed_payloads(sealed, rows)?
            .into_iter()
            .map(|(sequence, raw)| {
                let event = StoredEvent::from_bytes(&raw).map_err(|error| {
                    StoreError::Segment(SegmentError::Damaged {
                        path: sealed.meta.path.clone(),
                        reason: format!("event {sequence} does not parse: {error}"),
                    })
                })?;
                Ok((sequence, raw, event))
            })
            .collect()
    }

    /// The exact bytes of the sealed events at `rows` (offsets, ascending),
    /// with their sequence numbers. Blocks (it reads the segment).
    pub fn sealed_payloads(
        &self,
        sealed: &Sealed,
        rows: &[u32],
    ) -> Result<Vec<SealedPayload>, StoreError> {
        let batch = self.read_sealed(sealed, &["_raw"], Some(rows))?;
        let damaged = |reason: String| {
            StoreError::Segment(SegmentError::Damaged {
                path: sealed.meta.path.clone(),
                reason,
            })
        };
        let raws = batch
            .column(0)
            .as_binary_opt::<i32>()
            .ok_or_else(|| damaged("_raw is not binary".into()))?;
        if raws.len() != rows.len() {
            return Err(damaged(format!(
                "{} rows read for {} asked",
                raws.len(),
                rows.len()
            )));
        }
        let decoder = match sealed.raw.get() {
            Some(decoder) => Arc::clone(decoder),
            None => {
                let metadata = self.sealed_metadata(sealed)?;
                let footer = metadata.metadata().file_metadata().key_value_metadata();
                let decoder = Arc::new(RawDecoder::new(footer).map_err(SegmentError::from)?);
                Arc::clone(sealed.raw.get_or_init(|| decoder))
            }
        };
        let mut session = decoder.session().map_err(SegmentError::from)?;
        rows.iter()
            .zip(raws.iter())
            .map(|(&row, raw)| {
                let sequence = sealed.meta.first_sequence + u64::from(row);
                let raw = session
                    .decode(raw.unwrap_or_default())
                    .map_err(|error| damaged(format!("event {sequence}: {error}")))?;
                Ok((sequence, Arc::from(raw)))
            })
            .collect()
    }

    /// How many acknowledged events wait in memory to be sealed.
    pub fn unsealed(&self) -> u64 {
        self.read().tail.len() as u64
    }

    /// How many events are held (sealed or not, expired ones excluded).
    pub fn len(&self) -> u64 {
        let contents = self.read();
        contents.end() - contents.expired_end
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Contents> {
        match self.contents.read() {
            Ok(contents) => contents,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The public key that verifies this store's checkpoints.
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    pub fn latest_checkpoint(&self) -> Option<SignedCheckpoint> {
        self.latest.lock().ok().and_then(|latest| latest.clone())
    }

    /// Signs and records a checkpoint if the tree grew since the last one
    /// (or none exists); returns the latest checkpoint either way. Blocks
    /// (it appends to the checkpoint log and syncs it).
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, StoreError> {
        let mut latest = match self.latest.lock() {
            Ok(latest) => latest,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (size, root) = {
            let contents = self.read();
            let size = contents.tree.size();
            (size, tree::root(&contents.tree, size)?)
        };
        if let Some(current) = latest.as_ref()
            && current.checkpoint.size == size
        {
            return Ok(current.clone());
        }
        let checkpoint = Checkpoint::new(self.signer.name(), size, root);
        let note = self.signer.sign(&checkpoint.to_string())?;
        append_checkpoint(&self.checkpoint_log, size, &note)?;
        let signed = SignedCheckpoint { checkpoint, note };
        *latest = Some(signed.clone());
        Ok(signed)
    }

    /// The event with `id`, its leaf index and its audit path in the tree
    /// of the latest checkpoint. Blocks (it may sign a checkpoint and read
    /// a segment): call it off async threads.
    pub fn inclusion_proof(&self, id: &str) -> Result<InclusionProof, StoreError> {
        loop {
            // Signs a newer checkpoint whenever the tree grew, so an event
            // appended after the last one is covered on the next round.
            let checkpoint = self.checkpoint()?;
            let (index, event) = self.find(id)?;
            if index < checkpoint.checkpoint.size {
                let proof =
                    tree::inclusion_proof(&self.read().tree, index, checkpoint.checkpoint.size)?;
                return Ok(InclusionProof {
                    event,
                    leaf_index: index,
                    checkpoint,
                    path: proof,
                });
            }
        }
    }

    /// The event with `id`, its leaf index and its audit path in the tree
    /// of the latest signed checkpoint, without signing one: reading a
    /// proof never writes. An event newer than that checkpoint is
    /// [`StoreError::NotYetCheckpointed`]. Blocks (it may read a segment).
    pub fn inclusion_proof_in_latest(&self, id: &str) -> Result<InclusionProof, StoreError> {
        let checkpoint = self
            .latest_checkpoint()
            .ok_or_else(|| StoreError::NotYetCheckpointed(id.to_string()))?;
        let (index, event) = self.find(id)?;
        if index >= checkpoint.checkpoint.size {
            return Err(StoreError::NotYetCheckpointed(id.to_string()));
        }
        let path = tree::inclusion_proof(&self.read().tree, index, checkpoint.checkpoint.size)?;
        Ok(InclusionProof {
            event,
            leaf_index: index,
            checkpoint,
            path,
        })
    }

    /// The event with `id` and its leaf index: the tail by its map, sealed
    /// segments (newest first) through their id column.
    fn find(&self, id: &str) -> Result<(u64, Arc<StoredEvent>), StoreError> {
        let snapshot = {
            let contents = self.read();
            if let Some(&index) = contents.by_id.get(&id_key(id))
                && let Some(event) = contents.tail.get(index)
            {
                let stored = event.parse().map_err(|error| StoreError::BadRecord {
                    sequence: index,
                    reason: error.to_string(),
                })?;
                if stored.id == id {
                    return Ok((index, Arc::new(stored)));
                }
            }
            contents.sealed.clone()
        };
        for sealed in snapshot.iter().rev().filter(|s| s.meta.may_hold_id(id)) {
            let batch = self.read_sealed(sealed, &["id"], None)?;
            let Some(ids) = batch.column(0).as_string_opt::<i32>() else {
                continue;
            };
            if let Some(row) = ids.iter().position(|candidate| candidate == Some(id)) {
                let row = row as u32;
                if let Some((index, _, event)) = self.sealed_events(sealed, &[row])?.pop() {
                    return Ok((index, Arc::new(event)));
                }
            }
        }
        Err(StoreError::UnknownEvent(id.to_string()))
    }

    /// The proof that the tree of `old_size` leaves is a prefix of the tree
    /// of `new_size` leaves, with both roots. From the tree in memory: no
    /// IO.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<(Hash, Hash, Vec<Hash>), StoreError> {
        let contents = self.read();
        let proof = tree::consistency_proof(&contents.tree, old_size, new_size)?;
        Ok((
            tree::root(&contents.tree, old_size)?,
            tree::root(&contents.tree, new_size)?,
            proof,
        ))
    }

    /// The stored bytes of the event at a leaf index. Blocks when the event
    /// is sealed (it reads the segment).
    pub fn event_bytes(&self, index: u64) -> Result<Arc<[u8]>, StoreError> {
        let sealed = {
            let contents = self.read();
            if let Some(payload) = contents.payload(index) {
                return Ok(Arc::clone(payload));
            }
            contents
                .sealed
                .iter()
                .find(|sealed| {
                    (sealed.meta.first_sequence..sealed.meta.end_sequence).contains(&index)
                })
                .cloned()
        };
        let sealed = sealed.ok_or_else(|| StoreError::UnknownEvent(format!("#{index}")))?;
        let row = (index - sealed.meta.first_sequence) as u32;
        self.sealed_events(&sealed, &[row])?
            .pop()
            .map(|(_, raw, _)| raw)
            .ok_or_else(|| StoreError::UnknownEvent(format!("#{index}")))
    }
}

/// Refuses to serve a log that changed behind the ledger's back: the rebuilt
/// tree must reproduce the latest signed root, and every leaf recorded when
/// its event was stored must match. Completes a leaf file cut short by a
/// crash.
fn check_against_ledger(
    paths: &DataPaths,
    recorded: &[u8],
    contents: &Contents,
    latest: Option<&SignedCheckpoint>,
) -> Result<(), StoreError> {
    let size = contents.tree.size();
    if let Some(signed) = latest {
        let signed_size = signed.checkpoint.size;
        if signed_size > size {
            return Err(StoreError::Tampered(format!(
                "the checkpoint of size {signed_size} covers more than the {size} stored events"
            )));
        }
        if tree::root(&contents.tree, signed_size)? != signed.checkpoint.root {
            return Err(StoreError::Tampered(format!(
                "the first {signed_size} events do not hash to the signed root"
            )));
        }
    }
    let recorded_count = (recorded.len() / 32) as u64;
    if recorded_count > size {
        return Err(StoreError::Tampered(format!(
            "{recorded_count} events were recorded but only {size} are stored"
        )));
    }
    if recorded_count < contents.tail.start() {
        return Err(StoreError::Tampered(format!(
            "{recorded_count} leaves are recorded but {} events are sealed",
            contents.tail.start()
        )));
    }
    // The sealed prefix of the tree was built from these very leaves; the
    // tail must hash to what was recorded when it was stored.
    for index in contents.tail.start()..recorded_count {
        let at = (index * 32) as usize;
        let stored = contents.payload(index).map(|payload| leaf_hash(payload));
        if stored.as_ref().map(|hash| &hash.as_bytes()[..]) != Some(&recorded[at..at + 32]) {
            return Err(StoreError::Tampered(format!(
                "the event at position {index} changed since it was stored"
            )));
        }
    }
    // Whole leaves only; then append what a crash kept from being written.
    let mut missing = Vec::new();
    for (_, event) in contents
        .tail
        .iter()
        .skip_while(|(index, _)| *index < recorded_count)
    {
        missing.extend_from_slice(leaf_hash(&event.payload).as_bytes());
    }
    complete_leaf_file(paths, recorded_count, &missing)
}

/// Keeps the first `whole` leaves of the leaf file (a crash may have cut
/// the last one short) and appends `missing` after them, durably.
fn complete_leaf_file(paths: &DataPaths, whole: u64, missing: &[u8]) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(paths.leaves())
        .map_err(io_error(format!("opening {}", paths.leaves().display())))?;
    file.set_len(whole * 32)
        .and_then(|()| {
            use std::io::{Seek, SeekFrom};
            file.seek(SeekFrom::End(0))?;
            file.write_all(missing)?;
            file.sync_data()
        })
        .map_err(io_error(format!("completing {}", paths.leaves().display())))
}

/// The recorded leaf hashes; none when the file does not exist yet.
fn read_leaf_file(paths: &DataPaths) -> Result<Vec<u8>, StoreError> {
    match fs::read(paths.leaves()) {
        Ok(bytes) => Ok(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(StoreError::Io {
            context: format!("reading {}", paths.leaves().display()),
            source,
        }),
    }
}

/// The recorded leaves, completed up to the end of the sealed segments:
/// leaves a crash kept from being written are re-hashed from the
/// segments' exact bytes. Expired events cannot be re-hashed, so their
/// leaves must all be there.
fn complete_sealed_leaves(
    paths: &DataPaths,
    runtime: &IoRuntime,
    segments: &SegmentStore,
    manifest: &Manifest,
) -> Result<Vec<u8>, StoreError> {
    let mut recorded = read_leaf_file(paths)?;
    recorded.truncate(recorded.len() / 32 * 32);
    let have = (recorded.len() / 32) as u64;
    if have < manifest.expired_end {
        return Err(StoreError::Tampered(format!(
            "{} events expired but only {have} leaves are recorded",
            manifest.expired_end
        )));
    }
    if have >= manifest.sealed_end() {
        return Ok(recorded);
    }
    tracing::warn!(
        recorded = have,
        sealed = manifest.sealed_end(),
        "re-hashing leaves missing from the ledger file"
    );
    for meta in manifest
        .segments
        .iter()
        .filter(|meta| meta.end_sequence > have)
    {
        let bytes = runtime.block_on(segments.get(&meta.path))?;
        for_each_raw(&meta.path, bytes, |sequence, raw| {
            if sequence == (recorded.len() / 32) as u64 {
                recorded.extend_from_slice(leaf_hash(raw).as_bytes());
            }
        })?;
    }
    if ((recorded.len() / 32) as u64) < manifest.sealed_end() {
        return Err(StoreError::Tampered(format!(
            "the segments hold events up to {} where {} were sealed",
            recorded.len() / 32,
            manifest.sealed_end()
        )));
    }
    complete_leaf_file(paths, have, &recorded[(have * 32) as usize..])?;
    Ok(recorded)
}

/// A sealed segment's term index from its file, rebuilt from the segment
/// (and written back) when the file is missing or damaged: it is derived
/// data.
async fn load_term_index(
    segments: &SegmentStore,
    meta: &SegmentMeta,
) -> Result<TermIndex, StoreError> {
    let path = meta.terms_path();
    let problem = match segments.get(&path).await {
        Ok(bytes) => match TermIndex::from_bytes(&bytes) {
            Ok(index) if u64::from(index.rows()) == meta.rows() => return Ok(index),
            Ok(_) => "it covers a different number of events".to_string(),
            Err(error) => error.to_string(),
        },
        Err(error) => error.to_string(),
    };
    tracing::warn!(path, problem, "rebuilding a term index");
    // One event parsed at a time; only its term hashes are kept.
    let bytes = segments.get(&meta.path).await?;
    let mut rows: Vec<Box<[u64]>> = Vec::with_capacity(usize::try_from(meta.rows()).unwrap_or(0));
    let mut hashes = Vec::new();
    let mut bad_record = None;
    for_each_raw(&meta.path, bytes, |sequence, raw| {
        match StoredEvent::from_bytes(raw) {
            Ok(stored) => event_term_hashes(&stored.event, &mut hashes),
            Err(error) => {
                bad_record.get_or_insert(StoreError::BadRecord {
                    sequence,
                    reason: error.to_string(),
                });
                hashes.clear();
            }
        }
        rows.push(hashes.as_slice().into());
    })?;
    if let Some(error) = bad_record {
        return Err(error);
    }
    let index = TermIndex::from_rows(rows.iter().map(|row| &row[..]));
    segments.put(&path, index.to_bytes()).await?;
    Ok(index)
}

fn load_or_create_signer(paths: &DataPaths) -> Result<NoteSigner, StoreError> {
    let path = paths.signing_key();
    match fs::read_to_string(&path) {
        Ok(text) => Ok(NoteSigner::from_private_key(&text)?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut id = [0u8; 8];
            getrandom::fill(&mut id).map_err(|error| LedgerError::Random(error.to_string()))?;
            let origin = format!(
                "evident.local/{}",
                id.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            let signer = NoteSigner::generate(&origin)?;
            write_private(&path, &format!("{}\n", signer.to_private_key()))?;
            tracing::info!(origin, "created the ledger signing key");
            Ok(signer)
        }
        Err(error) => Err(StoreError::Io {
            context: format!("reading {}", path.display()),
            source: error,
        }),
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(io_error(format!("creating {}", path.display())))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(format!("writing {}", path.display())))
}

/// One line of `checkpoints.jsonl`.
#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointLine {
    size: u64,
    note: String,
}

fn append_checkpoint(log: &Mutex<JsonLines>, size: u64, note: &str) -> Result<(), StoreError> {
    let line = serde_json::to_vec(&CheckpointLine {
        size,
        note: note.to_string(),
    })
    .map_err(|error| StoreError::Io {
        context: "encoding a checkpoint".into(),
        source: error.into(),
    })?;
    let mut log = log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let context = format!("writing {}", log.path().display());
    log.append(&[line]).map_err(io_error(context))
}

/// Every checkpoint recorded in the data directory, verified against
/// `verifier`, oldest first. A torn last line (a crash while appending) is
/// skipped (the server cuts it when it opens the store).
pub fn read_checkpoints(
    paths: &DataPaths,
    verifier: &NoteVerifier,
) -> Result<Vec<SignedCheckpoint>, StoreError> {
    let path = paths.checkpoints();
    let text = durable::whole_lines(&path).map_err(|error| StoreError::Io {
        context: format!("reading {}", path.display()),
        source: error,
    })?;
    parse_checkpoints(&text, &path, verifier)
}

/// The checkpoints of the whole lines of `checkpoints.jsonl`.
fn parse_checkpoints(
    text: &[u8],
    path: &Path,
    verifier: &NoteVerifier,
) -> Result<Vec<SignedCheckpoint>, StoreError> {
    let mut checkpoints = Vec::new();
    for line in text.split_inclusive(|byte| *byte == b'\n') {
        let CheckpointLine { note, .. } = serde_json::from_slice(line).map_err(|error| {
            LedgerError::InvalidNote(format!("malformed line in {}: {error}", path.display()))
        })?;
        let body = verifier.open(&note)?;
        let checkpoint = Checkpoint::parse(body)?;
        checkpoints.push(SignedCheckpoint { checkpoint, note });
    }
    Ok(checkpoints)
}

/// Appends and blocks until the events are durable, for callers without
/// an async runtime (imports into a stopped data directory, tests).
pub fn append_and_wait(store: &Store, events: &[StoredEvent]) -> Result<Range<u64>, WalError> {
    store.commit(events.to_vec()).wait()
}

/// Events submitted to the log, until they are durable: awaited by async
/// callers, [`Commit::wait`]ed by blocking ones. The one way evident
/// appends and waits, so every caller sees the same outcomes.
#[derive(Debug)]
pub struct Commit {
    outcome: tokio::sync::oneshot::Receiver<Result<Range<u64>, WalError>>,
}

impl Commit {
    fn submit(submit: impl FnOnce(CommitReply)) -> Commit {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        submit(Box::new(move |result| {
            let _ = sender.send(result);
        }));
        Commit { outcome: receiver }
    }

    fn outcome(
        received: Result<Result<Range<u64>, WalError>, tokio::sync::oneshot::error::RecvError>,
    ) -> Result<Range<u64>, WalError> {
        received.unwrap_or_else(|_| Err(WalError::Poisoned("the write-ahead log stopped".into())))
    }

    /// Blocks until durable (or failed). Not on an async thread.
    pub fn wait(self) -> Result<Range<u64>, WalError> {
        Commit::outcome(self.outcome.blocking_recv())
    }
}

impl std::future::Future for Commit {
    type Output = Result<Range<u64>, WalError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let received = std::task::ready!(std::pin::Pin::new(&mut self.outcome).poll(context));
        std::task::Poll::Ready(Commit::outcome(received))
    }
}

//! The store end to end on real files: durable appends, replay, signed
//! checkpoints, proofs that verify independently, and offline
//! verification that catches an attacker who rewrites the log.

use std::fs;
use std::path::Path;

use evident_ledger::leaf_hash;
use evident_ledger::proof::{verify_consistency, verify_inclusion};
use evident_model::{StoredEvent, Timestamp};
use evident_store::verify::verify;
use evident_store::{Store, StoreOptions, append_and_wait};

fn stored(index: u64) -> StoredEvent {
    StoredEvent {
        id: format!("id-{index:04}"),
        discovery_timestamp: Timestamp::from_millis(1_714_564_800_000 + index as i64)
            .expect("in range"),
        tiebreaker: index as i64,
        random_draw: 0.5,
        ingest_size_in_bytes: 10,
        truncated: false,
        event: serde_json::from_str(&format!(
            r#"{{"message":"event number {index}","attributes":{{"n":{index}}}}}"#
        ))
        .expect("event"),
    }
}

fn fill(root: &Path, count: u64, checkpoint_every: u64) {
    let store = Store::open(root, StoreOptions::default()).expect("open");
    for start in (0..count).step_by(checkpoint_every as usize) {
        let batch: Vec<StoredEvent> = (start..(start + checkpoint_every).min(count))
            .map(stored)
            .collect();
        append_and_wait(&store, &batch).expect("durable");
        store.checkpoint().expect("checkpoint");
    }
}

/// Rewrites the log as an attacker with write access would: valid frames,
/// valid checksums, consecutive numbers, changed content.
fn rewrite_log(root: &Path, change: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let directory = root.join("wal");
    let mut files: Vec<_> = fs::read_dir(&directory)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "the test log fits one file");
    let bytes = fs::read(&files[0]).expect("read");
    let mut payloads = Vec::new();
    let mut offset = 8;
    while offset < bytes.len() {
        let length =
            u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes")) as usize;
        payloads.push(bytes[offset + 16..offset + 16 + length].to_vec());
        offset += 16 + length;
    }
    change(&mut payloads);
    let mut out = bytes[..8].to_vec();
    for (sequence, payload) in payloads.iter().enumerate() {
        let sequence = sequence as u64;
        let checksum = crc32c::crc32c_append(crc32c::crc32c(&sequence.to_le_bytes()), payload);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&checksum.to_le_bytes());
        out.extend_from_slice(&sequence.to_le_bytes());
        out.extend_from_slice(payload);
    }
    fs::write(&files[0], out).expect("write");
}

#[test]
fn appends_survive_a_restart_with_proofs_that_verify() {
    let directory = tempfile::tempdir().expect("temp dir");
    fill(directory.path(), 100, 30);
    let store = Store::open(directory.path(), StoreOptions::default()).expect("reopen");
    assert_eq!(store.len(), 100);
    let latest = store.latest_checkpoint().expect("a checkpoint was kept");
    assert_eq!(latest.checkpoint.size, 100);
    let verifier = store.verifier();
    assert_eq!(
        verifier.open(&latest.note).expect("signature"),
        latest.checkpoint.to_string()
    );

    let proven = store.inclusion_proof("id-0042").expect("known id");
    let (event, index, checkpoint, proof) = (
        proven.event,
        proven.leaf_index,
        proven.checkpoint,
        proven.path,
    );
    assert_eq!((event.id.as_str(), index), ("id-0042", 42));
    verify_inclusion(
        &leaf_hash(&store.event_bytes(index).expect("stored bytes")),
        index,
        checkpoint.checkpoint.size,
        &proof,
        &checkpoint.checkpoint.root,
    )
    .expect("the proof verifies");
    assert!(store.inclusion_proof("nope").is_err());

    let (old_root, new_root, proof) = store.consistency_proof(30, 100).expect("sizes known");
    verify_consistency(30, 100, &old_root, &new_root, &proof).expect("consistent");
    assert!(store.consistency_proof(10, 1000).is_err());

    // Events appended after the checkpoint get a fresh one for their proof.
    append_and_wait(&store, &[stored(100)]).expect("durable");
    let proven = store.inclusion_proof("id-0100").expect("known id");
    let (index, checkpoint) = (proven.leaf_index, proven.checkpoint);
    assert_eq!((index, checkpoint.checkpoint.size), (100, 101));
    drop(store);

    let report = verify(directory.path(), None).expect("verify runs");
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.events, report.verified_size), (101, 101));
    assert!(report.checkpoints >= 5);
}

#[test]
fn verify_finds_a_rewritten_event() {
    let directory = tempfile::tempdir().expect("temp dir");
    fill(directory.path(), 50, 10);
    rewrite_log(directory.path(), |payloads| {
        let text = String::from_utf8(payloads[23].clone()).expect("utf-8");
        payloads[23] = text
            .replace("event number 23", "event number 99")
            .into_bytes();
    });
    let report = verify(directory.path(), None).expect("verify runs");
    assert!(!report.is_ok());
    assert_eq!(
        report.verified_size, 20,
        "the checkpoints before the change still hold"
    );
    assert_eq!(
        report.first_bad_position(),
        Some(23),
        "the recorded leaves pinpoint the event"
    );
    let described: Vec<&str> = report
        .problems
        .iter()
        .map(|p| p.description.as_str())
        .collect();
    assert!(
        described
            .iter()
            .any(|d| d.contains("position 23 was altered")),
        "{described:?}"
    );
    assert!(
        described.iter().any(|d| d.contains("positions 20..30")),
        "{described:?}"
    );
    assert_eq!(report.problems.len(), 2, "{described:?}");

    // An attacker who also rewrites the recorded leaves is still caught by
    // the signed checkpoints, to within the range between two of them.
    fs::remove_file(directory.path().join("ledger/leaves.bin")).expect("remove");
    let report = verify(directory.path(), None).expect("verify runs");
    assert_eq!(report.first_bad_position(), Some(20));
    assert_eq!(report.verified_size, 20);
}

#[test]
fn the_store_refuses_to_open_a_rewritten_log() {
    let directory = tempfile::tempdir().expect("temp dir");
    fill(directory.path(), 20, 10);
    rewrite_log(directory.path(), |payloads| payloads.swap(2, 3));
    let error =
        Store::open(directory.path(), StoreOptions::default()).expect_err("tampering is refused");
    assert!(
        error.to_string().contains("run `evident verify`"),
        "{error}"
    );
}

#[test]
fn verify_finds_removed_reordered_and_duplicated_events() {
    type Change = fn(&mut Vec<Vec<u8>>);
    let cases: [(&str, Change); 4] = [
        ("removed", |payloads| {
            payloads.remove(12);
        }),
        ("reordered", |payloads| payloads.swap(3, 4)),
        ("duplicated", |payloads| payloads[7] = payloads[6].clone()),
        ("removed at the end", |payloads| {
            payloads.pop();
        }),
    ];
    for (name, change) in cases {
        let directory = tempfile::tempdir().expect("temp dir");
        fill(directory.path(), 40, 10);
        rewrite_log(directory.path(), change);
        let report = verify(directory.path(), None).expect("verify runs");
        assert!(!report.is_ok(), "{name}: not detected");
        assert!(
            report
                .first_bad_position()
                .is_some_and(|position| position < 40),
            "{name}: {:?}",
            report.problems
        );
        if name == "duplicated" {
            assert!(
                report
                    .problems
                    .iter()
                    .any(|p| p.description.contains("duplicates position 6")),
                "{:?}",
                report.problems
            );
        }
        if name == "removed at the end" {
            assert!(
                report
                    .problems
                    .iter()
                    .any(|p| p.description.contains("only 39 are stored")),
                "{:?}",
                report.problems
            );
        }
    }
}

#[test]
fn a_forged_checkpoint_or_a_foreign_key_is_rejected() {
    let directory = tempfile::tempdir().expect("temp dir");
    fill(directory.path(), 5, 5);
    let other = tempfile::tempdir().expect("temp dir");
    fill(other.path(), 5, 5);
    let foreign = Store::open(other.path(), StoreOptions::default())
        .expect("open")
        .verifier();
    let report = verify(directory.path(), Some(foreign)).expect("verify runs");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.description.contains("checkpoints")),
        "{:?}",
        report.problems
    );

    let path = directory.path().join("ledger/checkpoints.jsonl");
    let text = fs::read_to_string(&path).expect("read");
    fs::write(&path, text.replacen("\\n5\\n", "\\n6\\n", 1)).expect("write");
    let report = verify(directory.path(), None).expect("verify runs");
    assert!(
        !report.is_ok(),
        "a checkpoint whose signature does not match is reported"
    );
}

fn sealing_options() -> StoreOptions {
    StoreOptions {
        seal_rows: 25,
        wal: evident_store::wal::WalOptions {
            file_bytes: 2_000,
            ..Default::default()
        },
        ..StoreOptions::default()
    }
}

#[test]
fn sealed_segments_replace_the_log_and_verify() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = Store::open(directory.path(), sealing_options()).expect("open");
    for start in (0..110).step_by(10) {
        let batch: Vec<StoredEvent> = (start..start + 10).map(stored).collect();
        append_and_wait(&store, &batch).expect("durable");
    }
    store.checkpoint().expect("checkpoint");
    assert_eq!(store.seal().expect("seal"), 4);
    assert_eq!(store.seal().expect("nothing more to seal"), 0);
    let segments = store.segments();
    assert_eq!(
        segments
            .iter()
            .map(|s| (s.first_sequence, s.end_sequence))
            .collect::<Vec<_>>(),
        [(0, 25), (25, 50), (50, 75), (75, 100)]
    );
    // The log drops sealed files before the next group commits.
    append_and_wait(&store, &[stored(110)]).expect("durable");
    let wal_files: Vec<String> = fs::read_dir(directory.path().join("wal"))
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let oldest: u64 = wal_files
        .iter()
        .filter_map(|name| {
            name.strip_prefix("wal-")?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .min()
        .expect("a file");
    assert!(
        oldest > 0 && oldest <= 100,
        "sealed log files are gone: {wal_files:?}"
    );
    store.checkpoint().expect("checkpoint");
    drop(store);

    let store =
        Store::open(directory.path(), sealing_options()).expect("reopen from segments and log");
    assert_eq!(store.len(), 111);
    let proven = store.inclusion_proof("id-0030").expect("a sealed event");
    let (event, index) = (proven.event, proven.leaf_index);
    assert_eq!((event.id.as_str(), index), ("id-0030", 30));
    drop(store);
    let report = verify(directory.path(), None).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.events, report.verified_size), (111, 111));
}

#[test]
fn a_rewritten_segment_is_caught() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = Store::open(directory.path(), sealing_options()).expect("open");
    append_and_wait(&store, &(0..50).map(stored).collect::<Vec<_>>()).expect("durable");
    store.checkpoint().expect("checkpoint");
    store.seal().expect("seal");
    drop(store);
    // Re-encode the first segment with one event changed, as an attacker could.
    let mut events: Vec<StoredEvent> = (0..25).map(stored).collect();
    events[7].event.message = Some("nothing to see here".into());
    let raws: Vec<Vec<u8>> = events.iter().map(StoredEvent::to_bytes).collect();
    let inputs: Vec<evident_store::segment::SealInput<'_>> = events
        .iter()
        .zip(&raws)
        .enumerate()
        .map(|(index, (event, raw))| evident_store::segment::SealInput {
            sequence: index as u64,
            event,
            raw,
        })
        .collect();
    let encoded = evident_store::segment::encode(&inputs).expect("encode");
    let path = directory
        .path()
        .join(evident_store::segment::SegmentStore::segment_path(0, 25));
    fs::write(&path, &encoded.bytes).expect("write");
    // The manifest records the size, as an attacker who rewrites it would.
    let manifest_path = directory.path().join("segments/manifest.json");
    let mut manifest: evident_store::segment::Manifest =
        serde_json::from_slice(&fs::read(&manifest_path).expect("manifest")).expect("json");
    manifest.segments[0].bytes = encoded.bytes.len() as u64;
    fs::write(&manifest_path, serde_json::to_vec(&manifest).expect("json")).expect("write");

    // The store serves what is on disk; the proof it hands out exposes it.
    let store = Store::open(directory.path(), sealing_options()).expect("open");
    let proven = store.inclusion_proof("id-0007").expect("proof");
    let (event, index, checkpoint, proof) = (
        proven.event,
        proven.leaf_index,
        proven.checkpoint,
        proven.path,
    );
    assert_eq!(event.event.message.as_deref(), Some("nothing to see here"));
    let served = store.event_bytes(index).expect("bytes");
    assert!(
        verify_inclusion(
            &leaf_hash(&served),
            index,
            checkpoint.checkpoint.size,
            &proof,
            &checkpoint.checkpoint.root,
        )
        .is_err(),
        "the altered event fails its inclusion proof"
    );
    let proven = store.inclusion_proof("id-0008").expect("proof");
    let (index, checkpoint, proof) = (proven.leaf_index, proven.checkpoint, proven.path);
    verify_inclusion(
        &leaf_hash(&store.event_bytes(index).expect("bytes")),
        index,
        checkpoint.checkpoint.size,
        &proof,
        &checkpoint.checkpoint.root,
    )
    .expect("its neighbours still prove");
    drop(store);
    let report = verify(directory.path(), None).expect("verify");
    assert_eq!(
        report.first_bad_position(),
        Some(7),
        "{:?}",
        report.problems
    );
}

#[test]
fn retention_drops_old_segments_and_what_remains_still_verifies() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = Store::open(directory.path(), sealing_options()).expect("open");
    // Half the events arrived long ago; retention counts from arrival.
    let events: Vec<StoredEvent> = (0..100)
        .map(|index| {
            let mut event = stored(index);
            if index < 50 {
                event.discovery_timestamp =
                    Timestamp::from_millis(1_577_836_800_000 + index as i64).expect("2020");
            }
            event
        })
        .collect();
    append_and_wait(&store, &events).expect("durable");
    store.checkpoint().expect("checkpoint");
    assert_eq!(store.seal().expect("seal"), 4);
    let cutoff = Timestamp::from_millis(1_640_995_200_000)
        .expect("2022")
        .as_nanos();
    assert_eq!(store.expire_before(cutoff).expect("expire"), 50);
    assert_eq!(store.expire_before(cutoff).expect("nothing more"), 0);
    assert_eq!(store.len(), 50);
    assert!(
        store.inclusion_proof("id-0010").is_err(),
        "an expired event is gone"
    );
    let proven = store.inclusion_proof("id-0060").expect("a kept event");
    let (index, checkpoint, proof) = (proven.leaf_index, proven.checkpoint, proven.path);
    verify_inclusion(
        &leaf_hash(&store.event_bytes(index).expect("bytes")),
        index,
        checkpoint.checkpoint.size,
        &proof,
        &checkpoint.checkpoint.root,
    )
    .expect("kept events still prove against the same tree");
    assert_eq!(checkpoint.checkpoint.size, 100);
    let segment_files = fs::read_dir(directory.path().join("segments"))
        .expect("list")
        .count();
    assert_eq!(
        segment_files, 5,
        "two segments, their term indexes and the manifest remain"
    );
    drop(store);

    let store = Store::open(directory.path(), sealing_options()).expect("reopen after expiry");
    assert_eq!(store.len(), 50);
    append_and_wait(&store, &[stored(100)]).expect("durable");
    store.checkpoint().expect("checkpoint");
    drop(store);
    let report = verify(directory.path(), None).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        (report.expired, report.events, report.verified_size),
        (50, 101, 101)
    );
}

#[test]
fn lost_term_indexes_and_leaf_hashes_are_rebuilt_from_the_segments() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = Store::open(directory.path(), sealing_options()).expect("open");
    let events: Vec<StoredEvent> = (0..60).map(stored).collect();
    append_and_wait(&store, &events).expect("durable");
    store.checkpoint().expect("checkpoint");
    assert_eq!(store.seal().expect("seal"), 2);
    let needle = evident_store::term_index::term_hash("w:number");
    let before: Vec<Vec<u32>> = store
        .snapshot()
        .sealed
        .iter()
        .map(|sealed| sealed.index.candidates(&[needle]))
        .collect();
    drop(store);
    let leaves = fs::read(directory.path().join("ledger/leaves.bin")).expect("leaves");

    let mut terms: Vec<_> = fs::read_dir(directory.path().join("segments"))
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "terms")
        })
        .collect();
    terms.sort();
    fs::remove_file(&terms[0]).expect("lose one index");
    fs::write(&terms[1], b"not an index").expect("damage the other");
    fs::remove_file(directory.path().join("ledger/leaves.bin")).expect("lose the leaves");

    let store = Store::open(directory.path(), sealing_options()).expect("reopen");
    let after: Vec<Vec<u32>> = store
        .snapshot()
        .sealed
        .iter()
        .map(|sealed| sealed.index.candidates(&[needle]))
        .collect();
    assert_eq!(after, before);
    assert_eq!(
        after[0].len(),
        25,
        "every event of a segment holds the word"
    );
    drop(store);
    assert_eq!(
        fs::read(directory.path().join("ledger/leaves.bin")).expect("leaves"),
        leaves,
        "the leaf file is rebuilt as it was"
    );
    assert!(verify(directory.path(), None).expect("verify").is_ok());
}

#[test]
fn a_checkpoint_torn_by_a_crash_is_cut_and_the_store_keeps_opening() {
    // The reproduction: a crash in the middle of appending a checkpoint,
    // then a start, more events and checkpoints, a stop, another start.
    let directory = tempfile::tempdir().expect("temp dir");
    fill(directory.path(), 10, 5);
    let checkpoints = directory.path().join("ledger/checkpoints.jsonl");
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&checkpoints)
        .expect("checkpoints");
    std::io::Write::write_all(&mut file, br#"{"size":7,"root":"abc"#).expect("torn line");
    drop(file);
    {
        let store = Store::open(directory.path(), StoreOptions::default()).expect("opens");
        for batch in [10u64, 11] {
            append_and_wait(&store, &[stored(batch)]).expect("durable");
            store.checkpoint().expect("checkpoint");
        }
    }
    let store = Store::open(directory.path(), StoreOptions::default()).expect("opens again");
    assert_eq!(store.len(), 12);
    assert_eq!(
        store
            .latest_checkpoint()
            .map(|latest| latest.checkpoint.size),
        Some(12)
    );
    drop(store);
    let text = fs::read_to_string(&checkpoints).expect("checkpoints");
    assert!(text.lines().all(|line| line.ends_with('}')), "{text}");
    let report = verify(directory.path(), None).expect("verify runs");
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// A batch answered once written (before its fsync) becomes searchable
/// within the sync delay, and durable: it is there after reopening.
#[test]
fn what_was_answered_once_written_becomes_searchable_and_durable() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = Store::open(directory.path(), StoreOptions::default()).expect("open");
    for index in 0..50 {
        let range = store
            .commit_written(vec![stored(index)])
            .wait()
            .expect("written");
        assert_eq!(range, index..index + 1);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.snapshot().tail.end() < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "written batches join the tail after their fsync"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    store
        .commit(vec![stored(50)])
        .wait()
        .expect("a durable batch after them");
    assert_eq!(store.snapshot().tail.end(), 51);
    drop(store);
    let store = Store::open(directory.path(), StoreOptions::default()).expect("reopen");
    assert_eq!(store.len(), 51);
}

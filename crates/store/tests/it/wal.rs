//! The write-ahead log on real files: replay, rotation, torn tails,
//! damage, group commit.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use evident_store::wal::{Acknowledge, GroupCommit, Wal, WalError, WalOptions};
use proptest::prelude::*;

fn open(directory: &Path, file_bytes: u64) -> (Wal, Vec<(u64, Vec<u8>)>) {
    let mut replayed = Vec::new();
    let (wal, _) = Wal::open(
        directory,
        WalOptions {
            file_bytes,
            ..WalOptions::default()
        },
        |sequence, payload| {
            replayed.push((sequence, payload.to_vec()));
        },
    )
    .expect("open");
    (wal, replayed)
}

fn payload(index: u64) -> Vec<u8> {
    format!("{{\"message\":\"event {index}\"}}").into_bytes()
}

fn newest_file(directory: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = fs::read_dir(directory)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files.pop().expect("a file")
}

#[test]
fn replays_everything_in_order_across_files() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut wal, replayed) = open(directory.path(), 300);
    assert!(replayed.is_empty());
    for batch in 0..20u64 {
        let payloads: Vec<Vec<u8>> = (batch * 5..batch * 5 + 5).map(payload).collect();
        assert_eq!(
            wal.append(&payloads).expect("append"),
            batch * 5..batch * 5 + 5
        );
        wal.sync().expect("sync");
    }
    assert!(wal.files().count() > 3, "small files rotate");
    drop(wal);

    let (mut wal, replayed) = open(directory.path(), 300);
    assert_eq!(replayed.len(), 100);
    for (index, (sequence, bytes)) in replayed.iter().enumerate() {
        assert_eq!((*sequence, bytes), (index as u64, &payload(index as u64)));
    }
    assert_eq!(wal.next_sequence(), 100);

    // Files whose records are all sealed elsewhere can go; numbering goes on.
    let removed = wal.remove_before(50).expect("remove");
    assert!(removed > 0);
    let oldest_kept = wal.files().map(|(_, first)| first).next().expect("a file");
    assert!(
        oldest_kept > 0 && oldest_kept <= 50,
        "the file holding record 50 stays: {oldest_kept}"
    );
    assert_eq!(wal.append(&[payload(100)]).expect("append"), 100..101);
    wal.sync().expect("sync");
    drop(wal);
    let (wal, replayed) = open(directory.path(), 300);
    assert_eq!(replayed.last().map(|(sequence, _)| *sequence), Some(100));
    assert!(
        replayed
            .first()
            .map(|(sequence, _)| *sequence)
            .is_some_and(|first| first > 0 && first <= 50)
    );
    assert_eq!(wal.next_sequence(), 101);
}

#[test]
fn an_active_file_sealed_whole_goes_too() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut wal, _) = open(directory.path(), 1 << 20);
    wal.append(&(0..10).map(payload).collect::<Vec<_>>())
        .expect("append");
    wal.sync().expect("sync");
    assert_eq!(
        wal.remove_before(5).expect("remove"),
        0,
        "record 5 is not sealed"
    );
    assert_eq!(wal.remove_before(10).expect("remove"), 1);
    let files: Vec<u64> = wal.files().map(|(_, first)| first).collect();
    assert_eq!(files, vec![10], "a fresh active file");
    assert_eq!(wal.append(&[payload(10)]).expect("append"), 10..11);
    wal.sync().expect("sync");
    drop(wal);
    let (wal, replayed) = open(directory.path(), 1 << 20);
    assert_eq!(replayed, vec![(10, payload(10))]);
    assert_eq!(wal.next_sequence(), 11);
}

#[test]
fn a_torn_tail_is_cut_and_writing_goes_on() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut wal, _) = open(directory.path(), 1 << 20);
    wal.append(&(0..10).map(payload).collect::<Vec<_>>())
        .expect("append");
    wal.sync().expect("sync");
    drop(wal);
    let path = newest_file(directory.path());
    let length = fs::metadata(&path).expect("metadata").len();
    // Half of a last record, as a crash in the middle of a write leaves it.
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(length - 7).expect("cut");
    drop(file);

    let (mut wal, replayed) = open(directory.path(), 1 << 20);
    assert_eq!(replayed.len(), 9);
    assert_eq!(wal.next_sequence(), 9);
    assert_eq!(wal.append(&[payload(9)]).expect("append"), 9..10);
    wal.sync().expect("sync");
    drop(wal);
    let (_, replayed) = open(directory.path(), 1 << 20);
    assert_eq!(replayed.len(), 10);

    // Garbage after the last record (a torn header) is cut as well.
    let mut bytes = fs::read(&path).expect("read");
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    fs::write(&path, bytes).expect("write");
    let (_, replayed) = open(directory.path(), 1 << 20);
    assert_eq!(replayed.len(), 10);
}

#[test]
fn damage_before_intact_records_is_an_error() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut wal, _) = open(directory.path(), 1 << 20);
    wal.append(&(0..5).map(payload).collect::<Vec<_>>())
        .expect("append");
    wal.sync().expect("sync");
    drop(wal);
    let path = newest_file(directory.path());
    let mut bytes = fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&path, &bytes).expect("write");
    let error = Wal::open(directory.path(), WalOptions::default(), |_, _| {})
        .expect_err("damage is reported");
    assert!(matches!(error, WalError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("is damaged at byte"), "{error}");
}

#[test]
fn damage_in_an_older_file_or_a_missing_file_is_an_error() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut wal, _) = open(directory.path(), 100);
    for index in 0..12 {
        wal.append(&[payload(index)]).expect("append");
        wal.sync().expect("sync");
    }
    let files: Vec<_> = wal.files().map(|(path, _)| path.to_path_buf()).collect();
    drop(wal);
    assert!(files.len() >= 3);

    let saved = fs::read(&files[1]).expect("read");
    fs::remove_file(&files[1]).expect("remove");
    let error = Wal::open(directory.path(), WalOptions::default(), |_, _| {})
        .expect_err("a gap is reported");
    assert!(error.to_string().contains("a file is missing"), "{error}");

    let mut damaged = saved.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    fs::write(&files[1], damaged).expect("write");
    assert!(Wal::open(directory.path(), WalOptions::default(), |_, _| {}).is_err());
}

#[test]
fn group_commit_orders_and_acknowledges_every_batch() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (wal, _) = open(directory.path(), 1 << 16);
    let seen = Arc::new(Mutex::new(Vec::<u64>::new()));
    let seen_by_hook = Arc::clone(&seen);
    let commit = Arc::new(
        GroupCommit::start(
            wal,
            1 << 20,
            Duration::from_millis(5),
            Box::new(move |first, payloads, (): ()| {
                let mut seen = seen_by_hook.lock().expect("lock");
                seen.extend(first..first + payloads.len() as u64);
            }),
        )
        .expect("start"),
    );
    let (sender, receiver) = mpsc::channel();
    let writers: Vec<_> = (0..8u64)
        .map(|writer| {
            let commit = Arc::clone(&commit);
            let sender = sender.clone();
            std::thread::spawn(move || {
                for batch in 0..50u64 {
                    let payloads: Vec<Vec<u8>> = (0..3)
                        .map(|i| payload(writer * 1000 + batch * 3 + i))
                        .collect();
                    let sender = sender.clone();
                    commit.submit(
                        payloads,
                        (),
                        // Half answered once written: the order holds alike.
                        if writer % 2 == 0 {
                            Acknowledge::Durable
                        } else {
                            Acknowledge::Written
                        },
                        Box::new(move |result| {
                            let _ = sender.send(result.map_err(|error| error.to_string()));
                        }),
                    );
                }
            })
        })
        .collect();
    writers
        .into_iter()
        .for_each(|writer| writer.join().expect("writer"));
    drop(sender);
    let mut ranges: Vec<_> = receiver
        .iter()
        .map(|result| result.expect("acknowledged"))
        .collect();
    assert_eq!(ranges.len(), 400);
    ranges.sort_by_key(|range| range.start);
    let mut next = 0;
    for range in ranges {
        assert_eq!((range.start, range.end - range.start), (next, 3));
        next = range.end;
    }
    // Batches answered once written may still be in the hook: shutting
    // down finishes it.
    let wal = Arc::into_inner(commit)
        .expect("sole owner")
        .shut_down()
        .expect("the log comes back");
    assert_eq!(
        *seen.lock().expect("lock"),
        (0..1200).collect::<Vec<_>>(),
        "the hook sees log order"
    );
    assert_eq!(wal.next_sequence(), 1200);
    drop(wal);
    let (_, replayed) = open(directory.path(), 1 << 16);
    assert_eq!(replayed.len(), 1200);
}

/// A batch acknowledged once written is answered before the durability
/// hook (which runs after the fsync) has seen it; one acknowledged once
/// durable only after.
/// Submits one batch of one record; the receiver gets its answer.
fn submit_one(
    commit: &GroupCommit,
    acknowledge: Acknowledge,
) -> mpsc::Receiver<Result<std::ops::Range<u64>, String>> {
    let (sender, receiver) = mpsc::channel();
    commit.submit(
        vec![payload(0)],
        (),
        acknowledge,
        Box::new(move |result| {
            let _ = sender.send(result.map_err(|error| error.to_string()));
        }),
    );
    receiver
}

#[test]
fn written_batches_are_answered_at_once_and_made_durable_with_the_next_durable_one() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (wal, _) = open(directory.path(), 1 << 16);
    let (made_durable, durable) = mpsc::channel::<u64>();
    // A delay no test outlives: only a durable batch or the shutdown syncs.
    let commit = GroupCommit::start(
        wal,
        1 << 20,
        Duration::from_secs(3600),
        Box::new(move |first, _, (): ()| {
            let _ = made_durable.send(first);
        }),
    )
    .expect("start");
    let answered = |receiver: mpsc::Receiver<Result<std::ops::Range<u64>, String>>| {
        receiver
            .recv_timeout(Duration::from_secs(5))
            .expect("answered")
            .expect("no error")
    };
    assert_eq!(answered(submit_one(&commit, Acknowledge::Written)), 0..1);
    assert_eq!(answered(submit_one(&commit, Acknowledge::Written)), 1..2);
    assert!(
        durable.recv_timeout(Duration::from_millis(300)).is_err(),
        "the fsync after written batches waits for company"
    );
    assert_eq!(answered(submit_one(&commit, Acknowledge::Durable)), 2..3);
    assert_eq!(
        durable.try_iter().collect::<Vec<_>>(),
        [0, 1, 2],
        "a durable batch makes the written ones before it durable first"
    );
    assert_eq!(answered(submit_one(&commit, Acknowledge::Written)), 3..4);
    let wal = commit.shut_down().expect("the log comes back");
    assert_eq!(
        durable.try_iter().collect::<Vec<_>>(),
        [3],
        "synced at shutdown"
    );
    drop(wal);
    let (_, replayed) = open(directory.path(), 1 << 16);
    assert_eq!(replayed.len(), 4, "every batch is in the log");
}

#[test]
fn a_written_batch_alone_is_made_durable_after_the_delay() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (wal, _) = open(directory.path(), 1 << 16);
    let (made_durable, durable) = mpsc::channel::<u64>();
    let commit = GroupCommit::start(
        wal,
        1 << 20,
        Duration::from_millis(20),
        Box::new(move |first, _, (): ()| {
            let _ = made_durable.send(first);
        }),
    )
    .expect("start");
    let answer = submit_one(&commit, Acknowledge::Written);
    assert_eq!(
        answer
            .recv_timeout(Duration::from_secs(5))
            .expect("answered"),
        Ok(0..1)
    );
    assert_eq!(
        durable.recv_timeout(Duration::from_secs(5)),
        Ok(0),
        "synced once the delay is over, with nothing else to wait for"
    );
    drop(commit);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Cutting the newest file anywhere (a crash mid-write) loses only the
    /// records that were not whole on disk, and never a whole one.
    #[test]
    fn a_crash_anywhere_keeps_every_whole_record(records in 1usize..40, cut_seed in any::<u64>()) {
        let directory = tempfile::tempdir().expect("temp dir");
        let (mut wal, _) = open(directory.path(), 1 << 20);
        let mut ends = Vec::new();
        for index in 0..records as u64 {
            wal.append(&[payload(index)]).expect("append");
            wal.sync().expect("sync");
            ends.push(fs::metadata(newest_file(directory.path())).expect("metadata").len());
        }
        drop(wal);
        let path = newest_file(directory.path());
        let length = fs::metadata(&path).expect("metadata").len();
        let cut = 8 + cut_seed % (length - 7);
        let file = fs::OpenOptions::new().write(true).open(&path).expect("open");
        file.set_len(cut).expect("cut");
        drop(file);
        let whole = ends.iter().filter(|&&end| end <= cut).count();
        let (wal, replayed) = open(directory.path(), 1 << 20);
        prop_assert_eq!(replayed.len(), whole);
        prop_assert_eq!(wal.next_sequence(), whole as u64);
        for (index, (sequence, bytes)) in replayed.into_iter().enumerate() {
            prop_assert_eq!(sequence, index as u64);
            prop_assert_eq!(bytes, payload(index as u64));
        }
    }
}

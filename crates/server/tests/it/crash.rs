//! Crash injection over the whole data directory: for every file evident
//! appends to, the directory as a crash in the middle of its last record
//! would leave it (cut at every byte offset of that record); for every
//! file evident replaces whole or writes once (the gateway spool's
//! batches, the bucket positions, the segments and their manifest written
//! through object_store), a temporary file left behind. Each time
//! the data directory must open as the server opens it, hold every
//! acknowledged event exactly once, verify, and take new writes on clean
//! lines; a few of the cases start the real server too.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use evident::access::{Access, KeyKind};
use evident::import::poller::Positions;
use evident::import::{DeadLetter, DeadLetters, ImportedFiles};
use evident::monitors::outbox::{Notification, Outbox};
use evident::monitors::store::MonitorFiles;
use evident::views::{View, ViewStore};
use evident_gateway::spool::Spool;
use evident_model::{StoredEvent, Timestamp};
use evident_store::verify::{LastVerify, verify};
use evident_store::{Store, StoreOptions, append_and_wait};

use crate::support::{API_KEY, APP_KEY, Server, total};

/// Events acknowledged before the crash, all covered by a checkpoint but
/// the last batch's.
const ACKNOWLEDGED: usize = 21;

/// A notification of the monitor the fixture keeps, to `@webhook-crash`.
fn notification(number: u64) -> Notification {
    serde_json::from_value(serde_json::json!({
        "key": format!("1:*:{number}"), "monitor_id": 1, "monitor_name": "crash", "group": "*",
        "group_values": {}, "from": "OK", "to": "Alert", "cause": "transition", "value": 11.0,
        "threshold": 10.0, "at": 1, "decided": 1, "title": "[Triggered] crash", "text": "spike",
        "handles": ["webhook-crash"], "tags": [], "priority": null, "query": "q",
    }))
    .expect("a notification")
}

/// A bucket folder whose delivery day the poller keeps.
const TRAIL_FOLDER: &str = "s3://trail/AWSLogs/1/CloudTrail/us-east-1";

fn event(index: usize) -> StoredEvent {
    let now = Timestamp::now();
    StoredEvent {
        id: format!("crash-{index:04}"),
        discovery_timestamp: now,
        tiebreaker: index as i64,
        random_draw: 0.5,
        ingest_size_in_bytes: 20,
        truncated: false,
        event: serde_json::from_str(&format!(
            r#"{{"message":"crash test event {index}","timestamp":{}}}"#,
            now.as_nanos() / 1_000_000
        ))
        .expect("event"),
    }
}

fn letter(index: usize) -> DeadLetter {
    DeadLetter {
        at: Timestamp::now(),
        source: "cloudtrail".into(),
        file: format!("file-{index}.json"),
        reason: format!("record {index}: not a JSON object"),
        record: Some(serde_json::json!({"index": index})),
    }
}

/// A data directory as evident leaves it, and where the last record of
/// the write-ahead log starts (it is the one event no checkpoint covers).
fn fixture(root: &Path) -> u64 {
    let options = StoreOptions {
        seal_rows: 10,
        ..StoreOptions::default()
    };
    let store = Store::open(root, options).expect("store");
    for batch in 0..4 {
        let events: Vec<StoredEvent> = (batch * 5..batch * 5 + 5).map(event).collect();
        append_and_wait(&store, &events).expect("durable");
        store.checkpoint().expect("checkpoint");
    }
    // Two segments and the manifest, written through object_store.
    assert_eq!(store.seal().expect("seal"), 2);
    let before = wal_file(root);
    let before_length = fs::metadata(&before).expect("wal").len();
    append_and_wait(&store, &[event(20)]).expect("durable");
    drop(store);
    // Sealing may have started a new log file: the record is then the
    // first one after its 8-byte header.
    let last_record_start = if wal_file(root) == before {
        before_length
    } else {
        8
    };
    assert!(
        last_record_start < fs::metadata(wal_file(root)).expect("wal").len(),
        "the last record is in the newest log file"
    );

    let imported = ImportedFiles::open(root).expect("imported files");
    for index in 0..3 {
        imported
            .add(&format!("s3://trail/file-{index}.json"), 2, Some("ab"))
            .expect("listed");
    }
    let letters = DeadLetters::new(root);
    letters.write(&[letter(0), letter(1)]).expect("letters");
    Positions::open(root)
        .expect("positions")
        .set(TRAIL_FOLDER, "2024/01/15")
        .expect("position saved");
    Access::open(root, Some(API_KEY), Some(APP_KEY)).expect("keys");
    let views = ViewStore::open(root).expect("views");
    views
        .update(|all| {
            all.push(View {
                id: "v1".into(),
                name: "crash view".into(),
                query: "*".into(),
                from: "now-1h".into(),
                to: "now".into(),
                columns: Vec::new(),
                created: 0,
                updated: 0,
            })
        })
        .expect("view");
    // The gateway's spool, as `serve --gateway-config` keeps it.
    let spool = Spool::open(&root.join("gateway-spool"), 1 << 20).expect("spool");
    spool
        .append(&[b"{\"n\":1}".to_vec(), b"{\"n\":2}".to_vec()])
        .expect("batch");
    spool.append(&[b"{\"n\":3}".to_vec()]).expect("batch");
    // Monitors: a definition, the outbox (two notifications), learned
    // values (two records), the evaluation state.
    let monitors = MonitorFiles::open(root).expect("monitors folder");
    let monitor = serde_json::from_value(serde_json::json!({
        "id": 1, "name": "crash", "type": "audit alert",
        "query": "audits(\"*\").rollup(\"count\").last(\"5m\") > 10", "message": "spike @webhook-crash",
        "tags": [], "options": {}, "priority": null, "created": "2026-01-01T00:00:00Z",
        "modified": "2026-01-01T00:00:00Z", "creator": {"email": null, "handle": "crash", "name": null},
    }))
    .expect("a monitor");
    monitors.write_monitor(&monitor, 2).expect("definition");
    let (mut outbox, _) = Outbox::open(monitors.dir()).expect("outbox");
    outbox.add(vec![notification(1)]).expect("queued");
    outbox.add(vec![notification(2)]).expect("queued");
    monitors.append_values(1, &[(7, 1)]).expect("values");
    monitors.append_values(1, &[(8, 2)]).expect("values");
    evident_durable::replace(
        &monitors.dir().join("state.json"),
        br#"{"position": 0, "monitors": {}}"#,
    )
    .expect("state");
    let report = verify(root, None).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    LastVerify::new(&report, std::time::Duration::from_millis(1), false)
        .save(root)
        .expect("last verify");
    last_record_start
}

fn wal_file(root: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("wal"))
        .expect("wal folder")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    files.pop().expect("a wal file")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Where the last line of a JSON-lines file starts.
fn last_line_start(path: &Path) -> u64 {
    let bytes = fs::read(path).expect("file");
    let body = &bytes[..bytes.len() - 1];
    body.iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |newline| newline + 1) as u64
}

fn cut(path: &Path, length: u64) {
    let file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open to cut");
    file.set_len(length).expect("cut");
}

/// Opens `root` as the server does and checks what must hold after any
/// crash: `events` acknowledged events, each once, a log that verifies,
/// and appends that land on lines of their own.
fn check(root: &Path, events: usize, imported_files: usize, what: &str) {
    let store = Store::open(root, StoreOptions::default())
        .unwrap_or_else(|error| panic!("{what}: the store does not open: {error}"));
    assert_eq!(store.len() as usize, events, "{what}");
    let all = evident_query::matching_events(
        &store,
        &evident_search::parse_filter("*").expect("filter"),
        evident_query::Window {
            from: i64::MIN,
            to: i64::MAX,
        },
    )
    .expect("events");
    let ids: HashSet<&str> = all.iter().map(|stored| stored.id.as_str()).collect();
    assert_eq!(
        (all.len(), ids.len()),
        (events, events),
        "{what}: each event once"
    );
    // Appends after the crash: a checkpoint, an event.
    append_and_wait(&store, &[event(100)]).expect("durable after the crash");
    store.checkpoint().expect("checkpoint after the crash");
    drop(store);
    let report = verify(root, None).expect("verify runs");
    assert!(report.is_ok(), "{what}: {:?}", report.problems);

    let imported =
        ImportedFiles::open(root).unwrap_or_else(|error| panic!("{what}: imported files: {error}"));
    assert_eq!(imported.len(), imported_files, "{what}");
    imported
        .add("s3://trail/after.json", 1, None)
        .expect("listed");
    DeadLetters::new(root)
        .write(&[letter(9)])
        .expect("a letter after the crash");
    let (keys, created) =
        Access::open(root, None, None).unwrap_or_else(|error| panic!("{what}: keys: {error}"));
    assert!(
        created.api.is_none() && created.application.is_none(),
        "{what}: keys kept"
    );
    assert!(keys.accepts(KeyKind::Api, API_KEY), "{what}");
    let views = ViewStore::open(root).unwrap_or_else(|error| panic!("{what}: views: {error:?}"));
    assert_eq!(views.list().len(), 1, "{what}");
    assert!(LastVerify::load(root).is_some(), "{what}: last verify");
    let positions =
        Positions::open(root).unwrap_or_else(|error| panic!("{what}: positions: {error}"));
    assert_eq!(positions.get(TRAIL_FOLDER), Some("2024/01/15"), "{what}");
    let spool = Spool::open(&root.join("gateway-spool"), 1 << 20)
        .unwrap_or_else(|error| panic!("{what}: spool: {error}"));
    let waiting = spool
        .oldest(1 << 20, 1000)
        .expect("spool read")
        .expect("batches");
    assert_eq!(waiting.events.len(), 3, "{what}: spooled events");
    let leftovers = fs::read_dir(root.join("gateway-spool"))
        .expect("spool folder")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.path().extension().is_some_and(|ext| ext == "tmp"))
        })
        .count();
    assert_eq!(leftovers, 0, "{what}: a temporary left in the spool");
    let monitors =
        MonitorFiles::open(root).unwrap_or_else(|error| panic!("{what}: monitors: {error}"));
    assert_eq!(
        monitors
            .read_definitions()
            .expect("definitions")
            .monitors
            .len(),
        1,
        "{what}"
    );
    monitors
        .read_state()
        .unwrap_or_else(|error| panic!("{what}: state: {error}"));
    let (mut outbox, pending) =
        Outbox::open(monitors.dir()).unwrap_or_else(|error| panic!("{what}: outbox: {error}"));
    assert!(
        (1..=2).contains(&pending.len()),
        "{what}: {} pending",
        pending.len()
    );
    outbox
        .add(vec![notification(3)])
        .expect("queued after the crash");
    let values = monitors.read_values(1).expect("values");
    assert!(
        (1..=2).contains(&values.len()),
        "{what}: {} values",
        values.len()
    );
    monitors
        .append_values(1, &[(9, 3)])
        .expect("values after the crash");
    assert_eq!(
        monitors.read_values(1).expect("values").len(),
        values.len() + 1,
        "{what}"
    );
    assert_eq!(
        Outbox::open(monitors.dir()).expect("outbox").1.len(),
        pending.len() + 1,
        "{what}"
    );
    for file in [
        "ledger/checkpoints.jsonl",
        "imported-files.jsonl",
        "dead-letter/dead-letters.jsonl",
        "monitors/outbox.jsonl",
    ] {
        let text = fs::read_to_string(root.join(file)).expect("file");
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|error| panic!("{what}: {file}: {error}: {line}"));
        }
    }
}

#[test]
fn a_crash_at_any_byte_of_the_last_record_of_any_file_loses_nothing_acknowledged() {
    let base = tempfile::tempdir().expect("temp dir");
    let template = base.path().join("template");
    let wal_record_start = fixture(&template);
    let mut case = 0;
    let mut run = |prepare: &dyn Fn(&Path), events: usize, imported: usize, what: String| {
        case += 1;
        let root = base.path().join(format!("case-{case}"));
        copy_dir(&template, &root);
        prepare(&root);
        check(&root, events, imported, &what);
        fs::remove_dir_all(&root).expect("clean up");
    };

    // Append-only JSON lines: cut anywhere in the last record, newline
    // included. The record was not complete, so its append never returned.
    for (file, events, imported_when_cut) in [
        ("ledger/checkpoints.jsonl", ACKNOWLEDGED, 3),
        ("imported-files.jsonl", ACKNOWLEDGED, 2),
        ("dead-letter/dead-letters.jsonl", ACKNOWLEDGED, 3),
        ("monitors/outbox.jsonl", ACKNOWLEDGED, 3),
    ] {
        let path = template.join(file);
        let (start, end) = (
            last_line_start(&path),
            fs::metadata(&path).expect("file").len(),
        );
        for length in start..end {
            run(
                &|root| cut(&root.join(file), length),
                events,
                imported_when_cut,
                format!("{file} cut at {length} of {end}"),
            );
        }
    }

    // The write-ahead log: a torn last record was never acknowledged, and
    // its leaf hash never recorded (that happens once the record is
    // durable).
    let wal = wal_file(&template);
    let wal_name = wal.file_name().expect("name").to_owned();
    let wal_end = fs::metadata(&wal).expect("wal").len();
    let leaves_end = fs::metadata(template.join("ledger/leaves.bin"))
        .expect("leaves")
        .len();
    for length in wal_record_start..wal_end {
        let name = wal_name.clone();
        run(
            &move |root| {
                cut(&root.join("wal").join(&name), length);
                cut(&root.join("ledger/leaves.bin"), leaves_end - 32);
            },
            ACKNOWLEDGED - 1,
            3,
            format!("the write-ahead log cut at {length} of {wal_end}"),
        );
    }

    // The recorded leaf hashes: 32 bytes a leaf, rebuilt when short.
    for length in leaves_end.saturating_sub(32)..leaves_end {
        run(
            &|root| cut(&root.join("ledger/leaves.bin"), length),
            ACKNOWLEDGED,
            3,
            format!("leaves.bin cut at {length} of {leaves_end}"),
        );
    }

    // A monitor's learned values: 16 bytes a record, a torn one ignored,
    // then cut by the next append.
    let values_end = fs::metadata(template.join("monitors/values/1.bin"))
        .expect("values")
        .len();
    for length in values_end - 16..values_end {
        run(
            &|root| cut(&root.join("monitors/values/1.bin"), length),
            ACKNOWLEDGED,
            3,
            format!("monitors/values/1.bin cut at {length} of {values_end}"),
        );
    }

    // Files replaced whole: a crash before the rename leaves a temporary
    // (`.tmp` beside it; object_store's local store stages a `#n` one).
    let segment = fs::read_dir(template.join("segments"))
        .expect("segments folder")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.extension().is_some_and(|ext| ext == "parquet"))
        .expect("a sealed segment");
    let segment = format!(
        "segments/{}",
        segment.file_name().expect("name").to_string_lossy()
    );
    let replaced = [
        ("keys.json", ".tmp"),
        ("views.json", ".tmp"),
        ("ledger/last-verify.json", ".tmp"),
        ("bucket-positions.json", ".tmp"),
        ("monitors/definitions/1.json", ".tmp"),
        ("monitors/next-id.json", ".tmp"),
        ("monitors/state.json", ".tmp"),
        ("gateway-spool/00000000000000000002.jsonl", ".tmp"),
        ("segments/manifest.json", "#1"),
        (segment.as_str(), "#2"),
    ];
    for (file, suffix) in replaced {
        run(
            &|root| {
                let mut temporary = root.join(file).into_os_string();
                temporary.push(suffix);
                fs::write(temporary, b"{\"half\": [").expect("temporary");
            },
            ACKNOWLEDGED,
            3,
            format!("{file} with a temporary left behind"),
        );
    }
    assert!(case > 100, "{case} cases");
}

#[test]
fn the_server_starts_after_a_crash_in_the_middle_of_each_log() {
    let base = tempfile::tempdir().expect("temp dir");
    let template = base.path().join("template");
    let wal_record_start = fixture(&template);
    let wal = wal_file(&template);
    let middle = |path: &Path| {
        let start = last_line_start(path);
        (start + fs::metadata(path).expect("file").len()) / 2
    };
    let checkpoints = middle(&template.join("ledger/checkpoints.jsonl"));
    let letters = middle(&template.join("dead-letter/dead-letters.jsonl"));
    let wal_middle = (wal_record_start + fs::metadata(&wal).expect("wal").len()) / 2;
    let root = base.path().join("crashed");
    copy_dir(&template, &root);
    cut(&root.join("ledger/checkpoints.jsonl"), checkpoints);
    cut(&root.join("dead-letter/dead-letters.jsonl"), letters);
    cut(
        &root.join("wal").join(wal.file_name().expect("name")),
        wal_middle,
    );
    let leaves = root.join("ledger/leaves.bin");
    cut(&leaves, fs::metadata(&leaves).expect("leaves").len() - 32);
    fs::write(root.join("keys.json.tmp"), b"{").expect("temporary");

    for _ in 0..2 {
        let server = Server::start(&root);
        assert_eq!(total(&server, "-source:evident"), ACKNOWLEDGED - 1);
        server.stop();
    }
    let output = crate::support::run_verify(&root);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

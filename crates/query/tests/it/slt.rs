//! sqllogictest files (`tests/slt/*.slt`) over a fixed set of audit events
//! (`tests/slt/events.jsonl`), with `now()` fixed at 2024-05-01T10:00:00Z.
//! Most events are sealed into segments, two stay in the tail, so every
//! statement reads both.
//!
//! To rewrite the expected results after a deliberate change, run with
//! `EVIDENT_SLT_COMPLETE=1` and review the diff.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use evident_model::{Event, StoredEvent, Timestamp};
use evident_query::sql::{SqlContext, SqlEngine, SqlError};
use evident_store::Store;
use futures::TryStreamExt;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

const NOW: &str = "2024-05-01T10:00:00Z";

fn slt_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt")
}

/// The store, kept alive with its directory.
struct Fixture {
    _directory: tempfile::TempDir,
    store: Arc<Store>,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(slt_dir().join("events.jsonl")).expect("events file");
    let events: Vec<StoredEvent> = text
        .lines()
        .enumerate()
        .map(|(index, line)| {
            let event: Event = serde_json::from_str(line).expect("an event per line");
            StoredEvent {
                id: format!("evt-{index:02}"),
                discovery_timestamp: NOW.parse().expect("time"),
                tiebreaker: index as i64,
                random_draw: index as f64 / 16.0,
                ingest_size_in_bytes: line.len() as u64,
                truncated: false,
                event,
            }
        })
        .collect();
    // Five of every six events sealed (two segments), two in the tail.
    let (directory, store) = crate::support::store_of(&events, 5, 6);
    assert_eq!(store.snapshot().tail.len(), 2);
    Fixture {
        _directory: directory,
        store: Arc::new(store),
    }
}

/// One connection: the engine with the fixed clock.
struct AuditDb {
    engine: SqlEngine,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SltError(String);

#[async_trait::async_trait]
impl AsyncDB for AuditDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let now: Timestamp = NOW.parse().expect("time");
        let failed = |error: SqlError| SltError(error.to_string());
        let output = self
            .engine
            .run(sql, &[], SqlContext::everything(now))
            .await
            .map_err(failed)?;
        let schema = output.schema;
        let batches: Vec<RecordBatch> = output
            .stream
            .try_collect()
            .await
            .map_err(|error| failed(SqlError::from(error)))?;
        let types = schema
            .fields()
            .iter()
            .map(|field| match field.data_type() {
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                    DefaultColumnType::Integer
                }
                DataType::Float32 | DataType::Float64 => DefaultColumnType::FloatingPoint,
                _ => DefaultColumnType::Text,
            })
            .collect();
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters: Vec<ArrayFormatter<'_>> = batch
                .columns()
                .iter()
                .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
                .collect::<Result<_, _>>()
                .map_err(|error| SltError(error.to_string()))?;
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|formatter| {
                            let text = formatter.value(row).to_string();
                            if text.is_empty() {
                                "(empty)".to_string()
                            } else {
                                text
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}
}

fn slt_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(slt_dir())
        .expect("slt dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    files
}

fn run_file(fixture: &Fixture, path: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::clone(&fixture.store);
    let make = move || {
        let store = Arc::clone(&store);
        async move {
            Ok::<_, SltError>(AuditDb {
                engine: SqlEngine::new(store),
            })
        }
    };
    let mut runner = sqllogictest::Runner::new(make);
    runner.with_column_validator(sqllogictest::strict_column_validator);
    if std::env::var_os("EVIDENT_SLT_COMPLETE").is_some() {
        runtime
            .block_on(runner.update_test_file(
                path,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::strict_column_validator,
            ))
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        return;
    }
    if let Err(error) = runtime.block_on(runner.run_file_async(path)) {
        panic!("{}", error.display(false));
    }
}

#[test]
fn sql_logic_tests() {
    let fixture = fixture();
    let files = slt_files();
    assert!(files.len() >= 5, "the .slt files are found");
    for path in files {
        run_file(&fixture, &path);
    }
}

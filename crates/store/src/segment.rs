//! Sealed segments: immutable Parquet files of consecutive events, kept on
//! an `object_store` (the local filesystem by default, S3 and friends the
//! same way).
//!
//! One row per event, in log order. The promoted dd.audit fields are typed
//! columns so that a columnar engine can filter and aggregate them without
//! parsing JSON; the full attributes are kept losslessly as JSON text, and
//! `_raw` holds the exact stored bytes the ledger hashed, so verification
//! never depends on re-encoding.
//!
//! | column | type |
//! | --- | --- |
//! | `_seq` | u64, the leaf index |
//! | `id` | utf8 |
//! | `timestamp`, `discovery_timestamp` | timestamp(ns, UTC) |
//! | `tiebreaker`, `ingest_size_in_bytes` | i64 |
//! | `random_draw` | f64 |
//! | `host`, `service`, `status`, `source`, `trace_id`, `message` | utf8 |
//! | `tags` | list<utf8> |
//! | `@usr.email`, `@usr.id`, `@evt.name`, `@evt.outcome`, `@action`, `@asset.type`, `@network.client.ip`, `@http.status_code`, `@auth_method` | utf8 (first value, as text) |
//! | `attributes` | utf8 (JSON) |
//! | `_raw` | binary |
//!
//! The manifest (`segments/manifest.json`) lists the sealed segments in
//! order; a segment exists once the manifest names it.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BinaryBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, UInt64Type};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use evident_model::StoredEvent;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Attributes stored as their own columns: the ones audit queries filter
/// and group on most.
pub const PROMOTED_ATTRIBUTES: [&str; 9] = [
    "usr.email",
    "usr.id",
    "evt.name",
    "evt.outcome",
    "action",
    "asset.type",
    "network.client.ip",
    "http.status_code",
    "auth_method",
];

/// Rows per Parquet row group: the unit of pruning.
const ROW_GROUP_ROWS: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("building a segment: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("segment file: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("segment {path} is damaged: {reason}")]
    Damaged { path: String, reason: String },
    #[error("manifest: {0}")]
    Manifest(String),
}

/// What the manifest records about one segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Object path, relative to the store's root.
    pub path: String,
    pub first_sequence: u64,
    /// One past the last event's sequence number.
    pub end_sequence: u64,
    /// Earliest and latest event timestamps (ns), for time pruning.
    pub min_time: i64,
    pub max_time: i64,
    /// Latest discovery time (ns): retention counts from ingest, so that
    /// imported history is not dropped on arrival.
    #[serde(default = "never_expires")]
    pub max_discovery: i64,
    pub bytes: u64,
}

fn never_expires() -> i64 {
    i64::MAX
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub segments: Vec<SegmentMeta>,
    /// Events before this position were dropped by retention; the ledger
    /// keeps their leaf hashes, so what remains still verifies.
    #[serde(default)]
    pub expired_end: u64,
}

impl Manifest {
    /// One past the last sealed sequence number.
    pub fn sealed_end(&self) -> u64 {
        self.segments
            .last()
            .map_or(self.expired_end, |segment| segment.end_sequence)
    }
}

pub fn schema() -> SchemaRef {
    let time = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("_seq", DataType::UInt64, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("timestamp", time.clone(), false),
        Field::new("discovery_timestamp", time, false),
        Field::new("tiebreaker", DataType::Int64, false),
        Field::new("random_draw", DataType::Float64, false),
        Field::new("ingest_size_in_bytes", DataType::Int64, false),
        Field::new("host", DataType::Utf8, true),
        Field::new("service", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, true),
        Field::new("trace_id", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
    ];
    fields.extend(
        PROMOTED_ATTRIBUTES
            .iter()
            .map(|path| Field::new(format!("@{path}"), DataType::Utf8, true)),
    );
    fields.push(Field::new("attributes", DataType::Utf8, false));
    fields.push(Field::new("_raw", DataType::Binary, false));
    Arc::new(Schema::new(fields))
}

/// The first value at a dotted attribute path, as text.
fn promoted(event: &StoredEvent, path: &str) -> Option<String> {
    let mut segments = path.split('.');
    let mut current = event.event.attributes.get(segments.next()?)?;
    for segment in segments {
        current = match current {
            Value::Array(items) => items.first()?.get(segment)?,
            value => value.get(segment)?,
        };
    }
    if let Value::Array(items) = current {
        current = items.first()?;
    }
    match current {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// One event to seal: its sequence number, parsed form and exact bytes.
#[derive(Debug, Clone, Copy)]
pub struct SealInput<'a> {
    pub sequence: u64,
    pub event: &'a StoredEvent,
    pub raw: &'a [u8],
}

/// Encodes consecutive events as one Parquet file.
pub fn encode(events: &[SealInput<'_>]) -> Result<(Vec<u8>, i64, i64), SegmentError> {
    // Returns the file and the event-time bounds; callers take the
    // discovery bound from the events themselves.
    let schema = schema();
    let time_of = |input: &SealInput<'_>| {
        input
            .event
            .event
            .timestamp
            .unwrap_or(input.event.discovery_timestamp)
            .as_nanos()
    };
    let mut sequence = UInt64Builder::new();
    let mut id = StringBuilder::new();
    let mut timestamp = TimestampNanosecondBuilder::new().with_timezone("UTC");
    let mut discovery = TimestampNanosecondBuilder::new().with_timezone("UTC");
    let mut tiebreaker = Int64Builder::new();
    let mut random_draw = Float64Builder::new();
    let mut size = Int64Builder::new();
    let mut reserved: Vec<StringBuilder> = (0..6).map(|_| StringBuilder::new()).collect();
    let mut tags = ListBuilder::new(StringBuilder::new());
    let mut promoted_columns: Vec<StringBuilder> = PROMOTED_ATTRIBUTES
        .iter()
        .map(|_| StringBuilder::new())
        .collect();
    let mut attributes = StringBuilder::new();
    let mut raw = BinaryBuilder::new();
    let (mut min_time, mut max_time) = (i64::MAX, i64::MIN);
    for input in events {
        let stored = input.event;
        let event = &stored.event;
        let time = time_of(input);
        min_time = min_time.min(time);
        max_time = max_time.max(time);
        sequence.append_value(input.sequence);
        id.append_value(&stored.id);
        timestamp.append_value(time);
        discovery.append_value(stored.discovery_timestamp.as_nanos());
        tiebreaker.append_value(stored.tiebreaker);
        random_draw.append_value(stored.random_draw);
        size.append_value(i64::try_from(stored.ingest_size_in_bytes).unwrap_or(i64::MAX));
        let reserved_values = [
            &event.host,
            &event.service,
            &event.status,
            &event.source,
            &event.trace_id,
            &event.message,
        ];
        for (builder, value) in reserved.iter_mut().zip(reserved_values) {
            builder.append_option(value.as_deref());
        }
        for tag in &event.tags {
            tags.values().append_value(tag);
        }
        tags.append(true);
        for (builder, path) in promoted_columns.iter_mut().zip(PROMOTED_ATTRIBUTES) {
            builder.append_option(promoted(stored, path));
        }
        attributes.append_value(serde_json::to_string(&event.attributes).unwrap_or_default());
        raw.append_value(input.raw);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(sequence.finish()),
        Arc::new(id.finish()),
        Arc::new(timestamp.finish()),
        Arc::new(discovery.finish()),
        Arc::new(tiebreaker.finish()),
        Arc::new(random_draw.finish()),
        Arc::new(size.finish()),
    ];
    columns.extend(
        reserved
            .iter_mut()
            .map(|builder| Arc::new(builder.finish()) as ArrayRef),
    );
    columns.push(Arc::new(tags.finish()));
    columns.extend(
        promoted_columns
            .iter_mut()
            .map(|builder| Arc::new(builder.finish()) as ArrayRef),
    );
    columns.push(Arc::new(attributes.finish()));
    columns.push(Arc::new(raw.finish()));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;

    let mut properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_column_bloom_filter_enabled(ColumnPath::from("id"), true);
    for path in PROMOTED_ATTRIBUTES {
        properties = properties
            .set_column_bloom_filter_enabled(ColumnPath::from(format!("@{path}").as_str()), true);
    }
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties.build()))?;
    writer.write(&batch)?;
    let bytes = writer.into_inner()?;
    Ok((bytes, min_time, max_time))
}

/// Reads back `(sequence, exact bytes)` for every event of a segment, in
/// order: what recovery and verification need.
pub fn decode_raw(path: &str, bytes: Bytes) -> Result<Vec<(u64, Vec<u8>)>, SegmentError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let schema = builder.parquet_schema();
    let wanted: Vec<usize> = schema
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, column)| matches!(column.name(), "_seq" | "_raw"))
        .map(|(index, _)| index)
        .collect();
    let mask = ProjectionMask::leaves(schema, wanted);
    let reader = builder.with_projection(mask).build()?;
    let damaged = |reason: &str| SegmentError::Damaged {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch?;
        let sequences = batch
            .column_by_name("_seq")
            .and_then(|column| column.as_primitive_opt::<UInt64Type>())
            .ok_or_else(|| damaged("no _seq column"))?;
        let raws = batch
            .column_by_name("_raw")
            .and_then(|column| column.as_binary_opt::<i32>())
            .ok_or_else(|| damaged("no _raw column"))?;
        for (sequence, raw) in sequences.iter().zip(raws.iter()) {
            let (Some(sequence), Some(raw)) = (sequence, raw) else {
                return Err(damaged("a null _seq or _raw"));
            };
            rows.push((sequence, raw.to_vec()));
        }
    }
    Ok(rows)
}

/// Where segments and the manifest live.
#[derive(Debug, Clone)]
pub struct SegmentStore {
    objects: Arc<dyn ObjectStore>,
}

const MANIFEST: &str = "segments/manifest.json";

impl SegmentStore {
    pub fn new(objects: Arc<dyn ObjectStore>) -> SegmentStore {
        SegmentStore { objects }
    }

    pub fn segment_path(first_sequence: u64, end_sequence: u64) -> String {
        format!("segments/seg-{first_sequence:020}-{end_sequence:020}.parquet")
    }

    pub async fn manifest(&self) -> Result<Manifest, SegmentError> {
        match self.objects.get(&ObjectPath::from(MANIFEST)).await {
            Ok(result) => {
                let bytes = result.bytes().await?;
                serde_json::from_slice(&bytes)
                    .map_err(|error| SegmentError::Manifest(error.to_string()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(Manifest::default()),
            Err(error) => Err(error.into()),
        }
    }

    /// Writes the manifest whole (a single put: atomic on every store).
    pub async fn save_manifest(&self, manifest: &Manifest) -> Result<(), SegmentError> {
        let bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|error| SegmentError::Manifest(error.to_string()))?;
        self.objects
            .put(&ObjectPath::from(MANIFEST), bytes.into())
            .await?;
        Ok(())
    }

    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), SegmentError> {
        self.objects
            .put(&ObjectPath::from(path), bytes.into())
            .await?;
        Ok(())
    }

    pub async fn delete(&self, path: &str) -> Result<(), SegmentError> {
        self.objects.delete(&ObjectPath::from(path)).await?;
        Ok(())
    }

    pub async fn get(&self, path: &str) -> Result<Bytes, SegmentError> {
        Ok(self
            .objects
            .get(&ObjectPath::from(path))
            .await?
            .bytes()
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_model::Timestamp;

    fn stored(index: u64) -> StoredEvent {
        StoredEvent {
            id: format!("id-{index}"),
            discovery_timestamp: Timestamp::from_millis(1_700_000_000_000 + index as i64).expect("in range"),
            tiebreaker: index as i64,
            random_draw: 0.25,
            ingest_size_in_bytes: 100,
            truncated: false,
            event: serde_json::from_value(serde_json::json!({
                "message": format!("event {index}"),
                "service": "web",
                "tags": ["env:prod"],
                "attributes": {"usr": {"email": format!("u{index}@x.io")}, "http": {"status_code": 200}, "list": [{"a": 1}]}
            }))
            .expect("event"),
        }
    }

    #[test]
    fn round_trip_of_the_exact_bytes() {
        let events: Vec<StoredEvent> = (0..1000).map(stored).collect();
        let raws: Vec<Vec<u8>> = events.iter().map(StoredEvent::to_bytes).collect();
        let inputs: Vec<SealInput<'_>> = events
            .iter()
            .zip(&raws)
            .enumerate()
            .map(|(index, (event, raw))| SealInput {
                sequence: 500 + index as u64,
                event,
                raw,
            })
            .collect();
        let (bytes, min_time, max_time) = encode(&inputs).expect("encode");
        assert!(min_time < max_time);
        let rows = decode_raw("test", Bytes::from(bytes)).expect("decode");
        assert_eq!(rows.len(), 1000);
        for (index, (sequence, raw)) in rows.iter().enumerate() {
            assert_eq!(*sequence, 500 + index as u64);
            assert_eq!(raw, &raws[index]);
        }
        assert_eq!(
            promoted(&events[3], "usr.email").as_deref(),
            Some("u3@x.io")
        );
        assert_eq!(
            promoted(&events[3], "http.status_code").as_deref(),
            Some("200")
        );
    }

    #[test]
    fn damaged_files_are_errors() {
        assert!(decode_raw("junk", Bytes::from_static(b"not parquet at all")).is_err());
    }
}

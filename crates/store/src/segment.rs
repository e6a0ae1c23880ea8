//! Sealed segments: immutable Parquet files of consecutive events, kept on
//! an `object_store` (the local filesystem by default, S3 and friends the
//! same way).
//!
//! One row per event, in log order. The promoted dd.audit fields are typed
//! columns so that a columnar engine can filter and aggregate them without
//! parsing JSON; `_raw` holds the exact stored bytes the ledger hashed, so
//! the event is kept losslessly and verification never depends on
//! re-encoding.
//!
//! | column | type |
//! | --- | --- |
//! | `_seq` | u64, the leaf index |
//! | `id` | utf8 |
//! | `timestamp`, `discovery_timestamp` | timestamp(ns, UTC) |
//! | `tiebreaker`, `ingest_size_in_bytes` | i64 |
//! | `random_draw` | f64 |
//! | `host`, `service`, `status`, `source` | dictionary<utf8> |
//! | `trace_id` | utf8 |
//! | `tags` | list<utf8> |
//! | `@usr.email`, `@usr.id`, `@evt.name`, `@evt.outcome`, `@action`, `@asset.type`, `@network.client.ip`, `@http.status_code`, `@auth_method` | dictionary<utf8> (first value, as text) |
//! | `_raw` | binary: the exact stored bytes, which hold everything else (see [`crate::raw_codec`]) |
//!
//! `message` has no column of its own: free text is answered by the term
//! index and the text is in `_raw`; a copy cost a sixth of the file.
//!
//! The manifest (`segments/manifest.json`) lists the sealed segments in
//! order; a segment exists once the manifest names it.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BinaryBuilder, DictionaryArray, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder, StringDictionaryBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit, UInt64Type};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use evident_model::StoredEvent;
use evident_search::ast::AttrPath;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::raw_codec::{RawCodecError, RawDecoder, encode_all};
use crate::value_counts::{ValueCounts, count_column, footer_entry};
use serde_json::Value;

/// The reserved fields kept as dictionary columns, in schema order.
pub const KEYWORD_COLUMNS: [&str; 4] = ["host", "service", "status", "source"];

/// Whether a segment column is dictionary-encoded: the keyword columns and
/// the promoted attributes (`@usr.email`, ...).
pub fn is_dictionary_column(name: &str) -> bool {
    name.starts_with('@') || KEYWORD_COLUMNS.contains(&name)
}

/// Attributes stored as their own columns: the ones audit queries filter
/// and group on most.
/// Segments list the ones they hold ([`SegmentMeta::promoted`]): a path
/// added here is a column only of segments sealed after it was.
pub const PROMOTED_ATTRIBUTES: [&str; 10] = [
    "usr.email",
    "usr.id",
    "evt.name",
    "evt.outcome",
    "action",
    "asset.type",
    "network.client.ip",
    "http.status_code",
    "auth_method",
    "network.client.geoip.country.name",
];

/// The promoted attributes of segments sealed before segments listed them.
const FIRST_PROMOTED: usize = 9;

/// Rows per Parquet row group: the unit of pruning.
const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Rows per write batch, the granularity at which page sizes are checked.
const RAW_PAGE_ROWS: usize = 16;
/// Target size of a `_raw` page before compression: about 20 events, so
/// that reading one event reads little else (4 KB is also what a disk
/// reads anyway).
const RAW_PAGE_BYTES: usize = 4 * 1024;
const RAW_ZSTD_LEVEL: i32 = 3;
/// Target size of a page of the sort-key columns (about 500 rows): every
/// candidate reads one of each.
const KEY_PAGE_BYTES: usize = 4 * 1024;

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
    #[error("syncing {path} to the disk: {source}")]
    Sync {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Raw(#[from] RawCodecError),
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
    /// Smallest and largest event id, to find an event by id; empty when
    /// unknown (every segment is then a candidate).
    #[serde(default)]
    pub min_id: String,
    #[serde(default)]
    pub max_id: String,
    /// Promoted attributes with several values in some event (or, when
    /// `whole_values`, a value that is not a scalar).
    #[serde(default)]
    pub multi_valued: Vec<String>,
    /// Each promoted column not in `multi_valued` holds the attribute's
    /// whole value in every row (segments sealed before this was tracked
    /// may have left objects out).
    #[serde(default)]
    pub whole_values: bool,
    /// The promoted attributes this segment has a column for.
    #[serde(default = "first_promoted")]
    pub promoted: Vec<String>,
    /// The `status` column holds, in every row, the value `status` groups
    /// on: no event left `status` to an attribute of that name (unknown,
    /// so false, for segments sealed before this was tracked).
    #[serde(default)]
    pub status_whole: bool,
    /// The distinct `source`s of its events (`""` for events without
    /// one), for retention per source; `None` for segments sealed before
    /// this was tracked.
    #[serde(default)]
    pub sources: Option<Vec<String>>,
}

impl SegmentMeta {
    pub fn rows(&self) -> u64 {
        self.end_sequence - self.first_sequence
    }

    /// Whether the event with `id` can be in this segment.
    pub fn may_hold_id(&self, id: &str) -> bool {
        self.min_id.is_empty() || (self.min_id.as_str() <= id && id <= self.max_id.as_str())
    }

    /// The column holding attribute `path`'s single value in every row,
    /// when the segment has one.
    pub fn whole_column(&self, path: &str) -> Option<String> {
        let held = self.whole_values
            && self.promoted.iter().any(|promoted| promoted == path)
            && !self.multi_valued.iter().any(|multi| multi == path);
        held.then(|| format!("@{path}"))
    }

    /// The object holding the segment's term index.
    pub fn terms_path(&self) -> String {
        let stem = self.path.strip_suffix(".parquet").unwrap_or(&self.path);
        format!("{stem}.terms")
    }
}

fn never_expires() -> i64 {
    i64::MAX
}

fn first_promoted() -> Vec<String> {
    PROMOTED_ATTRIBUTES[..FIRST_PROMOTED]
        .iter()
        .map(|path| (*path).to_string())
        .collect()
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
    let keyword = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut fields = vec![
        Field::new("_seq", DataType::UInt64, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("timestamp", time.clone(), false),
        Field::new("discovery_timestamp", time, false),
        Field::new("tiebreaker", DataType::Int64, false),
        Field::new("random_draw", DataType::Float64, false),
        Field::new("ingest_size_in_bytes", DataType::Int64, false),
        Field::new("host", keyword.clone(), true),
        Field::new("service", keyword.clone(), true),
        Field::new("status", keyword.clone(), true),
        Field::new("source", keyword.clone(), true),
        Field::new("trace_id", DataType::Utf8, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
    ];
    fields.extend(
        PROMOTED_ATTRIBUTES
            .iter()
            .map(|path| Field::new(format!("@{path}"), keyword.clone(), true)),
    );
    fields.push(Field::new("_raw", DataType::Binary, false));
    Arc::new(Schema::new(fields))
}

/// The distinct texts an attribute path holds, as `| stats` groups them
/// (numbers and booleans through their JSON text, arrays expanded).
#[cfg(test)]
fn promoted_texts(attributes: &serde_json::Map<String, Value>, path: &AttrPath) -> Vec<String> {
    texts_of(&path.resolve(attributes))
}

fn texts_of(values: &[&Value]) -> Vec<String> {
    let mut texts: Vec<String> = values
        .iter()
        .copied()
        .filter_map(|value| match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        })
        .collect();
    texts.sort_unstable();
    texts.dedup();
    texts
}

fn promoted_paths() -> Vec<AttrPath> {
    PROMOTED_ATTRIBUTES
        .iter()
        .filter_map(|path| AttrPath::new(path.split('.').map(str::to_string).collect()))
        .collect()
}

/// One event to seal: its sequence number, parsed form and exact bytes.
#[derive(Debug, Clone, Copy)]
pub struct SealInput<'a> {
    pub sequence: u64,
    pub event: &'a StoredEvent,
    pub raw: &'a [u8],
}

/// A segment file and what the manifest records about its contents.
#[derive(Debug)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub min_time: i64,
    pub max_time: i64,
    pub max_discovery: i64,
    pub min_id: String,
    pub max_id: String,
    /// Promoted attributes some event holds several values of, or an
    /// object: their column keeps the first scalar, so grouping must read
    /// the events.
    pub multi_valued: Vec<String>,
    /// No event has its status only as a `status` attribute.
    pub status_whole: bool,
    /// The distinct `source`s of the events (`""`: none).
    pub sources: BTreeSet<String>,
}

/// Encodes consecutive events as one Parquet file.
pub fn encode(events: &[SealInput<'_>]) -> Result<Encoded, SegmentError> {
    let mut builder = SegmentBuilder::new();
    for input in events {
        builder.push(input.sequence, input.event, Arc::from(input.raw));
    }
    builder.finish()
}

/// Builds a segment one event at a time, so that the seal never holds
/// more than one parsed event.
pub struct SegmentBuilder {
    paths: Vec<AttrPath>,
    sequence: UInt64Builder,
    id: StringBuilder,
    timestamp: TimestampNanosecondBuilder,
    discovery: TimestampNanosecondBuilder,
    tiebreaker: Int64Builder,
    random_draw: Float64Builder,
    size: Int64Builder,
    keywords: Vec<StringDictionaryBuilder<Int32Type>>,
    trace_id: StringBuilder,
    tags: ListBuilder<StringBuilder>,
    promoted_columns: Vec<StringDictionaryBuilder<Int32Type>>,
    multi_valued: Vec<bool>,
    payloads: Vec<Arc<[u8]>>,
    encoded: Encoded,
}

impl std::fmt::Debug for SegmentBuilder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SegmentBuilder")
            .field("events", &self.payloads.len())
            .finish_non_exhaustive()
    }
}

impl Default for SegmentBuilder {
    fn default() -> SegmentBuilder {
        SegmentBuilder::new()
    }
}

impl SegmentBuilder {
    pub fn new() -> SegmentBuilder {
        let paths = promoted_paths();
        SegmentBuilder {
            sequence: UInt64Builder::new(),
            id: StringBuilder::new(),
            timestamp: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            discovery: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            tiebreaker: Int64Builder::new(),
            random_draw: Float64Builder::new(),
            size: Int64Builder::new(),
            keywords: (0..4).map(|_| StringDictionaryBuilder::new()).collect(),
            trace_id: StringBuilder::new(),
            tags: ListBuilder::new(StringBuilder::new()),
            promoted_columns: paths
                .iter()
                .map(|_| StringDictionaryBuilder::new())
                .collect(),
            multi_valued: vec![false; paths.len()],
            paths,
            payloads: Vec::new(),
            encoded: Encoded {
                bytes: Vec::new(),
                min_time: i64::MAX,
                max_time: i64::MIN,
                max_discovery: i64::MIN,
                min_id: String::new(),
                max_id: String::new(),
                multi_valued: Vec::new(),
                status_whole: true,
                sources: BTreeSet::new(),
            },
        }
    }

    /// Adds the next event: its sequence number, parsed form and exact
    /// bytes.
    pub fn push(&mut self, sequence: u64, stored: &StoredEvent, raw: Arc<[u8]>) {
        let event = &stored.event;
        let encoded = &mut self.encoded;
        let time = stored.time_nanos();
        encoded.min_time = encoded.min_time.min(time);
        encoded.max_time = encoded.max_time.max(time);
        encoded.max_discovery = encoded
            .max_discovery
            .max(stored.discovery_timestamp.as_nanos());
        if encoded.min_id.is_empty() || stored.id < encoded.min_id {
            encoded.min_id.clone_from(&stored.id);
        }
        if stored.id > encoded.max_id {
            encoded.max_id.clone_from(&stored.id);
        }
        let source = event.source.as_deref().unwrap_or_default();
        if !encoded.sources.contains(source) {
            encoded.sources.insert(source.to_owned());
        }
        self.sequence.append_value(sequence);
        self.id.append_value(&stored.id);
        self.timestamp.append_value(time);
        self.discovery
            .append_value(stored.discovery_timestamp.as_nanos());
        self.tiebreaker.append_value(stored.tiebreaker);
        self.random_draw.append_value(stored.random_draw);
        self.size
            .append_value(i64::try_from(stored.ingest_size_in_bytes).unwrap_or(i64::MAX));
        // `status` groups on an attribute of that name when the event has
        // none of its own, and the column cannot say so.
        if event.status.is_none()
            && event
                .attributes
                .get("status")
                .is_some_and(|value| !value.is_null() && !value.is_object() && !value.is_array())
        {
            encoded.status_whole = false;
        }
        let keyword_values = [&event.host, &event.service, &event.status, &event.source];
        for (builder, value) in self.keywords.iter_mut().zip(keyword_values) {
            match value {
                Some(text) => builder.append_value(text),
                None => builder.append_null(),
            }
        }
        self.trace_id.append_option(event.trace_id.as_deref());
        for tag in &event.tags {
            self.tags.values().append_value(tag);
        }
        self.tags.append(true);
        for (index, path) in self.paths.iter().enumerate() {
            let values = path.resolve(&event.attributes);
            let texts = texts_of(&values);
            // The column is the attribute only where it holds one scalar.
            self.multi_valued[index] |= values.len() > 1
                || values
                    .iter()
                    .any(|value| value.is_object() || value.is_array());
            match texts.first() {
                Some(text) => self.promoted_columns[index].append_value(text),
                None => self.promoted_columns[index].append_null(),
            }
        }
        self.payloads.push(raw);
    }

    /// The Parquet file of every event pushed.
    pub fn finish(self) -> Result<Encoded, SegmentError> {
        let SegmentBuilder {
            mut sequence,
            mut id,
            mut timestamp,
            mut discovery,
            mut tiebreaker,
            mut random_draw,
            mut size,
            mut keywords,
            mut trace_id,
            mut tags,
            mut promoted_columns,
            multi_valued,
            payloads,
            mut encoded,
            ..
        } = self;
        let schema = schema();
        let mut raw = BinaryBuilder::new();
        let payloads: Vec<&[u8]> = payloads.iter().map(|raw| &raw[..]).collect();
        let (compressed, dictionary) = encode_all(&payloads)?;
        for value in &compressed {
            raw.append_value(value);
        }
        encoded.multi_valued = PROMOTED_ATTRIBUTES
            .iter()
            .zip(&multi_valued)
            .filter(|(_, multi)| **multi)
            .map(|(path, _)| (*path).to_string())
            .collect();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(sequence.finish()),
            Arc::new(id.finish()),
            Arc::new(timestamp.finish()),
            Arc::new(discovery.finish()),
            Arc::new(tiebreaker.finish()),
            Arc::new(random_draw.finish()),
            Arc::new(size.finish()),
        ];
        let keywords: Vec<DictionaryArray<Int32Type>> = keywords
            .iter_mut()
            .map(|builder| builder.finish())
            .collect();
        let promoted: Vec<DictionaryArray<Int32Type>> = promoted_columns
            .iter_mut()
            .map(|builder| builder.finish())
            .collect();
        let names = KEYWORD_COLUMNS
            .iter()
            .map(|name| (*name).to_string())
            .chain(PROMOTED_ATTRIBUTES.iter().map(|path| format!("@{path}")));
        let mut value_counts = ValueCounts::new();
        for (name, column) in names.zip(keywords.iter().chain(&promoted)) {
            if let Some(counts) = count_column(column) {
                value_counts.insert(name, counts);
            }
        }
        columns.extend(
            keywords
                .into_iter()
                .map(|column| Arc::new(column) as ArrayRef),
        );
        columns.push(Arc::new(trace_id.finish()));
        columns.push(Arc::new(tags.finish()));
        columns.extend(
            promoted
                .into_iter()
                .map(|column| Arc::new(column) as ArrayRef),
        );
        columns.push(Arc::new(raw.finish()));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;

        // Small pages for `_raw`: a lookup decompresses only the pages of the
        // rows it reads, which the offset index locates.
        // The sort-key columns get small pages too, as every search reads them
        // for its candidates; random values do not compress, so they are not.
        let mut properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(RAW_ZSTD_LEVEL)?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_write_batch_size(RAW_PAGE_ROWS)
            .set_column_data_page_size_limit(ColumnPath::from("_raw"), RAW_PAGE_BYTES);
        for column in ["timestamp", "tiebreaker", "_seq", "id"] {
            properties = properties
                .set_column_data_page_size_limit(ColumnPath::from(column), KEY_PAGE_BYTES);
        }
        // Dictionary pages only pay for keyword columns; for unique values
        // they are up to 1 MB read before any row of a row group.
        properties = properties.set_dictionary_enabled(false);
        let keywords = KEYWORD_COLUMNS
            .into_iter()
            .map(ColumnPath::from)
            .chain(
                PROMOTED_ATTRIBUTES
                    .iter()
                    .map(|path| ColumnPath::from(format!("@{path}"))),
            )
            .chain(std::iter::once(ColumnPath::new(vec![
                "tags".into(),
                "list".into(),
                "item".into(),
            ])));
        for column in keywords {
            properties = properties.set_column_dictionary_enabled(column, true);
        }
        // Sequences and times mostly climb: delta encoding shrinks them without
        // a codec to run per page read.
        for column in ["timestamp", "_seq"] {
            properties = properties
                .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED)
                .set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED);
        }
        for column in ["tiebreaker", "random_draw"] {
            properties = properties
                .set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED);
        }
        if dictionary.is_some() {
            // Each value is compressed already; compressing pages again only
            // costs time.
            properties = properties
                .set_column_compression(ColumnPath::from("_raw"), Compression::UNCOMPRESSED);
        }
        let properties = properties
            .set_key_value_metadata(Some(
                dictionary
                    .into_iter()
                    .chain([footer_entry(&value_counts)])
                    .collect(),
            ))
            .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties))?;
        writer.write(&batch)?;
        encoded.bytes = writer.into_inner()?;
        Ok(encoded)
    }
}

/// Hands every event of a segment file to `visit` in row order, with its
/// sequence number and exact bytes (in a buffer reused for the next): what
/// recovery and verification need.
pub fn for_each_raw(
    path: &str,
    bytes: Bytes,
    mut visit: impl FnMut(u64, &[u8]),
) -> Result<(), SegmentError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let decoder = RawDecoder::new(builder.metadata().file_metadata().key_value_metadata())?;
    let mut session = decoder.session()?;
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
    let mut buffer = Vec::new();
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
            session.decode_into(raw, &mut buffer)?;
            visit(sequence, &buffer);
        }
    }
    Ok(())
}

/// Where segments and the manifest live.
#[derive(Debug, Clone)]
pub struct SegmentStore {
    objects: Arc<dyn ObjectStore>,
    /// The folder `objects` writes into, when it is the local disk: each
    /// put is synced there (object_store's local store does not sync).
    local_root: Option<std::path::PathBuf>,
}

const MANIFEST: &str = "segments/manifest.json";

impl SegmentStore {
    /// Segments on an object store whose puts are durable when they
    /// return (S3, GCS, Azure).
    pub fn new(objects: Arc<dyn ObjectStore>) -> SegmentStore {
        SegmentStore {
            objects,
            local_root: None,
        }
    }

    /// Segments on the local disk under `root` (`objects` writes there):
    /// every put is synced, file and folder, before it returns.
    pub fn on_disk(objects: Arc<dyn ObjectStore>, root: &std::path::Path) -> SegmentStore {
        SegmentStore {
            objects,
            local_root: Some(root.to_path_buf()),
        }
    }

    async fn put_durably(&self, path: &str, bytes: Vec<u8>) -> Result<(), SegmentError> {
        self.objects
            .put(&ObjectPath::from(path), bytes.into())
            .await?;
        if let Some(root) = &self.local_root {
            // Puts run on the store's blocking paths (sealing, retention),
            // never on a server's async threads: syncing here is in place.
            evident_durable::sync_written(&root.join(path)).map_err(|source| {
                SegmentError::Sync {
                    path: path.to_owned(),
                    source,
                }
            })?;
        }
        Ok(())
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
        self.put_durably(MANIFEST, bytes).await
    }

    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), SegmentError> {
        self.put_durably(path, bytes).await
    }

    pub async fn delete(&self, path: &str) -> Result<(), SegmentError> {
        self.objects.delete(&ObjectPath::from(path)).await?;
        Ok(())
    }

    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
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
        let encoded = encode(&inputs).expect("encode");
        assert!(encoded.min_time < encoded.max_time);
        assert_eq!(
            (encoded.min_id.as_str(), encoded.max_id.as_str()),
            ("id-0", "id-999")
        );
        assert!(encoded.multi_valued.is_empty());
        let mut rows = Vec::new();
        for_each_raw("test", Bytes::from(encoded.bytes), |sequence, raw| {
            rows.push((sequence, raw.to_vec()))
        })
        .expect("decode");
        assert_eq!(rows.len(), 1000);
        for (index, (sequence, raw)) in rows.iter().enumerate() {
            assert_eq!(*sequence, 500 + index as u64);
            assert_eq!(raw, &raws[index]);
        }
        let path = |text: &str| {
            AttrPath::new(text.split('.').map(str::to_string).collect()).expect("path")
        };
        let attributes = &events[3].event.attributes;
        assert_eq!(promoted_texts(attributes, &path("usr.email")), ["u3@x.io"]);
        assert_eq!(
            promoted_texts(attributes, &path("http.status_code")),
            ["200"]
        );
    }

    #[test]
    fn several_values_or_an_object_mark_the_column() {
        // The column holds one scalar; an array or an object is more.
        for value in [
            serde_json::json!(["a", "b", "a"]),
            serde_json::json!({"kind": "a"}),
        ] {
            let mut event = stored(1);
            event.event.attributes.insert("action".into(), value);
            let raw = event.to_bytes();
            let encoded = encode(&[SealInput {
                sequence: 0,
                event: &event,
                raw: &raw,
            }])
            .expect("encode");
            assert_eq!(encoded.multi_valued, ["action"]);
        }
    }

    #[test]
    fn a_status_left_to_an_attribute_marks_the_status_column() {
        let seal = |event: &StoredEvent| {
            let raw = event.to_bytes();
            encode(&[SealInput {
                sequence: 0,
                event,
                raw: &raw,
            }])
            .expect("encode")
        };
        assert!(seal(&stored(1)).status_whole);
        let mut event = stored(1);
        event.event.attributes.insert("status".into(), 500.into());
        assert!(!seal(&event).status_whole);
        event.event.status = Some("error".into());
        assert!(seal(&event).status_whole, "the event's own status wins");
    }

    #[test]
    fn segments_sealed_before_the_lists_hold_the_first_promoted_columns() {
        let meta: SegmentMeta = serde_json::from_value(serde_json::json!({
            "path": "segments/a.parquet", "first_sequence": 0, "end_sequence": 1,
            "min_time": 0, "max_time": 0, "bytes": 1, "whole_values": true,
        }))
        .expect("an older manifest entry");
        assert_eq!(
            meta.whole_column("usr.email").as_deref(),
            Some("@usr.email")
        );
        assert_eq!(meta.whole_column("network.client.geoip.country.name"), None);
        assert!(!meta.status_whole);
    }

    #[test]
    fn damaged_files_are_errors() {
        assert!(
            for_each_raw("junk", Bytes::from_static(b"not parquet at all"), |_, _| {}).is_err()
        );
    }
}

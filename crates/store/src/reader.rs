//! Range reads of sealed segments: only the footer, the page index and the
//! pages holding the wanted rows of the wanted columns leave the object
//! store. Works the same on the local filesystem and on S3.

use std::ops::Range;
use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};

use crate::segment::{SegmentError, SegmentMeta};

/// One segment object, read by byte ranges.
#[derive(Debug, Clone)]
struct SegmentFile {
    objects: Arc<dyn ObjectStore>,
    path: ObjectPath,
    size: u64,
}

fn parquet_error(error: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

impl AsyncFileReader for SegmentFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.objects
                .get_range(&self.path, range)
                .await
                .map_err(parquet_error)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.objects
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(parquet_error)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let mut reader = ParquetMetaDataReader::new().with_prefetch_hint(Some(64 * 1024));
            if let Some(options) = options {
                reader = reader
                    .with_column_index_policy(options.column_index_policy())
                    .with_offset_index_policy(options.offset_index_policy())
                    .with_metadata_options(Some(options.metadata_options().clone()));
            }
            let metadata = reader.load_and_finish(self, size).await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

fn file(objects: &Arc<dyn ObjectStore>, meta: &SegmentMeta) -> SegmentFile {
    SegmentFile {
        objects: Arc::clone(objects),
        path: ObjectPath::from(meta.path.as_str()),
        size: meta.bytes,
    }
}

/// The segment's Parquet metadata with its page index, kept by callers so
/// that each read skips straight to the pages it needs.
pub async fn reader_metadata(
    objects: &Arc<dyn ObjectStore>,
    meta: &SegmentMeta,
) -> Result<ArrowReaderMetadata, SegmentError> {
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    Ok(ArrowReaderMetadata::load_async(&mut file(objects, meta), options).await?)
}

/// The named top-level columns of the rows at `rows` (offsets into the
/// segment, ascending), or of every row, as batches in row order.
pub async fn read_batches(
    objects: &Arc<dyn ObjectStore>,
    meta: &SegmentMeta,
    metadata: &ArrowReaderMetadata,
    columns: &[&str],
    rows: Option<&[u32]>,
) -> Result<Vec<RecordBatch>, SegmentError> {
    let arrow_schema = metadata.schema();
    let mut roots = Vec::with_capacity(columns.len());
    for column in columns {
        roots.push(
            arrow_schema
                .index_of(column)
                .map_err(|_| SegmentError::Damaged {
                    path: meta.path.clone(),
                    reason: format!("no column {column}"),
                })?,
        );
    }
    let mut builder =
        ParquetRecordBatchStreamBuilder::new_with_metadata(file(objects, meta), metadata.clone());
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    builder = builder.with_projection(mask).with_batch_size(BATCH_ROWS);
    if let Some(rows) = rows {
        let total = usize::try_from(meta.rows()).unwrap_or(usize::MAX);
        builder = builder.with_row_selection(selection(rows, total));
    }
    let stream = builder.build()?;
    Ok(stream.try_collect().await?)
}

/// Batches of [`read_batches`] as one (an empty one with the asked
/// columns when no row was read).
pub fn concat_rows(
    metadata: &ArrowReaderMetadata,
    columns: &[&str],
    batches: &[RecordBatch],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    match batches {
        [] => {
            let indices: Vec<usize> = columns
                .iter()
                .filter_map(|column| metadata.schema().index_of(column).ok())
                .collect();
            Ok(RecordBatch::new_empty(Arc::new(
                metadata.schema().project(&indices)?,
            )))
        }
        [only] => Ok(only.clone()),
        [first, ..] => concat_batches(&first.schema(), batches),
    }
}

/// Rows decoded at a time: a row group's worth, so that a column of a
/// segment arrives in a few batches.
const BATCH_ROWS: usize = 64 * 1024;

/// The row ranges covering `rows` (ascending offsets).
fn selection(rows: &[u32], total: usize) -> RowSelection {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for &row in rows {
        let row = row as usize;
        if row >= total {
            break;
        }
        match ranges.last_mut() {
            Some(last) if last.end == row => last.end += 1,
            _ => ranges.push(row..row + 1),
        }
    }
    RowSelection::from_consecutive_ranges(ranges.into_iter(), total)
}

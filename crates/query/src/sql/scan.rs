//! The rows of one `dd.audit(...)` call: the store's search path (time
//! pruning, the term index, the reference matcher) finds the events the
//! filter accepts in the window, and each becomes a row of the declared
//! columns. Partitions split the sealed segments between cores; the first
//! also reads the unsealed tail.

use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use evident_model::StoredEvent;
use evident_search::Expr;
use evident_store::segment::is_dictionary_column;
use evident_store::{Sealed, Snapshot, Store};
use tokio::sync::mpsc::Sender;

use super::columns::{CastError, ColumnBuilder, OutputColumn, cell_at, convert_whole};
use crate::QueryError;
use crate::candidates::{
    Plan, Window, candidate_matches, candidate_rows, segment_matches, tail_matches,
};

/// Below one candidate in this many rows, a segment's keyword columns are
/// not read for them: the candidates' events are.
const SPARSE_FRACTION: u64 = 64;

/// What every partition of one call shares.
#[derive(Debug)]
pub struct AuditRequest {
    pub store: Arc<Store>,
    pub snapshot: Snapshot,
    pub filter: Expr,
    pub window: Window,
    pub columns: Vec<OutputColumn>,
    pub schema: SchemaRef,
}

/// One partition: every `parts`-th sealed segment from `part`.
#[derive(Debug, Clone)]
pub struct AuditPartition {
    pub request: Arc<AuditRequest>,
    pub part: usize,
    pub parts: usize,
}

impl PartitionStream for AuditPartition {
    fn schema(&self) -> &SchemaRef {
        &self.request.schema
    }

    fn execute(&self, context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batch_rows = context.session_config().batch_size();
        let mut builder =
            RecordBatchReceiverStreamBuilder::new(Arc::clone(&self.request.schema), 2);
        let sender = builder.tx();
        let partition = self.clone();
        builder.spawn_blocking(move || partition.produce(&sender, batch_rows));
        builder.build()
    }
}

impl AuditPartition {
    fn produce(
        &self,
        sender: &Sender<Result<RecordBatch, DataFusionError>>,
        batch_rows: usize,
    ) -> Result<(), DataFusionError> {
        let request = &self.request;
        let plan = Plan::new(&request.filter);
        let mut rows = Rows::new(request, batch_rows, sender);
        for sealed in request
            .snapshot
            .sealed
            .iter()
            .skip(self.part)
            .step_by(self.parts)
        {
            let columns: Option<Vec<String>> = request
                .columns
                .iter()
                .map(|column| column.segment_column(&sealed.meta))
                .collect();
            match columns {
                // The index decides the filter and the segment's columns
                // hold every value: no event is read.
                Some(columns) if plan.exact => {
                    self.read_columns(sealed, &plan, &columns, &mut rows)?;
                }
                _ => segment_matches(&request.store, sealed, &plan, request.window, |stored| {
                    rows.push(&stored);
                })
                .map_err(external)?,
            }
            rows.check()?;
            if rows.closed {
                return Ok(());
            }
        }
        if self.part == 0 {
            tail_matches(&request.snapshot, &plan, request.window, |stored| {
                rows.push(&stored);
            })
            .map_err(external)?;
            rows.check()?;
        }
        rows.flush();
        Ok(())
    }

    /// The rows of a segment read from its columns: the candidates in the
    /// window, each output column converted whole where it can be.
    fn read_columns(
        &self,
        sealed: &Sealed,
        plan: &Plan<'_>,
        columns: &[String],
        rows: &mut Rows<'_>,
    ) -> Result<(), DataFusionError> {
        let request = &self.request;
        let candidates =
            candidate_rows(&request.store, sealed, plan, request.window).map_err(external)?;
        if candidates.is_empty() {
            return Ok(());
        }
        // A few rows of a keyword column cost its whole dictionary page;
        // their events' bytes, a page each, cost less.
        let sparse = (candidates.len() as u64).saturating_mul(SPARSE_FRACTION) < sealed.meta.rows();
        if sparse && columns.iter().any(|name| is_dictionary_column(name)) {
            candidate_matches(&request.store, sealed, plan, &candidates, |stored| {
                rows.push(&stored);
            })
            .map_err(external)?;
            return Ok(());
        }
        let every_row = candidates.len() as u64 == sealed.meta.rows();
        let mut unique: Vec<&str> = columns.iter().map(String::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        let batch = request
            .store
            .read_sealed(
                sealed,
                &unique,
                (!every_row).then_some(candidates.as_slice()),
            )
            .map_err(|error| external(QueryError::from(error)))?;
        let mut arrays = Vec::with_capacity(columns.len());
        for (output, name) in request.columns.iter().zip(columns) {
            let Some(array) = batch.column_by_name(name) else {
                return Err(external(QueryError::Damaged {
                    path: sealed.meta.path.clone(),
                    reason: format!("no column {name}"),
                }));
            };
            let converted = match convert_whole(array, output.kind) {
                Some(converted) => converted,
                None => {
                    let mut builder = ColumnBuilder::new(output.kind);
                    for row in 0..array.len() {
                        builder
                            .append(output, &cell_at(array.as_ref(), row))
                            .map_err(|error| DataFusionError::External(Box::new(error)))?;
                    }
                    builder.finish()
                }
            };
            arrays.push(converted);
        }
        let batch = RecordBatch::try_new(Arc::clone(&request.schema), arrays)
            .map_err(|error| DataFusionError::ArrowError(Box::new(error), None))?;
        rows.send(batch);
        Ok(())
    }
}

fn external(error: QueryError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// Rows being built, sent on in batches.
struct Rows<'r> {
    columns: &'r [OutputColumn],
    schema: &'r SchemaRef,
    builders: Vec<ColumnBuilder>,
    filled: usize,
    batch_rows: usize,
    sender: &'r Sender<Result<RecordBatch, DataFusionError>>,
    /// The first value that did not fit its column; the query fails with it.
    failed: Option<CastError>,
    /// The consumer went away (a LIMIT was reached, the client left).
    closed: bool,
}

impl<'r> Rows<'r> {
    fn new(
        request: &'r AuditRequest,
        batch_rows: usize,
        sender: &'r Sender<Result<RecordBatch, DataFusionError>>,
    ) -> Rows<'r> {
        Rows {
            columns: &request.columns,
            schema: &request.schema,
            builders: request
                .columns
                .iter()
                .map(|column| ColumnBuilder::new(column.kind))
                .collect(),
            filled: 0,
            batch_rows: batch_rows.max(1),
            sender,
            failed: None,
            closed: false,
        }
    }

    fn push(&mut self, stored: &StoredEvent) {
        if self.failed.is_some() || self.closed {
            return;
        }
        for (column, builder) in self.columns.iter().zip(&mut self.builders) {
            if let Err(error) = builder.append(column, &column.source.read(stored)) {
                self.failed = Some(error);
                return;
            }
        }
        self.filled += 1;
        if self.filled == self.batch_rows {
            self.flush();
        }
    }

    fn check(&mut self) -> Result<(), DataFusionError> {
        match self.failed.take() {
            Some(error) => Err(DataFusionError::External(Box::new(error))),
            None => Ok(()),
        }
    }

    fn flush(&mut self) {
        if self.filled == 0 || self.closed {
            return;
        }
        self.filled = 0;
        let arrays = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(self.schema), arrays)
            .map_err(|error| DataFusionError::ArrowError(Box::new(error), None));
        if self.sender.blocking_send(batch).is_err() {
            self.closed = true;
        }
    }

    /// Sends rows built elsewhere, after those built here, in batches of
    /// the usual size.
    fn send(&mut self, batch: RecordBatch) {
        self.flush();
        let mut offset = 0;
        while offset < batch.num_rows() && !self.closed {
            let length = self.batch_rows.min(batch.num_rows() - offset);
            if self
                .sender
                .blocking_send(Ok(batch.slice(offset, length)))
                .is_err()
            {
                self.closed = true;
            }
            offset += length;
        }
    }
}

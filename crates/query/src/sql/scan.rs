//! The rows of one `dd.audit(...)` call: the store's search path (time
//! pruning, the term index, the reference matcher) finds the events the
//! filter accepts in the window, and each becomes a row of the declared
//! columns. Partitions split the sealed segments between cores; the first
//! also reads the unsealed tail.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use evident_model::StoredEvent;
use evident_search::Expr;
use evident_store::{Snapshot, Store};
use tokio::sync::mpsc::Sender;

use super::columns::{CastError, ColumnBuilder, OutputColumn};
use crate::candidates::{Plan, Window, segment_matches, tail_matches};

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
            segment_matches(&request.store, sealed, &plan, request.window, |stored| {
                rows.push(&stored);
            })
            .map_err(|error| DataFusionError::External(Box::new(error)))?;
            rows.check()?;
            if rows.closed {
                return Ok(());
            }
        }
        if self.part == 0 {
            tail_matches(&request.snapshot, &plan, request.window, |stored| {
                rows.push(&stored);
            })
            .map_err(|error| DataFusionError::External(Box::new(error)))?;
            rows.check()?;
        }
        rows.flush();
        Ok(())
    }
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
}

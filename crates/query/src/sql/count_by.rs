//! `SELECT c, count(*) FROM dd.audit(...) AS (c VARCHAR) GROUP BY c`, and
//! `SELECT count(*) FROM dd.audit(...)`:
//! counting by one text column is the question audit analytics asks most
//! ("events by type", "top users"), and the store answers it without
//! producing a row per event. An optimizer rule replaces such an aggregate
//! right over a `dd.audit` call with a scan of the counts.
//!
//! The counts are what the SQL would compute over the rows: a segment
//! whose column holds every value whole counts its dictionary keys (or
//! adds up the counts its footer keeps, when the window covers it and the
//! filter selects every row); any other segment, and the unsealed tail,
//! counts the text each event gives the column. Only text columns
//! qualify, so no value can fail a cast.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::datasource::{TableProvider, TableType, provider_as_source, source_as_provider};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{
    Aggregate, Expr, LogicalPlan, LogicalPlanBuilder, Projection, TableScan,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use evident_model::StoredEvent;
use evident_store::segment::is_dictionary_column;

use super::columns::ColumnType;
use super::scan::AuditRequest;
use crate::QueryError;
use crate::aggregate::{Counts, Slots, count_columns};
use crate::candidates::{Plan, in_parallel, segment_matches, tail_matches};

/// The table a `dd.audit(...)` call plans to: its rows, and the request
/// behind them for the rule to find.
#[derive(Debug)]
pub struct AuditTable {
    pub request: Arc<AuditRequest>,
    pub rows: StreamingTable,
}

#[async_trait]
impl TableProvider for AuditTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.request.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.rows.scan(state, projection, filters, limit).await
    }
}

/// Replaces `Aggregate(group by [c], [count(*)...])` over a `dd.audit`
/// scan with the counts.
#[derive(Debug, Default)]
pub struct CountByRule;

impl OptimizerRule for CountByRule {
    fn name(&self) -> &str {
        "evident_count_by"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = &plan else {
            return Ok(Transformed::no(plan));
        };
        match counts_plan(aggregate)? {
            Some(rewritten) => Ok(Transformed::yes(rewritten)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

/// The scan of counts standing for `aggregate`, when it counts rows,
/// grouped by one text column of a `dd.audit` call or not at all, and
/// computes nothing else.
fn counts_plan(aggregate: &Aggregate) -> Result<Option<LogicalPlan>> {
    let group = match aggregate.group_expr.as_slice() {
        [] => None,
        [Expr::Column(group)] => Some(group),
        _ => return Ok(None),
    };
    if aggregate.aggr_expr.is_empty() || !aggregate.aggr_expr.iter().all(counts_rows) {
        return Ok(None);
    }
    let mut input = aggregate.input.as_ref();
    while let LogicalPlan::SubqueryAlias(alias) = input {
        input = alias.input.as_ref();
    }
    let LogicalPlan::TableScan(scan) = input else {
        return Ok(None);
    };
    let Some((request, column)) = audit_column(scan, group)? else {
        return Ok(None);
    };
    if column.is_some_and(|column| request.columns[column].kind != ColumnType::Text) {
        return Ok(None);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("value", DataType::Utf8, true),
        Field::new("count", DataType::Int64, false),
    ]));
    let partition = CountsPartition {
        request,
        column,
        schema: Arc::clone(&schema),
    };
    let table = StreamingTable::try_new(Arc::clone(&schema), vec![Arc::new(partition)])?;
    let counts =
        LogicalPlanBuilder::scan("audit_counts", provider_as_source(Arc::new(table)), None)?
            .build()?;
    let value = Expr::Column(Column::new(Some("audit_counts"), "value"));
    let count = Expr::Column(Column::new(Some("audit_counts"), "count"));
    let mut exprs = Vec::new();
    if column.is_some() {
        exprs.push(value);
    }
    exprs.extend(aggregate.aggr_expr.iter().map(|_| count.clone()));
    let projection =
        Projection::try_new_with_schema(exprs, Arc::new(counts), Arc::clone(&aggregate.schema))?;
    Ok(Some(LogicalPlan::Projection(projection)))
}

/// `count(*)`, `count(1)`: every row, whatever its values.
fn counts_rows(expr: &Expr) -> bool {
    let expr = match expr {
        Expr::Alias(alias) => alias.expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else {
        return false;
    };
    *func.as_ref() == *count_udaf()
        && !params.distinct
        && params.filter.is_none()
        && params.order_by.is_empty()
        && matches!(params.args.as_slice(), [Expr::Literal(value, _)] if !value.is_null())
}

/// The `dd.audit` request a scan reads and the index of `group` among its
/// columns (none when counting without groups).
fn audit_column(
    scan: &TableScan,
    group: Option<&Column>,
) -> Result<Option<(Arc<AuditRequest>, Option<usize>)>> {
    if !scan.filters.is_empty() || scan.fetch.is_some() {
        return Ok(None);
    }
    let provider = source_as_provider(&scan.source)?;
    let any: &dyn std::any::Any = provider.as_ref();
    let Some(table) = any.downcast_ref::<AuditTable>() else {
        return Ok(None);
    };
    let request = Arc::clone(&table.request);
    let Some(group) = group else {
        return Ok(Some((request, None)));
    };
    let Ok(position) = scan.projected_schema.index_of_column(group) else {
        return Ok(None);
    };
    let column = match &scan.projection {
        Some(projection) => projection.get(position).copied(),
        None => Some(position),
    };
    Ok(column.map(|column| (request, Some(column))))
}

/// Computes the counts when the plan runs.
#[derive(Debug)]
struct CountsPartition {
    request: Arc<AuditRequest>,
    /// The grouping column; `None`: one count of every row.
    column: Option<usize>,
    schema: SchemaRef,
}

impl PartitionStream for CountsPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&self.schema), 1);
        let sender = builder.tx();
        let request = Arc::clone(&self.request);
        let column = self.column;
        let schema = Arc::clone(&self.schema);
        builder.spawn_blocking(move || {
            let counts = count(&request, column)
                .map_err(|error| DataFusionError::External(Box::new(error)))?;
            let mut values = StringBuilder::new();
            let mut totals = Int64Builder::new();
            for (value, total) in counts {
                values.append_option(value);
                totals.append_value(i64::try_from(total).unwrap_or(i64::MAX));
            }
            let batch = RecordBatch::try_new(
                schema,
                vec![Arc::new(values.finish()), Arc::new(totals.finish())],
            )
            .map_err(|error| DataFusionError::ArrowError(Box::new(error), None));
            // A consumer that went away needs nothing more.
            let _ = sender.blocking_send(batch);
            Ok(())
        });
        builder.build()
    }
}

/// Rows per text of the column (`None`: the column is NULL; everything
/// under `None` when there is no column), over the events the request
/// selects.
fn count(
    request: &AuditRequest,
    column: Option<usize>,
) -> Result<HashMap<Option<String>, u64>, QueryError> {
    let output = column.map(|column| &request.columns[column]);
    let key = |stored: &StoredEvent| output.and_then(|output| output.source.read(stored).text());
    let plan = Plan::new(&request.filter);
    let store = &request.store;
    // Segments whose footer counts answer (every row selected, the window
    // covering them, the column served), added up by reference: copying
    // thousands of values a segment would cost more than the counting.
    let mut footers = Vec::new();
    let mut segments = Vec::new();
    for sealed in request.snapshot.sealed.iter() {
        let meta = &sealed.meta;
        if !request.window.overlaps(meta.min_time, meta.max_time) {
            continue;
        }
        let name = output.and_then(|output| output.segment_column(meta));
        if let Some(name) = name
            && plan.exact
            && plan.every_row()
            && request.window.covers(meta.min_time, meta.max_time)
        {
            let counts = store.value_counts(sealed)?;
            if counts.contains_key(&name) {
                footers.push((counts, name));
                continue;
            }
        }
        segments.push(sealed);
    }
    let mut by_reference: HashMap<Option<&str>, u64> = HashMap::new();
    for (counts, name) in &footers {
        for (value, total) in counts.get(name).into_iter().flatten() {
            *by_reference.entry(value.as_deref()).or_default() += total;
        }
    }
    let per_segment = in_parallel(&segments, |sealed| {
        let mut counts: HashMap<Option<String>, u64> = HashMap::new();
        // Dictionary columns only: those are the ones counted by key.
        let served = match output {
            None => Some(Vec::new()),
            Some(output) => output
                .segment_column(&sealed.meta)
                .filter(|name| is_dictionary_column(name))
                .map(|name| vec![name]),
        };
        match served {
            Some(columns) if plan.exact => {
                let mut groups = Counts::new();
                count_columns(
                    store,
                    sealed,
                    &plan,
                    request.window,
                    &columns,
                    Slots::Total,
                    &mut groups,
                )?;
                for ((_, mut group), total) in groups {
                    *counts.entry(group.pop().flatten()).or_default() += total;
                }
            }
            _ => segment_matches(store, sealed, &plan, request.window, |stored| {
                *counts.entry(key(&stored)).or_default() += 1;
            })?,
        }
        Ok(counts)
    })?;
    let mut counts: HashMap<Option<String>, u64> = by_reference
        .into_iter()
        .map(|(value, total)| (value.map(str::to_string), total))
        .collect();
    for segment_counts in per_segment {
        for (value, total) in segment_counts {
            *counts.entry(value).or_default() += total;
        }
    }
    tail_matches(&request.snapshot, &plan, request.window, |stored| {
        *counts.entry(key(&stored)).or_default() += 1;
    })?;
    if column.is_none() {
        // One row, even over no events: `count(*)` of nothing is 0.
        counts.entry(None).or_default();
    }
    Ok(counts)
}

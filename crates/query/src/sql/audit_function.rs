//! `dd.audit(columns => ARRAY[...], filter => '...', from_timestamp => ...,
//! to_timestamp => ...) AS (name TYPE, ...)`: planned from the SQL tree by
//! a DataFusion `RelationPlanner`, since a stock table function takes
//! neither named arguments nor a typed column list.
//!
//! The filter and the time bounds go to the store (index and pruning), not
//! into a SQL filter over every event; everything around the call is
//! ordinary DataFusion SQL.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::{DFSchema, ScalarValue, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, TableAlias, TableFactor, Value,
};
use evident_model::{Timestamp, parse_time};
use evident_store::Store;

use super::SqlContext;
use super::columns::{ColumnSource, ColumnType, OutputColumn};
use super::count_by::AuditTable;
use super::rewrite::IMPLICIT_ALIAS;
use super::scan::{AuditPartition, AuditRequest};
use crate::candidates::Window;

const ARGUMENTS: [&str; 4] = ["columns", "filter", "from_timestamp", "to_timestamp"];

/// Plans `dd.audit(...)` calls over `store`.
#[derive(Debug)]
pub struct AuditFunction {
    pub store: Arc<Store>,
    pub context: SqlContext,
}

impl RelationPlanner for AuditFunction {
    fn plan_relation(
        &self,
        relation: TableFactor,
        planner: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::Table {
            name,
            args,
            alias,
            with_hints,
            version,
            with_ordinality,
            partitions,
            json_path,
            sample,
            index_hints,
        } = &relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        // `dd.audit` arrives as one quoted name (see `rewrite`), or as
        // written when planned without the rewrite.
        let full_name = name
            .0
            .iter()
            .filter_map(|part| part.as_ident().map(|ident| ident.value.as_str()))
            .collect::<Vec<_>>()
            .join(".");
        let Some(dataset) = full_name
            .get(..3)
            .filter(|schema| schema.eq_ignore_ascii_case("dd."))
            .map(|_| &full_name[3..])
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        if !dataset.eq_ignore_ascii_case("audit") {
            return plan_err!("unknown dataset dd.{dataset}: evident serves dd.audit");
        }
        let Some(args) = args else {
            return plan_err!(
                "dd.audit is a table function: dd.audit(columns => ARRAY['timestamp', ...]) AS (ts TIMESTAMP, ...)"
            );
        };
        if !with_hints.is_empty()
            || version.is_some()
            || *with_ordinality
            || !partitions.is_empty()
            || json_path.is_some()
            || sample.is_some()
            || !index_hints.is_empty()
            || args.settings.is_some()
        {
            return plan_err!("dd.audit takes no table hints, versions, samples or settings");
        }
        let arguments = Arguments::read(&args.args)?;
        let Some(columns) = arguments.columns else {
            return plan_err!("dd.audit needs columns => ARRAY['timestamp', '@usr.email', ...]");
        };
        let columns = column_names(columns)?;
        let declared = match alias {
            Some(alias) if !alias.columns.is_empty() => &alias.columns,
            _ => {
                return plan_err!(
                    "dd.audit needs a typed column list after it: AS ({})",
                    example_list(&columns)
                );
            }
        };
        if declared.len() != columns.len() {
            return plan_err!(
                "dd.audit names {} columns but AS (...) declares {}: declare one name and type per column",
                columns.len(),
                declared.len()
            );
        }
        let mut output = Vec::with_capacity(columns.len());
        for (source_name, definition) in columns.iter().zip(declared) {
            let name = planner.normalize_ident(definition.name.clone());
            let Some(data_type) = &definition.data_type else {
                return plan_err!(
                    "column {name} needs a type: {name} VARCHAR, {name} TIMESTAMP, ..."
                );
            };
            let kind = ColumnType::from_sql(data_type)
                .or_else(|message| plan_err!("column {name}: {message}"))?;
            let source =
                ColumnSource::parse(source_name).or_else(|message| plan_err!("{message}"))?;
            output.push(OutputColumn { source, name, kind });
        }
        let filter = match arguments.filter {
            None => evident_search::Expr::All,
            Some(argument) => filter(argument)?,
        };
        let now = self.context.now;
        let from = arguments
            .from
            .map(|expr| time_bound(planner, expr, now, "from_timestamp"))
            .transpose()?
            .flatten();
        let to = arguments
            .to
            .map(|expr| time_bound(planner, expr, now, "to_timestamp"))
            .transpose()?
            .flatten();
        let window = Window {
            from: from.map_or(self.context.window.from, Timestamp::as_nanos),
            to: to.map_or(self.context.window.to, Timestamp::as_nanos),
        };
        let schema = Arc::new(Schema::new(
            output
                .iter()
                .map(|column| Field::new(&column.name, column.kind.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        let request = Arc::new(AuditRequest {
            store: Arc::clone(&self.store),
            snapshot: self.store.snapshot(),
            filter,
            window,
            columns: output,
            schema: Arc::clone(&schema),
        });
        let parts = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 8);
        let partitions: Vec<Arc<dyn PartitionStream>> = (0..parts)
            .map(|part| {
                Arc::new(AuditPartition {
                    request: Arc::clone(&request),
                    part,
                    parts,
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let table = AuditTable {
            request,
            rows: StreamingTable::try_new(schema, partitions)?,
        };
        let plan = LogicalPlanBuilder::scan("audit", provider_as_source(Arc::new(table)), None)?
            .build()?;
        // The list's names and types are in the plan's schema already. A
        // nameless list leaves the relation called `audit`.
        let alias = alias
            .as_ref()
            .filter(|alias| alias.name.value != IMPLICIT_ALIAS)
            .map(|alias| TableAlias {
                columns: Vec::new(),
                ..alias.clone()
            });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}

/// The arguments of one call, by name or, in the documented order, by
/// position.
#[derive(Default)]
struct Arguments<'a> {
    columns: Option<&'a SqlExpr>,
    filter: Option<&'a SqlExpr>,
    from: Option<&'a SqlExpr>,
    to: Option<&'a SqlExpr>,
}

impl<'a> Arguments<'a> {
    fn read(args: &'a [FunctionArg]) -> Result<Arguments<'a>> {
        let mut arguments = Arguments::default();
        for (position, arg) in args.iter().enumerate() {
            let (name, value) = match arg {
                FunctionArg::Named { name, arg, .. } => (name.value.to_ascii_lowercase(), arg),
                FunctionArg::ExprNamed { name, arg, .. } => {
                    (name.to_string().to_ascii_lowercase(), arg)
                }
                FunctionArg::Unnamed(arg) => match ARGUMENTS.get(position) {
                    Some(name) => ((*name).to_string(), arg),
                    None => {
                        return plan_err!("dd.audit takes at most {} arguments", ARGUMENTS.len());
                    }
                },
            };
            let FunctionArgExpr::Expr(value) = value else {
                return plan_err!("dd.audit argument {name} needs a value, not a wildcard");
            };
            let slot = match name.as_str() {
                "columns" => &mut arguments.columns,
                "filter" => &mut arguments.filter,
                "from_timestamp" => &mut arguments.from,
                "to_timestamp" => &mut arguments.to,
                _ => {
                    return plan_err!(
                        "dd.audit has no argument {name}: it takes {}",
                        ARGUMENTS.join(", ")
                    );
                }
            };
            if slot.replace(value).is_some() {
                return plan_err!("dd.audit argument {name} is given twice");
            }
        }
        Ok(arguments)
    }
}

fn string_literal(expr: &SqlExpr) -> Option<&str> {
    match expr {
        SqlExpr::Value(value) => match &value.value {
            Value::SingleQuotedString(text)
            | Value::EscapedStringLiteral(text)
            | Value::NationalStringLiteral(text) => Some(text),
            Value::DollarQuotedString(text) => Some(&text.value),
            _ => None,
        },
        SqlExpr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

fn is_null(expr: &SqlExpr) -> bool {
    matches!(expr, SqlExpr::Value(value) if value.value == Value::Null)
}

/// `ARRAY['timestamp', '@usr.email', ...]`.
fn column_names(expr: &SqlExpr) -> Result<Vec<String>> {
    let SqlExpr::Array(array) = expr else {
        return plan_err!(
            "dd.audit columns must be ARRAY['timestamp', '@usr.email', ...], not {expr}"
        );
    };
    if array.elem.is_empty() {
        return plan_err!("dd.audit columns must name at least one column");
    }
    array
        .elem
        .iter()
        .map(|element| match string_literal(element) {
            Some(name) => Ok(name.to_string()),
            None => plan_err!("dd.audit columns are quoted names like '@usr.email', not {element}"),
        })
        .collect()
}

fn example_list(columns: &[String]) -> String {
    columns
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let kind = if name == "timestamp" {
                "TIMESTAMP"
            } else {
                "VARCHAR"
            };
            format!("c{index} {kind}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn filter(argument: &SqlExpr) -> Result<evident_search::Expr> {
    if is_null(argument) {
        return Ok(evident_search::Expr::All);
    }
    let Some(text) = string_literal(argument) else {
        return plan_err!(
            "dd.audit filter must be a quoted search query like '@evt.name:dashboard', not {argument}"
        );
    };
    evident_search::parse_filter(text).or_else(|error| {
        plan_err!(
            "invalid filter at position {}: {} (in {text:?})",
            error.column,
            error.message
        )
    })
}

/// A time bound: any constant SQL expression of a time
/// (`now() - interval '24 hours'`, `TIMESTAMP '2024-05-01 00:00:00'`), or
/// text as the search API takes it (`'now-1h'`, ISO 8601, epoch ms).
/// `None` for NULL: the context's bound.
fn time_bound(
    planner: &mut dyn RelationPlannerContext,
    expr: &SqlExpr,
    now: Timestamp,
    argument: &str,
) -> Result<Option<Timestamp>> {
    if let Some(text) = string_literal(expr) {
        return parse_time(text, now)
            .map(Some)
            .or_else(|message| plan_err!("dd.audit {argument}: {message}"));
    }
    let logical = planner.sql_to_expr(expr.clone(), &DFSchema::empty())?;
    let start = chrono_time(now);
    let simplifier = ExprSimplifier::new(
        SimplifyContext::builder()
            .with_query_execution_start_time(Some(start))
            .build(),
    );
    let simplified = simplifier.simplify(logical)?;
    let Expr::Literal(value, _) = &simplified else {
        return plan_err!(
            "dd.audit {argument} must be a constant time, like now() - interval '1 day', not {expr}"
        );
    };
    let nanos = match value {
        _ if value.is_null() => return Ok(None),
        ScalarValue::TimestampNanosecond(Some(nanos), _) => Some(*nanos),
        ScalarValue::TimestampMicrosecond(Some(micros), _) => micros.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(millis), _) => millis.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(seconds), _) => seconds.checked_mul(1_000_000_000),
        ScalarValue::Date32(Some(days)) => i64::from(*days).checked_mul(86_400_000_000_000),
        ScalarValue::Int64(Some(millis)) => millis.checked_mul(1_000_000),
        ScalarValue::Utf8(Some(text))
        | ScalarValue::LargeUtf8(Some(text))
        | ScalarValue::Utf8View(Some(text)) => {
            return parse_time(text, now)
                .map(Some)
                .or_else(|message| plan_err!("dd.audit {argument}: {message}"));
        }
        other => {
            return plan_err!(
                "dd.audit {argument} must be a time, not a value of type {}",
                other.data_type()
            );
        }
    };
    match nanos {
        Some(nanos) => Ok(Some(Timestamp::from_nanos(nanos))),
        None => plan_err!("dd.audit {argument} is out of range"),
    }
}

fn chrono_time(now: Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_nanos(now.as_nanos())
}

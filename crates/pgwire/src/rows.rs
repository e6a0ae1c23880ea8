//! Result columns and rows in PostgreSQL's types, text or binary as the
//! client asks for each column; values are encoded by `arrow-pg`.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow_pg::datatypes::{encode_recordbatch, field_into_pg_type};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

/// PostgreSQL types for the result columns, each in the format asked.
pub fn field_infos(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(index, field)| {
            // Types without a PostgreSQL counterpart travel as text.
            let kind = field_into_pg_type(field).unwrap_or(Type::TEXT);
            let field_format = match format {
                // One code applies to every column; a short list must not
                // panic on the columns it leaves out.
                Format::Individual(codes) => codes
                    .get(index)
                    .or(codes.first())
                    .map_or(FieldFormat::Text, |code| FieldFormat::from(*code)),
                unified => unified.format_for(index),
            };
            FieldInfo::new(field.name().clone(), None, None, kind, field_format)
        })
        .collect()
}

/// Each row of `batch`.
pub fn encode_rows(
    batch: RecordBatch,
    fields: &Arc<Vec<FieldInfo>>,
) -> impl Iterator<Item = PgWireResult<DataRow>> + use<> {
    encode_recordbatch(Arc::clone(fields), batch)
}

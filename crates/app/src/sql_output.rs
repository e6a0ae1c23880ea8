//! SQL results as the API and the CLI print them: column types by their
//! SQL names, rows as JSON arrays, CSV lines, or an aligned table.

use std::fmt::Write as _;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Number, Value};

/// The SQL name of an Arrow type, as `columns[].type` reports it.
pub fn sql_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::UInt64 => "UBIGINT".into(),
        DataType::UInt32 => "UINTEGER".into(),
        DataType::UInt16 => "USMALLINT".into(),
        DataType::UInt8 => "UTINYINT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Float32 | DataType::Float16 => "REAL".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Decimal128(precision, scale) | DataType::Decimal256(precision, scale) => {
            format!("DECIMAL({precision},{scale})")
        }
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL".into(),
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => {
            format!("{}[]", sql_type_name(item.data_type()))
        }
        DataType::Null => "NULL".into(),
        other => other.to_string(),
    }
}

/// `[{"name": ..., "type": ...}, ...]`.
pub fn columns_json(schema: &Schema) -> Value {
    Value::Array(
        schema
            .fields()
            .iter()
            .map(|field| {
                serde_json::json!({"name": field.name(), "type": sql_type_name(field.data_type())})
            })
            .collect(),
    )
}

/// How cells print as text: ISO 8601 times, empty for NULL.
fn format_options() -> FormatOptions<'static> {
    FormatOptions::default().with_null("")
}

fn formatters<'a>(
    batch: &'a RecordBatch,
    options: &'a FormatOptions<'a>,
) -> Result<Vec<ArrayFormatter<'a>>, ArrowError> {
    batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), options))
        .collect()
}

/// Appends each row of `batch` to `out` as a JSON array, comma-separated,
/// with a leading comma unless `first`.
pub fn append_json_rows(
    batch: &RecordBatch,
    out: &mut Vec<u8>,
    first: &mut bool,
) -> Result<(), ArrowError> {
    let options = format_options();
    let formatters = formatters(batch, &options)?;
    for row in 0..batch.num_rows() {
        if !std::mem::take(first) {
            out.push(b',');
        }
        let cells: Vec<Value> = batch
            .columns()
            .iter()
            .zip(&formatters)
            .map(|(column, formatter)| json_cell(column, row, formatter))
            .collect();
        serde_json::to_writer(&mut *out, &cells)
            .map_err(|error| ArrowError::ExternalError(Box::new(error)))?;
    }
    Ok(())
}

/// One cell as JSON: numbers and booleans as themselves, lists as arrays,
/// everything else as its text.
fn json_cell(column: &ArrayRef, row: usize, formatter: &ArrayFormatter<'_>) -> Value {
    if column.is_null(row) {
        return Value::Null;
    }
    let text = || formatter.value(row).to_string();
    match column.data_type() {
        DataType::Boolean => Value::Bool(column.as_boolean().value(row)),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => text()
            .parse::<i64>()
            .map_or_else(|_| Value::String(text()), Value::from),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => text()
            .parse::<u64>()
            .map_or_else(|_| Value::String(text()), Value::from),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => text()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(text()), Value::Number),
        DataType::List(_) => list_json(&column.as_list::<i32>().value(row)),
        DataType::LargeList(_) => list_json(&column.as_list::<i64>().value(row)),
        _ => Value::String(text()),
    }
}

fn list_json(items: &ArrayRef) -> Value {
    let options = format_options();
    match ArrayFormatter::try_new(items.as_ref(), &options) {
        Ok(formatter) => Value::Array(
            (0..items.len())
                .map(|index| json_cell(items, index, &formatter))
                .collect(),
        ),
        Err(_) => Value::Null,
    }
}

/// The CSV header line.
pub fn csv_header(schema: &Schema) -> String {
    let mut line = schema
        .fields()
        .iter()
        .map(|field| csv_name(field.name()))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// Appends the rows of `batch` as CSV lines (RFC 4180 quoting; NULL is an
/// empty field).
pub fn append_csv_rows(batch: &RecordBatch, out: &mut String) -> Result<(), ArrowError> {
    let options = format_options();
    let formatters = formatters(batch, &options)?;
    for row in 0..batch.num_rows() {
        for (index, formatter) in formatters.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(&csv_field(&formatter.value(row).to_string()));
        }
        out.push('\n');
    }
    Ok(())
}

/// One CSV field (RFC 4180: quoted when it holds a comma, a quote or a line
/// break, quotes doubled). Audit data is attacker-influenced (user names,
/// paths), so a cell a spreadsheet would run as a formula (starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, as
/// OWASP recommends; plain numbers (`-5`, `+1.5e3`) are left as they are.
pub fn csv_field(text: &str) -> String {
    let neutralized;
    let text = if is_formula(text) {
        neutralized = format!("'{text}");
        neutralized.as_str()
    } else {
        text
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A column name in a CSV header: an attribute path (`@usr.email`) or an
/// identifier stays as it is; anything else is a cell like any other.
pub fn csv_name(name: &str) -> String {
    let bare = name.strip_prefix('@').unwrap_or(name);
    let plain = bare.starts_with(|first: char| first.is_ascii_alphabetic() || first == '_')
        && bare
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "_.-".contains(character));
    if plain {
        name.to_owned()
    } else {
        csv_field(name)
    }
}

fn is_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err()
}

/// A JSON cell as text: strings as they are, NULL as `null_text`,
/// anything else as JSON.
pub fn cell_text(value: &Value, null_text: &str) -> String {
    match value {
        Value::Null => null_text.to_string(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// One CSV line of JSON cells.
pub fn csv_line(cells: &[Value]) -> String {
    let mut line = cells
        .iter()
        .map(|cell| csv_field(&cell_text(cell, "")))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// An aligned text table with a row count, for people at a terminal.
pub fn table(headers: &[String], rows: &[Vec<Value>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| cell_text(cell, "NULL").replace('\n', " "))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&mut out, headers);
    for row in &rows {
        line(&mut out, row);
    }
    let _ = writeln!(
        out,
        "{} row{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, ListBuilder, StringArray, StringBuilder};
    use arrow::datatypes::Field;

    use super::*;

    #[test]
    fn formulas_are_neutralized() {
        assert_eq!(
            csv_field("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(csv_field("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(csv_field("-2+3"), "'-2+3");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\t=1"), "'\t=1");
        assert_eq!(csv_field("\r=1"), "\"'\r=1\"");
        assert_eq!(csv_field("-5"), "-5");
        assert_eq!(csv_field("+1.5e3"), "+1.5e3");
        assert_eq!(csv_field("a=b"), "a=b");
        assert_eq!(csv_field("alice@example.com"), "alice@example.com");
        assert_eq!(csv_name("@usr.email"), "@usr.email");
        assert_eq!(csv_name("count(*)"), "count(*)");
        assert_eq!(csv_name("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_name("=1+1"), "'=1+1");
    }

    fn batch() -> RecordBatch {
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.values().append_value("env:prod");
        tags.append(true);
        tags.append_null();
        RecordBatch::try_from_iter(vec![
            (
                "name",
                Arc::new(StringArray::from(vec![Some("a,\"b\""), None])) as ArrayRef,
            ),
            (
                "n",
                Arc::new(Int64Array::from(vec![Some(3), None])) as ArrayRef,
            ),
            ("tags", Arc::new(tags.finish()) as ArrayRef),
        ])
        .expect("batch")
    }

    #[test]
    fn renders_json_csv_and_a_table() {
        let batch = batch();
        let mut json = b"[".to_vec();
        let mut first = true;
        append_json_rows(&batch, &mut json, &mut first).expect("json");
        json.push(b']');
        let rows: Value = serde_json::from_slice(&json).expect("valid json");
        assert_eq!(
            rows,
            serde_json::json!([["a,\"b\"", 3, ["env:prod"]], [null, null, null]])
        );
        assert_eq!(
            columns_json(&batch.schema()),
            serde_json::json!([{"name": "name", "type": "VARCHAR"}, {"name": "n", "type": "BIGINT"}, {"name": "tags", "type": "VARCHAR[]"}])
        );

        let mut csv = csv_header(&batch.schema());
        append_csv_rows(&batch, &mut csv).expect("csv");
        assert_eq!(csv, "name,n,tags\n\"a,\"\"b\"\"\",3,[env:prod]\n,,\n");

        let Value::Array(rows) = rows else {
            unreachable!("an array above")
        };
        let rows: Vec<Vec<Value>> = rows
            .into_iter()
            .map(|row| row.as_array().cloned().unwrap_or_default())
            .collect();
        assert_eq!(
            csv_line(&rows[0]),
            "\"a,\"\"b\"\"\",3,\"[\"\"env:prod\"\"]\"\n"
        );
        let text = table(&["name".into(), "n".into(), "tags".into()], &rows);
        assert!(text.starts_with("name"), "{text}");
        assert!(text.contains("NULL"), "{text}");
        assert!(text.ends_with("2 rows\n"), "{text}");
        assert_eq!(
            sql_type_name(&DataType::List(Arc::new(Field::new(
                "item",
                DataType::Int64,
                true
            )))),
            "BIGINT[]"
        );
    }
}

//! The columns `dd.audit(columns => ARRAY[...])` can name, how each is read
//! from a stored event, and how its values become the SQL type the `AS
//! (...)` list declares.
//!
//! Core fields are named bare (`timestamp`, `id`, `message`, ...);
//! anything else is an attribute path with `@` (`@usr.email`), including
//! paths the schema does not list. An attribute absent from an event is
//! NULL. `@status`, `@service`, `@host`, `@source` and `@message` fall back
//! to the reserved field of that name when the attribute is absent, the
//! mirror of the search syntax's `status:` falling back to
//! `attributes.status`: senders put a status in either place.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, ListBuilder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{
    DataType, Field as ArrowField, Float64Type, Int32Type, Int64Type, TimeUnit,
    TimestampNanosecondType,
};
use datafusion::sql::sqlparser::ast::{DataType as SqlType, TimezoneInfo};
use evident_model::{ReservedField, StoredEvent, Timestamp};
use evident_search::Field;
use evident_search::ast::AttrPath;
use evident_store::segment::{PROMOTED_ATTRIBUTES, SegmentMeta};
use serde_json::Value as Json;

/// The core fields, as `columns` names them.
pub const CORE_FIELDS: [&str; 13] = [
    "timestamp",
    "id",
    "discovery_timestamp",
    "tiebreaker",
    "random_draw",
    "ingest_size_in_bytes",
    "message",
    "host",
    "service",
    "status",
    "source",
    "trace_id",
    "tags",
];

/// Where a column's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    Timestamp,
    Id,
    DiscoveryTimestamp,
    Tiebreaker,
    RandomDraw,
    IngestSize,
    Reserved(ReservedField),
    Tags,
    /// An attribute path; the reserved field stands in when the attribute
    /// is absent.
    Attribute(AttrPath, Option<ReservedField>),
}

impl ColumnSource {
    /// Reads a name from `columns => ARRAY[...]`.
    pub fn parse(name: &str) -> Result<ColumnSource, String> {
        if name.starts_with('@') {
            let Ok(Field::Attribute(attribute)) = evident_search::parse_field(name) else {
                return Err(format!(
                    "column {name:?} is not an attribute path (like @usr.email)"
                ));
            };
            let fallback = match attribute.segments() {
                [only] => match only.as_str() {
                    "status" => Some(ReservedField::Status),
                    "service" => Some(ReservedField::Service),
                    "host" => Some(ReservedField::Host),
                    "source" => Some(ReservedField::Source),
                    "message" => Some(ReservedField::Message),
                    _ => None,
                },
                _ => None,
            };
            return Ok(ColumnSource::Attribute(attribute, fallback));
        }
        Ok(match name {
            "timestamp" => ColumnSource::Timestamp,
            "id" => ColumnSource::Id,
            "discovery_timestamp" => ColumnSource::DiscoveryTimestamp,
            "tiebreaker" => ColumnSource::Tiebreaker,
            "random_draw" => ColumnSource::RandomDraw,
            "ingest_size_in_bytes" => ColumnSource::IngestSize,
            "message" => ColumnSource::Reserved(ReservedField::Message),
            "host" => ColumnSource::Reserved(ReservedField::Host),
            "service" => ColumnSource::Reserved(ReservedField::Service),
            "status" => ColumnSource::Reserved(ReservedField::Status),
            "source" => ColumnSource::Reserved(ReservedField::Source),
            "trace_id" => ColumnSource::Reserved(ReservedField::TraceId),
            "tags" => ColumnSource::Tags,
            _ => {
                return Err(format!(
                    "unknown column {name:?}: core fields are {}; attributes start with @ (like @usr.email)",
                    CORE_FIELDS.join(", ")
                ));
            }
        })
    }

    /// The value of this column in `stored`.
    pub fn read<'e>(&self, stored: &'e StoredEvent) -> Cell<'e> {
        let event = &stored.event;
        match self {
            ColumnSource::Timestamp => Cell::Time(stored.time_nanos()),
            ColumnSource::Id => Cell::Text(&stored.id),
            ColumnSource::DiscoveryTimestamp => Cell::Time(stored.discovery_timestamp.as_nanos()),
            ColumnSource::Tiebreaker => Cell::Int(stored.tiebreaker),
            ColumnSource::RandomDraw => Cell::Float(stored.random_draw),
            ColumnSource::IngestSize => {
                Cell::Int(i64::try_from(stored.ingest_size_in_bytes).unwrap_or(i64::MAX))
            }
            ColumnSource::Reserved(field) => reserved(stored, *field),
            ColumnSource::Tags => Cell::List(&event.tags),
            ColumnSource::Attribute(path, fallback) => {
                let mut values = path.resolve(&event.attributes);
                match values.len() {
                    0 => fallback.map_or(Cell::Null, |field| reserved(stored, field)),
                    1 => Cell::Json(values.remove(0)),
                    // An array reached on the way: every value it holds.
                    _ => Cell::Many(values),
                }
            }
        }
    }
}

fn reserved(stored: &StoredEvent, field: ReservedField) -> Cell<'_> {
    if field == ReservedField::Status && stored.event.status.is_none() {
        // Audit events carry `status` as an attribute only.
        return match stored.event.attributes.get("status") {
            Some(value) => Cell::Json(value),
            None => Cell::Null,
        };
    }
    stored
        .event
        .reserved_text(field)
        .map_or(Cell::Null, Cell::Text)
}

impl OutputColumn {
    /// The segment column that holds exactly what [`ColumnSource::read`]
    /// reads from every event of `sealed`, when there is one: core fields,
    /// `host`, `service`, `source`, `trace_id`, and promoted attributes read
    /// as text where the segment holds them whole. (A promoted column keeps
    /// numbers as their JSON text, so only text reads them the same way.)
    pub fn segment_column(&self, sealed: &SegmentMeta) -> Option<String> {
        Some(match &self.source {
            ColumnSource::Timestamp => "timestamp".into(),
            ColumnSource::Id => "id".into(),
            ColumnSource::DiscoveryTimestamp => "discovery_timestamp".into(),
            ColumnSource::Tiebreaker => "tiebreaker".into(),
            ColumnSource::RandomDraw => "random_draw".into(),
            ColumnSource::IngestSize => "ingest_size_in_bytes".into(),
            ColumnSource::Reserved(
                field @ (ReservedField::Host
                | ReservedField::Service
                | ReservedField::Source
                | ReservedField::TraceId),
            ) => field.name().to_string(),
            ColumnSource::Attribute(path, None)
                if self.kind == ColumnType::Text && sealed.whole_values =>
            {
                let promoted = PROMOTED_ATTRIBUTES.iter().find(|promoted| {
                    promoted
                        .split('.')
                        .eq(path.segments().iter().map(String::as_str))
                })?;
                sealed.whole_column(promoted)?
            }
            _ => return None,
        })
    }
}

/// One value read from an event, before it takes the declared type.
#[derive(Debug, Clone)]
pub enum Cell<'e> {
    Null,
    Time(i64),
    Int(i64),
    Float(f64),
    Text(&'e str),
    Json(&'e Json),
    Many(Vec<&'e Json>),
    List(&'e [String]),
}

impl Cell<'_> {
    /// The value as text: strings as they are, anything else as JSON;
    /// what a VARCHAR column holds.
    pub fn text(&self) -> Option<String> {
        Some(match self {
            Cell::Null | Cell::Json(Json::Null) => return None,
            Cell::Time(nanos) => Timestamp::from_nanos(*nanos).to_string(),
            Cell::Int(value) => value.to_string(),
            Cell::Float(value) => value.to_string(),
            Cell::Text(text) => (*text).to_string(),
            Cell::Json(Json::String(text)) => text.clone(),
            Cell::Json(value) => value.to_string(),
            Cell::Many(values) => {
                Json::Array(values.iter().map(|value| (*value).clone()).collect()).to_string()
            }
            Cell::List(items) => serde_json::to_string(items).unwrap_or_default(),
        })
    }

    fn describe(&self) -> String {
        let text = self.text().unwrap_or_else(|| "null".into());
        let mut shown: String = text.chars().take(60).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        format!("{shown:?}")
    }
}

/// The value at `row` of a segment column, as [`ColumnSource::read`]
/// would have read it from the event.
pub fn cell_at(array: &dyn Array, row: usize) -> Cell<'_> {
    if array.is_null(row) {
        return Cell::Null;
    }
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            Cell::Time(array.as_primitive::<TimestampNanosecondType>().value(row))
        }
        DataType::Int64 => Cell::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Cell::Text(array.as_string::<i32>().value(row)),
        DataType::Dictionary(_, _) => {
            let Some(dictionary) = array.as_dictionary_opt::<Int32Type>() else {
                return Cell::Null;
            };
            let Some(values) = dictionary.values().as_string_opt::<i32>() else {
                return Cell::Null;
            };
            let key = dictionary.keys().value(row);
            usize::try_from(key).map_or(Cell::Null, |key| Cell::Text(values.value(key)))
        }
        _ => Cell::Null,
    }
}

/// A segment column as the declared type, when that takes no more than a
/// change of representation (text, the same numbers, times in another
/// zone); `None` when values need reading one by one.
pub fn convert_whole(array: &ArrayRef, kind: ColumnType) -> Option<ArrayRef> {
    match (array.data_type(), kind) {
        (DataType::Utf8 | DataType::Dictionary(_, _), ColumnType::Text) => {
            arrow::compute::cast(array, &DataType::Utf8).ok()
        }
        (DataType::Int64, ColumnType::BigInt) | (DataType::Float64, ColumnType::Double) => {
            Some(Arc::clone(array))
        }
        (
            DataType::Timestamp(TimeUnit::Nanosecond, _),
            ColumnType::Timestamp | ColumnType::TimestampTz,
        ) => {
            let times = array.as_primitive::<TimestampNanosecondType>().clone();
            let zone: Option<Arc<str>> = match kind {
                ColumnType::TimestampTz => Some("+00:00".into()),
                _ => None,
            };
            Some(Arc::new(times.with_timezone_opt(zone)))
        }
        _ => None,
    }
}

/// The SQL types a column can be declared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    BigInt,
    Integer,
    SmallInt,
    Double,
    Real,
    Boolean,
    /// Without a time zone, in UTC (what `TIMESTAMP` is in DataFusion).
    Timestamp,
    TimestampTz,
    TextArray,
}

impl ColumnType {
    pub fn from_sql(declared: &SqlType) -> Result<ColumnType, String> {
        Ok(match declared {
            SqlType::Varchar(_)
            | SqlType::CharVarying(_)
            | SqlType::CharacterVarying(_)
            | SqlType::Text
            | SqlType::String(_)
            | SqlType::Char(_)
            | SqlType::Character(_) => ColumnType::Text,
            SqlType::BigInt(_) | SqlType::Int8(_) | SqlType::Int64 => ColumnType::BigInt,
            SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) | SqlType::Int32 => {
                ColumnType::Integer
            }
            SqlType::SmallInt(_) | SqlType::Int2(_) | SqlType::Int16 => ColumnType::SmallInt,
            SqlType::Double(_)
            | SqlType::DoublePrecision
            | SqlType::Float8
            | SqlType::Float64
            | SqlType::Float(_) => ColumnType::Double,
            SqlType::Real | SqlType::Float4 | SqlType::Float32 => ColumnType::Real,
            SqlType::Boolean | SqlType::Bool => ColumnType::Boolean,
            SqlType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
                ColumnType::TimestampTz
            }
            SqlType::Timestamp(_, _) | SqlType::Datetime(_) => ColumnType::Timestamp,
            SqlType::Array(_) => ColumnType::TextArray,
            other => {
                return Err(format!(
                    "unsupported column type {other}: use VARCHAR, BIGINT, INTEGER, SMALLINT, DOUBLE, REAL, BOOLEAN, TIMESTAMP, TIMESTAMPTZ or VARCHAR[]"
                ));
            }
        })
    }

    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::Text => DataType::Utf8,
            ColumnType::BigInt => DataType::Int64,
            ColumnType::Integer => DataType::Int32,
            ColumnType::SmallInt => DataType::Int16,
            ColumnType::Double => DataType::Float64,
            ColumnType::Real => DataType::Float32,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, None),
            ColumnType::TimestampTz => {
                DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))
            }
            ColumnType::TextArray => {
                DataType::List(Arc::new(ArrowField::new("item", DataType::Utf8, true)))
            }
        }
    }

    fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Text => "VARCHAR",
            ColumnType::BigInt => "BIGINT",
            ColumnType::Integer => "INTEGER",
            ColumnType::SmallInt => "SMALLINT",
            ColumnType::Double => "DOUBLE",
            ColumnType::Real => "REAL",
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::Timestamp => "TIMESTAMP",
            ColumnType::TimestampTz => "TIMESTAMPTZ",
            ColumnType::TextArray => "VARCHAR[]",
        }
    }
}

/// A value that does not fit its declared type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: cannot cast {value} to {to}")]
pub struct CastError {
    pub column: String,
    pub value: String,
    pub to: &'static str,
}

/// One output column: where it reads, what it is called and declared as.
#[derive(Debug, Clone)]
pub struct OutputColumn {
    pub source: ColumnSource,
    pub name: String,
    pub kind: ColumnType,
}

/// Builds the Arrow array of one output column, a cell at a time.
#[derive(Debug)]
pub enum ColumnBuilder {
    Text(StringBuilder),
    BigInt(Int64Builder),
    Integer(Int32Builder),
    SmallInt(Int16Builder),
    Double(Float64Builder),
    Real(Float32Builder),
    Boolean(BooleanBuilder),
    Timestamp(TimestampNanosecondBuilder, Option<Arc<str>>),
    TextArray(ListBuilder<StringBuilder>),
}

impl ColumnBuilder {
    pub fn new(kind: ColumnType) -> ColumnBuilder {
        match kind {
            ColumnType::Text => ColumnBuilder::Text(StringBuilder::new()),
            ColumnType::BigInt => ColumnBuilder::BigInt(Int64Builder::new()),
            ColumnType::Integer => ColumnBuilder::Integer(Int32Builder::new()),
            ColumnType::SmallInt => ColumnBuilder::SmallInt(Int16Builder::new()),
            ColumnType::Double => ColumnBuilder::Double(Float64Builder::new()),
            ColumnType::Real => ColumnBuilder::Real(Float32Builder::new()),
            ColumnType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::new()),
            ColumnType::Timestamp => {
                ColumnBuilder::Timestamp(TimestampNanosecondBuilder::new(), None)
            }
            ColumnType::TimestampTz => {
                ColumnBuilder::Timestamp(TimestampNanosecondBuilder::new(), Some("+00:00".into()))
            }
            ColumnType::TextArray => {
                ColumnBuilder::TextArray(ListBuilder::new(StringBuilder::new()))
            }
        }
    }

    /// Appends `cell` as the declared type of `column`.
    pub fn append(&mut self, column: &OutputColumn, cell: &Cell<'_>) -> Result<(), CastError> {
        let fail = || CastError {
            column: column.name.clone(),
            value: cell.describe(),
            to: column.kind.sql_name(),
        };
        if matches!(cell, Cell::Null | Cell::Json(Json::Null)) {
            self.append_null();
            return Ok(());
        }
        match self {
            ColumnBuilder::Text(builder) => builder.append_option(cell.text()),
            ColumnBuilder::BigInt(builder) => builder.append_value(integer(cell).ok_or_else(fail)?),
            ColumnBuilder::Integer(builder) => builder.append_value(
                integer(cell)
                    .and_then(|value| i32::try_from(value).ok())
                    .ok_or_else(fail)?,
            ),
            ColumnBuilder::SmallInt(builder) => builder.append_value(
                integer(cell)
                    .and_then(|value| i16::try_from(value).ok())
                    .ok_or_else(fail)?,
            ),
            ColumnBuilder::Double(builder) => builder.append_value(float(cell).ok_or_else(fail)?),
            // Narrowing to REAL is what the column asked for.
            #[allow(clippy::cast_possible_truncation)]
            ColumnBuilder::Real(builder) => {
                builder.append_value(float(cell).ok_or_else(fail)? as f32);
            }
            ColumnBuilder::Boolean(builder) => {
                builder.append_value(boolean(cell).ok_or_else(fail)?)
            }
            ColumnBuilder::Timestamp(builder, _) => {
                builder.append_value(time(cell).ok_or_else(fail)?)
            }
            ColumnBuilder::TextArray(builder) => {
                match cell {
                    Cell::List(items) => {
                        for item in *items {
                            builder.values().append_value(item);
                        }
                    }
                    Cell::Many(values) => {
                        for value in values {
                            builder.values().append_option(Cell::Json(value).text());
                        }
                    }
                    Cell::Json(Json::Array(values)) => {
                        for value in values {
                            builder.values().append_option(Cell::Json(value).text());
                        }
                    }
                    single => builder.values().append_option(single.text()),
                }
                builder.append(true);
            }
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Text(builder) => builder.append_null(),
            ColumnBuilder::BigInt(builder) => builder.append_null(),
            ColumnBuilder::Integer(builder) => builder.append_null(),
            ColumnBuilder::SmallInt(builder) => builder.append_null(),
            ColumnBuilder::Double(builder) => builder.append_null(),
            ColumnBuilder::Real(builder) => builder.append_null(),
            ColumnBuilder::Boolean(builder) => builder.append_null(),
            ColumnBuilder::Timestamp(builder, _) => builder.append_null(),
            ColumnBuilder::TextArray(builder) => builder.append_null(),
        }
    }

    pub fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(builder) => Arc::new(builder.finish()),
            ColumnBuilder::BigInt(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Integer(builder) => Arc::new(builder.finish()),
            ColumnBuilder::SmallInt(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Double(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Real(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Boolean(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Timestamp(builder, zone) => {
                Arc::new(builder.finish().with_timezone_opt(zone.clone()))
            }
            ColumnBuilder::TextArray(builder) => Arc::new(builder.finish()),
        }
    }
}

/// Times as integers are epoch milliseconds, as Datadog documents
/// `timestamp` and `discovery_timestamp`.
fn integer(cell: &Cell<'_>) -> Option<i64> {
    match cell {
        Cell::Int(value) => Some(*value),
        Cell::Time(nanos) => Some(nanos.div_euclid(1_000_000)),
        Cell::Float(value) => exact_integer(*value),
        Cell::Text(text) => text.trim().parse().ok(),
        Cell::Json(Json::Number(number)) => number
            .as_i64()
            .or_else(|| number.as_f64().and_then(exact_integer)),
        Cell::Json(Json::String(text)) => text.trim().parse().ok(),
        _ => None,
    }
}

// Only integral values in i64's range get here, so the cast is exact.
#[allow(clippy::cast_possible_truncation)]
fn exact_integer(value: f64) -> Option<i64> {
    (value.fract() == 0.0 && value.abs() < 9.2e18).then_some(value as i64)
}

#[allow(clippy::cast_precision_loss)]
fn float(cell: &Cell<'_>) -> Option<f64> {
    match cell {
        Cell::Int(value) => Some(*value as f64),
        Cell::Float(value) => Some(*value),
        Cell::Text(text) => text.trim().parse().ok(),
        Cell::Json(Json::Number(number)) => number.as_f64(),
        Cell::Json(Json::String(text)) => text.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(cell: &Cell<'_>) -> Option<bool> {
    let text = match cell {
        Cell::Json(Json::Bool(flag)) => return Some(*flag),
        Cell::Text(text) => *text,
        Cell::Json(Json::String(text)) => text.as_str(),
        _ => return None,
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "1" => Some(true),
        "false" | "f" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Numbers are epoch milliseconds; text is RFC 3339, a date or epoch
/// milliseconds.
fn time(cell: &Cell<'_>) -> Option<i64> {
    let text = match cell {
        Cell::Time(nanos) => return Some(*nanos),
        Cell::Int(millis) => return Timestamp::from_millis(*millis).map(Timestamp::as_nanos),
        Cell::Json(Json::Number(number)) => {
            return number
                .as_i64()
                .and_then(Timestamp::from_millis)
                .map(Timestamp::as_nanos);
        }
        Cell::Text(text) => *text,
        Cell::Json(Json::String(text)) => text.as_str(),
        _ => return None,
    };
    text.parse::<Timestamp>().ok().map(Timestamp::as_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, kind: ColumnType) -> OutputColumn {
        OutputColumn {
            source: ColumnSource::parse(name).expect("column"),
            name: name.into(),
            kind,
        }
    }

    #[test]
    fn names_core_fields_and_attribute_paths() {
        assert_eq!(
            ColumnSource::parse("timestamp"),
            Ok(ColumnSource::Timestamp)
        );
        assert!(matches!(
            ColumnSource::parse("@status"),
            Ok(ColumnSource::Attribute(_, Some(ReservedField::Status)))
        ));
        assert!(matches!(
            ColumnSource::parse("@not.in.the.schema"),
            Ok(ColumnSource::Attribute(_, None))
        ));
        let error = ColumnSource::parse("usr.email").expect_err("bare attribute");
        assert!(error.contains("unknown column \"usr.email\""), "{error}");
        assert!(ColumnSource::parse("@a..b").is_err());
    }

    #[test]
    fn casts_or_says_which_value_does_not_fit() {
        let text = Json::String("403".into());
        let mut builder = ColumnBuilder::new(ColumnType::BigInt);
        let code = column("@http.status_code", ColumnType::BigInt);
        builder.append(&code, &Cell::Json(&text)).expect("digits");
        builder.append(&code, &Cell::Null).expect("null");
        let word = Json::String("forbidden".into());
        let error = builder
            .append(&code, &Cell::Json(&word))
            .expect_err("not a number");
        assert_eq!(
            error.to_string(),
            "column @http.status_code: cannot cast \"forbidden\" to BIGINT"
        );
        let array = builder.finish();
        assert_eq!((array.len(), array.null_count()), (2, 1));

        let mut times = ColumnBuilder::new(ColumnType::Timestamp);
        let ts = column("timestamp", ColumnType::Timestamp);
        times.append(&ts, &Cell::Time(5)).expect("time");
        let iso = Json::String("2024-05-01T12:00:00Z".into());
        times.append(&ts, &Cell::Json(&iso)).expect("iso text");
        assert!(times.append(&ts, &Cell::Text("soon")).is_err());

        let mut millis = ColumnBuilder::new(ColumnType::BigInt);
        millis
            .append(
                &column("timestamp", ColumnType::BigInt),
                &Cell::Time(1_714_564_800_123_000_000),
            )
            .expect("millis");
        let array = millis.finish();
        let values = array
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .expect("int64");
        assert_eq!(values.value(0), 1_714_564_800_123);
    }
}

//! The PostgreSQL wire protocol (`serve --pg-listen`), so that `psql` and
//! other PostgreSQL clients can run `dd.audit(...)` SQL.
//!
//! Any user name is accepted; the password is an application key, sent in
//! clear text (keep the listener on loopback or a trusted network). Each
//! statement is recorded as an audit event under `pg:<user name>` before it
//! runs, like every SQL statement. Both the simple and the extended query
//! protocol are spoken (prepared statements without parameters; results
//! in text or binary, as the client asks). `SET` statements that clients
//! send when they connect are acknowledged and ignored.

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, Schema,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use evident_model::Timestamp;
use evident_query::sql::rewrite::has_parameters;
use evident_query::sql::{SqlContext, SqlEngine, SqlError};
use futures::{Sink, StreamExt, stream};
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DataRowEncoder, DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo,
    QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{NoopQueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_USER, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use tokio::net::TcpListener;

use crate::activity::{SqlActivity, Surface, record_sql};
use crate::http::SharedState;
use crate::keys::KeyKind;

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, state: SharedState) {
    let handlers = Arc::new(Handlers::new(state));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a postgres connection failed");
                continue;
            }
        };
        // Rows go out message by message; do not hold them for ACKs.
        if let Err(error) = socket.set_nodelay(true) {
            tracing::debug!(%error, "setting TCP_NODELAY failed");
        }
        let handlers = Arc::clone(&handlers);
        tokio::spawn(async move {
            if let Err(error) = pgwire::tokio::process_socket(socket, None, handlers).await {
                tracing::debug!(%error, %peer, "postgres connection ended with an error");
            }
        });
    }
}

struct Handlers {
    startup:
        Arc<CleartextPasswordAuthStartupHandler<ApplicationKeys, DefaultServerParameterProvider>>,
    queries: Arc<Queries>,
}

impl Handlers {
    fn new(state: SharedState) -> Handlers {
        Handlers {
            startup: Arc::new(CleartextPasswordAuthStartupHandler::new(
                ApplicationKeys {
                    state: Arc::clone(&state),
                },
                DefaultServerParameterProvider::default(),
            )),
            queries: Arc::new(Queries {
                state,
                parser: Arc::new(NoopQueryParser::new()),
            }),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.startup)
    }
}

/// The password must be an application key.
struct ApplicationKeys {
    state: SharedState,
}

impl Debug for ApplicationKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ApplicationKeys")
    }
}

#[async_trait]
impl AuthSource for ApplicationKeys {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Keys are stored hashed: there is no password to hand out.
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_owned(),
        ))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented: &[u8],
    ) -> PgWireResult<Option<()>> {
        let accepted = std::str::from_utf8(presented)
            .is_ok_and(|key| self.state.keys.accepts(KeyKind::Application, key));
        if accepted {
            Ok(None)
        } else {
            Err(PgWireError::InvalidPassword(
                login.user().unwrap_or_default().to_owned(),
            ))
        }
    }
}

struct Queries {
    state: SharedState,
    parser: Arc<NoopQueryParser>,
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

fn no_parameters() -> PgWireError {
    user_error(
        "0A000",
        "statement parameters ($1, ...) are not supported: write the values into the statement"
            .into(),
    )
}

fn is_set(statement: &str) -> bool {
    statement
        .get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("set "))
}

fn trimmed(query: &str) -> &str {
    query.trim().trim_end_matches(';').trim()
}

fn sql_failed(error: SqlError) -> PgWireError {
    if error.is_invalid() {
        user_error("42000", error.to_string())
    } else {
        tracing::error!(%error, "sql over postgres failed");
        user_error("XX000", error.to_string())
    }
}

impl Queries {
    /// Records `statement`, runs it and answers its rows in `format`.
    async fn run<C: ClientInfo>(
        &self,
        client: &C,
        statement: &str,
        format: &Format,
    ) -> PgWireResult<Response> {
        if is_set(statement) {
            return Ok(Response::Execution(Tag::new("SET")));
        }
        if has_parameters(statement) {
            return Err(no_parameters());
        }
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        let actor = format!("pg:{user}");
        let activity = SqlActivity {
            actor: &actor,
            surface: Surface::PostgresWire,
            statement,
            client_ip: Some(client.socket_addr().ip().to_string()),
        };
        record_sql(&self.state.store, &activity)
            .await
            .map_err(|error| user_error("58000", error.to_string()))?;
        let context = SqlContext::everything(Timestamp::now());
        let engine = SqlEngine::new(Arc::clone(&self.state.store));
        let output = engine.run(statement, context).await.map_err(sql_failed)?;
        let fields = Arc::new(field_infos(&output.schema, format));
        let row_fields = Arc::clone(&fields);
        let rows = output.stream.flat_map(move |batch| {
            let rows = match batch {
                Ok(batch) => encode_rows(&batch, &row_fields),
                Err(error) => vec![Err(sql_failed(SqlError::from(error)))],
            };
            stream::iter(rows)
        });
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }

    /// The columns of `statement`, planned but not run.
    async fn describe(&self, statement: &str, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
        if is_set(statement) {
            return Ok(Vec::new());
        }
        if has_parameters(statement) {
            return Err(no_parameters());
        }
        let context = SqlContext::everything(Timestamp::now());
        let engine = SqlEngine::new(Arc::clone(&self.state.store));
        let schema = engine
            .describe(statement, context)
            .await
            .map_err(sql_failed)?;
        Ok(field_infos(&schema, format))
    }
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let response = self
            .run(client, trimmed(query), &Format::UnifiedText)
            .await?;
        Ok(vec![response])
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = String;
    type QueryParser = NoopQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if portal.parameter_len() > 0 {
            return Err(no_parameters());
        }
        self.run(
            client,
            trimmed(&portal.statement.statement),
            &portal.result_column_format,
        )
        .await
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !target.parameter_types.is_empty() {
            return Err(no_parameters());
        }
        // Formats are chosen at bind time; a statement describes in text.
        let fields = self
            .describe(trimmed(&target.statement), &Format::UnifiedText)
            .await?;
        Ok(DescribeStatementResponse::new(Vec::new(), fields))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        target: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let fields = self
            .describe(
                trimmed(&target.statement.statement),
                &target.result_column_format,
            )
            .await?;
        Ok(DescribePortalResponse::new(fields))
    }
}

/// PostgreSQL types for the result columns, each in the format asked.
fn field_infos(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let kind = match field.data_type() {
                DataType::Boolean => Type::BOOL,
                DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
                DataType::Int32 | DataType::UInt16 => Type::INT4,
                DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Type::INT8,
                DataType::Float16 | DataType::Float32 => Type::FLOAT4,
                DataType::Float64 => Type::FLOAT8,
                DataType::Timestamp(_, None) => Type::TIMESTAMP,
                DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
                DataType::Date32 | DataType::Date64 => Type::DATE,
                _ => Type::VARCHAR,
            };
            let field_format = match format {
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

/// Each row of `batch`, every value as its PostgreSQL type (so that text
/// and binary formats both hold).
fn encode_rows(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> Vec<PgWireResult<DataRow>> {
    let options = FormatOptions::default();
    let formatters: Result<Vec<ArrayFormatter<'_>>, _> = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
        .collect();
    let formatters = match formatters {
        Ok(formatters) => formatters,
        Err(error) => return vec![Err(user_error("XX000", error.to_string()))],
    };
    let mut encoder = DataRowEncoder::new(Arc::clone(fields));
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (column, formatter) in batch.columns().iter().zip(&formatters) {
            if let Err(error) = encode_value(&mut encoder, column.as_ref(), formatter, row) {
                rows.push(Err(error));
                return rows;
            }
        }
        rows.push(Ok(encoder.take_row()));
    }
    rows
}

fn encode_value(
    encoder: &mut DataRowEncoder,
    column: &dyn Array,
    formatter: &ArrayFormatter<'_>,
    row: usize,
) -> PgWireResult<()> {
    if column.is_null(row) {
        return encoder.encode_field(&None::<String>);
    }
    match column.data_type() {
        DataType::Boolean => encoder.encode_field(&column.as_boolean().value(row)),
        DataType::Int8 => {
            encoder.encode_field(&i16::from(column.as_primitive::<Int8Type>().value(row)))
        }
        DataType::UInt8 => {
            encoder.encode_field(&i16::from(column.as_primitive::<UInt8Type>().value(row)))
        }
        DataType::Int16 => encoder.encode_field(&column.as_primitive::<Int16Type>().value(row)),
        DataType::UInt16 => {
            encoder.encode_field(&i32::from(column.as_primitive::<UInt16Type>().value(row)))
        }
        DataType::Int32 => encoder.encode_field(&column.as_primitive::<Int32Type>().value(row)),
        DataType::UInt32 => {
            encoder.encode_field(&i64::from(column.as_primitive::<UInt32Type>().value(row)))
        }
        DataType::Int64 => encoder.encode_field(&column.as_primitive::<Int64Type>().value(row)),
        DataType::UInt64 => {
            let value = column.as_primitive::<UInt64Type>().value(row);
            encoder.encode_field(&i64::try_from(value).unwrap_or(i64::MAX))
        }
        DataType::Float32 => encoder.encode_field(&column.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => encoder.encode_field(&column.as_primitive::<Float64Type>().value(row)),
        DataType::Timestamp(unit, zone) => {
            let Some(nanos) = timestamp_nanos(column, *unit, row) else {
                return encoder.encode_field(&None::<String>);
            };
            let instant = chrono::DateTime::from_timestamp_nanos(nanos);
            match zone {
                None => encoder.encode_field(&instant.naive_utc()),
                Some(_) => encoder.encode_field(&instant),
            }
        }
        data_type => encoder.encode_field(&pg_text(data_type, formatter.value(row).to_string())),
    }
}

fn timestamp_nanos(column: &dyn Array, unit: TimeUnit, row: usize) -> Option<i64> {
    match unit {
        TimeUnit::Nanosecond => Some(column.as_primitive::<TimestampNanosecondType>().value(row)),
        TimeUnit::Microsecond => column
            .as_primitive::<TimestampMicrosecondType>()
            .value(row)
            .checked_mul(1_000),
        TimeUnit::Millisecond => column
            .as_primitive::<TimestampMillisecondType>()
            .value(row)
            .checked_mul(1_000_000),
        TimeUnit::Second => column
            .as_primitive::<TimestampSecondType>()
            .value(row)
            .checked_mul(1_000_000_000),
    }
}

/// A value sent as text: lists in PostgreSQL's `{a,b}` form, anything
/// else as Arrow prints it.
fn pg_text(data_type: &DataType, text: String) -> String {
    match data_type {
        DataType::List(_) | DataType::LargeList(_) => {
            let inner = text.trim_start_matches('[').trim_end_matches(']');
            let items: Vec<String> = inner
                .split(", ")
                .filter(|item| !item.is_empty())
                .map(|item| format!("\"{}\"", item.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_in_postgres_text() {
        let list = DataType::List(Arc::new(arrow::datatypes::Field::new(
            "item",
            DataType::Utf8,
            true,
        )));
        assert_eq!(
            pg_text(&list, "[env:prod, a\"b]".into()),
            "{\"env:prod\",\"a\\\"b\"}"
        );
        assert_eq!(pg_text(&DataType::Utf8, "x".into()), "x");
    }
}

//! The PostgreSQL wire protocol (`serve --pg-listen`), so that `psql` and
//! other PostgreSQL clients can run `dd.audit(...)` SQL.
//!
//! Any user name is accepted; the password is an application key, sent in
//! clear text (keep the listener on loopback or a trusted network). Each
//! statement is recorded as an audit event under `pg:<user name>` before it
//! runs, like every SQL statement. Results go out in text format. `SET`
//! statements that clients send when they connect are acknowledged and
//! ignored; the statements that read run on the SQL engine.

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use evident_query::sql::{SqlEngine, SqlError};
use futures::{Sink, StreamExt, stream};
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password};
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_USER, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use tokio::net::TcpListener;

use crate::activity::{SqlActivity, Surface, record_sql};
use crate::http::SharedState;
use crate::http::sql::context_window;
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
            queries: Arc::new(Queries { state }),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
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
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
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
        let statement = query.trim().trim_end_matches(';').trim();
        if statement
            .get(..4)
            .is_some_and(|head| head.eq_ignore_ascii_case("set "))
        {
            return Ok(vec![Response::Execution(Tag::new("SET"))]);
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
        let context = context_window(None, None).map_err(|message| user_error("22007", message))?;
        let engine = SqlEngine::new(Arc::clone(&self.state.store));
        let failed = |error: SqlError| {
            if error.is_invalid() {
                user_error("42000", error.to_string())
            } else {
                tracing::error!(%error, "sql over postgres failed");
                user_error("XX000", error.to_string())
            }
        };
        let output = engine.run(statement, context).await.map_err(failed)?;
        let fields = Arc::new(field_infos(&output.schema));
        let row_fields = Arc::clone(&fields);
        let rows = output.stream.flat_map(move |batch| {
            let rows = match batch {
                Ok(batch) => encode_rows(&batch, &row_fields),
                Err(error) => vec![Err(failed(SqlError::from(error)))],
            };
            stream::iter(rows)
        });
        Ok(vec![Response::Query(QueryResponse::new(fields, rows))])
    }
}

/// PostgreSQL types for the result columns.
fn field_infos(schema: &Schema) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .map(|field| {
            let kind = match field.data_type() {
                DataType::Boolean => Type::BOOL,
                DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
                DataType::Int32 | DataType::UInt16 => Type::INT4,
                DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Type::INT8,
                DataType::Float32 | DataType::Float16 => Type::FLOAT4,
                DataType::Float64 => Type::FLOAT8,
                DataType::Timestamp(_, None) => Type::TIMESTAMP,
                DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
                DataType::Date32 | DataType::Date64 => Type::DATE,
                DataType::Decimal128(..) | DataType::Decimal256(..) => Type::NUMERIC,
                _ => Type::VARCHAR,
            };
            FieldInfo::new(field.name().clone(), None, None, kind, FieldFormat::Text)
        })
        .collect()
}

/// Each row of `batch` in PostgreSQL's text format.
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
            let text = (!column.is_null(row))
                .then(|| pg_text(column.data_type(), formatter.value(row).to_string()));
            if let Err(error) = encoder.encode_field(&text) {
                rows.push(Err(error));
                return rows;
            }
        }
        rows.push(Ok(encoder.take_row()));
    }
    rows
}

/// PostgreSQL's text forms where Arrow's differ: `t`/`f`, times with a
/// space and at most microseconds, `{a,b}` arrays (sent as text).
fn pg_text(data_type: &DataType, text: String) -> String {
    match data_type {
        DataType::Boolean => if text == "true" { "t" } else { "f" }.to_string(),
        DataType::Timestamp(..) => postgres_time(&text),
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

/// `2024-05-01T12:00:00.123456789Z` as PostgreSQL writes it:
/// `2024-05-01 12:00:00.123456+00` (microseconds, the zone as an offset).
fn postgres_time(text: &str) -> String {
    let spaced = text.replacen('T', " ", 1);
    let (clock, zone) = match spaced
        .find(['Z', '+'])
        .or_else(|| spaced.rfind('-').filter(|at| *at > 10))
    {
        Some(at) => spaced.split_at(at),
        None => (spaced.as_str(), ""),
    };
    let clock = match clock.split_once('.') {
        Some((whole, fraction)) => {
            let micros: String = fraction.chars().take(6).collect();
            let micros = micros.trim_end_matches('0');
            if micros.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{micros}")
            }
        }
        None => clock.to_string(),
    };
    let zone = match zone {
        "" => "",
        "Z" | "+00:00" => "+00",
        other => other,
    };
    format!("{clock}{zone}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_arrays_in_postgres_text() {
        assert_eq!(
            postgres_time("2024-05-01T12:00:00.123456789"),
            "2024-05-01 12:00:00.123456"
        );
        assert_eq!(
            postgres_time("2024-05-01T12:00:00.500Z"),
            "2024-05-01 12:00:00.5+00"
        );
        assert_eq!(
            postgres_time("2024-05-01T12:00:00+00:00"),
            "2024-05-01 12:00:00+00"
        );
        assert_eq!(postgres_time("2024-05-01T12:00:00"), "2024-05-01 12:00:00");
        let list = DataType::List(Arc::new(arrow::datatypes::Field::new(
            "item",
            DataType::Utf8,
            true,
        )));
        assert_eq!(
            pg_text(&list, "[env:prod, a\"b]".into()),
            "{\"env:prod\",\"a\\\"b\"}"
        );
        assert_eq!(pg_text(&DataType::Boolean, "false".into()), "f");
    }
}

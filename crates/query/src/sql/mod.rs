//! SQL over audit events: DataFusion, with Datadog's `dd.audit(...)`
//! table function as the way in.
//!
//! ```sql
//! SELECT user_email, count(*) FROM dd.audit(
//!   columns => ARRAY['timestamp', '@usr.email'],
//!   filter => '@evt.name:api_key',
//!   from_timestamp => now() - interval '24 hours'
//! ) AS (ts TIMESTAMP, user_email VARCHAR)
//! GROUP BY user_email
//! ```
//!
//! - [`rewrite`] names Datadog's nameless `AS (...)` list so that the SQL
//!   parser accepts it, and keeps `dd.audit` whole through the
//!   PostgreSQL-compatibility rewrites (`datafusion-pg-catalog`), which let
//!   drivers and BI tools read `pg_catalog` and `information_schema`;
//! - [`audit_function`] plans each call: its columns, filter (search
//!   syntax) and time bounds;
//! - [`scan`] finds the matching events through the store's search path and
//!   turns them into rows;
//! - [`columns`] reads each column from an event and casts it to the
//!   declared type;
//! - [`count_by`] answers `GROUP BY` one text column with `count(*)` from
//!   the store's counts instead of a row per event.
//!
//! - [`limits`] bounds what a statement may take: memory, time, a place
//!   among those running, and the size of the values functions make.
//!
//! Statements are read-only: no DDL, DML or `SET`. Time bounds left out
//! default to the [`SqlContext`] window, which the caller sets (the API and
//! CLI: `from` / `to`, else all retained events).

pub mod audit_function;
pub mod columns;
pub mod count_by;
pub mod limits;
pub mod parameters;
pub mod rewrite;
pub mod scan;

use std::sync::{Arc, LazyLock};

use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::setup_pg_catalog;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use evident_model::{Timestamp, parse_time};
use evident_store::Store;

use crate::QueryError;
use crate::candidates::Window;
use audit_function::AuditFunction;
use columns::CastError;
use count_by::CountByRule;
use parameters::{Parameter, Unbound};

/// What a query runs against besides its text.
#[derive(Debug, Clone, Copy)]
pub struct SqlContext {
    /// `now()` inside `dd.audit` time bounds and date math.
    pub now: Timestamp,
    /// The window of a `dd.audit` call that gives no time bounds.
    pub window: Window,
}

impl SqlContext {
    /// Every event, with `now` as the current time.
    pub fn everything(now: Timestamp) -> SqlContext {
        SqlContext {
            now,
            window: Window {
                from: i64::MIN,
                to: i64::MAX,
            },
        }
    }

    /// The window a request gives (`now-1h`, ISO 8601, epoch ms; either
    /// bound may be left open).
    pub fn bounded(
        now: Timestamp,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<SqlContext, String> {
        let mut context = SqlContext::everything(now);
        if let Some(from) = from {
            context.window.from = parse_time(from, now)
                .map_err(|message| format!("from: {message}"))?
                .as_nanos();
        }
        if let Some(to) = to {
            context.window.to = parse_time(to, now)
                .map_err(|message| format!("to: {message}"))?
                .as_nanos();
        }
        Ok(context)
    }
}

/// Why a statement did not run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// Something in the statement: the message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// The store failed while reading.
    #[error("reading events: {0}")]
    Store(String),
    /// The statement went past one of its [`limits`]: memory, time, or
    /// the size of a value.
    #[error("{0}")]
    Limit(String),
    /// Every place for a statement stayed taken: try again.
    #[error("{0}")]
    Busy(String),
}

impl SqlError {
    pub fn is_invalid(&self) -> bool {
        matches!(self, SqlError::Invalid(_))
    }
}

impl From<DataFusionError> for SqlError {
    fn from(error: DataFusionError) -> SqlError {
        let root = error.find_root();
        if let DataFusionError::External(inner) = root {
            if inner.downcast_ref::<QueryError>().is_some() {
                return SqlError::Store(inner.to_string());
            }
            if let Some(cast) = inner.downcast_ref::<CastError>() {
                return SqlError::Invalid(cast.to_string());
            }
        }
        match root {
            DataFusionError::IoError(_) | DataFusionError::ObjectStore(_) => {
                SqlError::Store(root.to_string())
            }
            DataFusionError::ResourcesExhausted(message) => {
                SqlError::Limit(format!("resources exhausted: {}", clean_message(message)))
            }
            // Everything else comes from the statement: its syntax, names,
            // types, functions or values.
            _ => SqlError::Invalid(clean_message(&root.strip_backtrace())),
        }
    }
}

/// DataFusion's messages start with the stage that failed ("Error during
/// planning: ") and may span lines; the user needs what was wrong, on one
/// line.
fn clean_message(message: &str) -> String {
    const STAGES: [&str; 5] = [
        "Error during planning: ",
        "Schema error: ",
        "SQL error: ",
        "Execution error: ",
        "This feature is not implemented: ",
    ];
    let mut text = message.trim();
    for stage in STAGES {
        if let Some(rest) = text.strip_prefix(stage) {
            text = rest;
        }
    }
    // One line: messages go into JSON bodies, CSV tools and terminals.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A statement's result: its columns, then its rows as they are computed.
pub struct SqlOutput {
    pub schema: SchemaRef,
    pub stream: SendableRecordBatchStream,
}

impl std::fmt::Debug for SqlOutput {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SqlOutput")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Runs read-only SQL over a store.
#[derive(Debug, Clone)]
pub struct SqlEngine {
    store: Arc<Store>,
}

impl SqlEngine {
    pub fn new(store: Arc<Store>) -> SqlEngine {
        SqlEngine { store }
    }

    /// Plans `sql` with its `parameters` (`$1`, ...) and starts it; rows
    /// come from the returned stream.
    pub async fn run(
        &self,
        sql: &str,
        parameters: &[Parameter],
        context: SqlContext,
    ) -> Result<SqlOutput, SqlError> {
        let governor = limits::governor().map_err(SqlError::Store)?;
        let place = governor.place().await.ok_or_else(|| {
            SqlError::Busy(format!(
                "{} SQL statements are running, the most allowed at once: try again",
                governor.limits.concurrency
            ))
        })?;
        let deadline = tokio::time::Instant::now() + governor.limits.timeout;
        let frame = self.plan(sql, parameters, Unbound::Refuse, context).await?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let stream = tokio::time::timeout_at(deadline, frame.execute_stream())
            .await
            .map_err(|_| timed_out(governor.limits.timeout))??;
        let stream = Box::pin(limits::Governed {
            inner: stream,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            timeout: governor.limits.timeout,
            _place: place,
            expired: false,
        });
        Ok(SqlOutput { schema, stream })
    }

    /// The columns `sql` would return, without running it (for clients
    /// that describe a statement before executing it). Parameters not
    /// given yet count as NULL.
    pub async fn describe(
        &self,
        sql: &str,
        parameters: &[Parameter],
        context: SqlContext,
    ) -> Result<SchemaRef, SqlError> {
        let frame = self.plan(sql, parameters, Unbound::Null, context).await?;
        Ok(Arc::new(frame.schema().as_arrow().clone()))
    }

    async fn plan(
        &self,
        sql: &str,
        parameters: &[Parameter],
        unbound: Unbound,
        context: SqlContext,
    ) -> Result<DataFrame, SqlError> {
        let governor = limits::governor().map_err(SqlError::Store)?;
        tokio::time::timeout(
            governor.limits.timeout,
            self.plan_within(sql, parameters, unbound, context, governor),
        )
        .await
        .map_err(|_| timed_out(governor.limits.timeout))?
    }

    async fn plan_within(
        &self,
        sql: &str,
        parameters: &[Parameter],
        unbound: Unbound,
        context: SqlContext,
        governor: &limits::Governor,
    ) -> Result<DataFrame, SqlError> {
        let mut statement = parse(sql)?;
        parameters::bind(&mut statement, parameters, unbound)?;
        let state = SessionStateBuilder::new_from_existing(base_state()?.clone())
            .with_runtime_env(Arc::clone(&governor.runtime))
            .build();
        let session = SessionContext::new_with_state(state);
        session.register_relation_planner(Arc::new(AuditFunction {
            store: Arc::clone(&self.store),
            context,
        }))?;
        session.add_optimizer_rule(Arc::new(CountByRule));
        let plan = session
            .state()
            .statement_to_plan(DfStatement::Statement(Box::new(statement)))
            .await?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)?;
        Ok(session.execute_logical_plan(plan).await?)
    }
}

fn timed_out(timeout: std::time::Duration) -> SqlError {
    SqlError::Limit(format!(
        "the statement ran longer than its limit of {} s",
        timeout.as_secs()
    ))
}

/// The one statement in `sql`, rewritten for DataFusion.
///
/// The text is parsed twice: plainly first, so that syntax errors carry
/// their line and column, then through the PostgreSQL-compatibility
/// parser, which rewrites what BI tools and drivers send to the catalog
/// (`'t'::regclass`, `pg_catalog.` qualifiers, `current_user`, ...) into
/// what DataFusion plans.
fn parse(sql: &str) -> Result<Statement, SqlError> {
    let sql = rewrite::protect_dd_calls(sql);
    let invalid = |error: ParserError| SqlError::Invalid(clean_message(&error.to_string()));
    Parser::parse_sql(&PostgreSqlDialect {}, &sql).map_err(invalid)?;
    static COMPATIBILITY: LazyLock<PostgresCompatibilityParser> =
        LazyLock::new(PostgresCompatibilityParser::new);
    let mut statements = COMPATIBILITY.parse(&sql).map_err(invalid)?;
    match (statements.pop(), statements.is_empty()) {
        (Some(statement), true) => Ok(statement),
        (None, _) => Err(SqlError::Invalid("no statement to run".into())),
        (Some(_), false) => Err(SqlError::Invalid(
            "one statement at a time: remove the `;` between statements".into(),
        )),
    }
}

/// The name `current_database()` answers; clients may connect to any.
pub const DATABASE: &str = "evident";

/// What every statement's session starts from: PostgreSQL's catalogs
/// (`pg_catalog`, `information_schema`) and functions (`current_schema()`,
/// `has_table_privilege()`, ...), which BI tools and drivers query before
/// and around the statements they are given. Built once: the catalog
/// tables are decoded from data compiled into the binary.
fn base_state() -> Result<&'static SessionState, SqlError> {
    static BASE: LazyLock<Result<SessionState, String>> = LazyLock::new(|| {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(DATABASE, "public");
        let session = SessionContext::new_with_config(config);
        setup_pg_catalog(&session, DATABASE, EmptyContextProvider)
            .map_err(|error| error.to_string())?;
        for function in limits::bounded_functions(session.state().scalar_functions()) {
            session.register_udf(function);
        }
        Ok(session.state())
    });
    BASE.as_ref()
        .map_err(|error| SqlError::Store(format!("setting up pg_catalog: {error}")))
}

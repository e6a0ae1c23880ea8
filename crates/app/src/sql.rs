//! SQL over the audit events (`dd.audit(...)`), for every surface. The
//! only way to run a statement is [`Evident::sql`], which records who ran
//! it (durably) before planning it: nothing is read unrecorded, whichever
//! surface asks, and statements that fail are recorded too.

use std::pin::Pin;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use evident_query::sql::parameters::Parameter;
use evident_query::sql::{SqlContext, SqlEngine, SqlError};
use futures::{Stream, StreamExt};

use crate::Evident;
use crate::activity::SqlActivity;
use crate::actor::Actor;
use crate::error::{AppError, ErrorKind};
use crate::metrics::Internal;

/// The rows of a statement, a batch at a time; an error ends them.
pub type SqlRows = Pin<Box<dyn Stream<Item = Result<RecordBatch, AppError>> + Send>>;

/// A statement recorded and started.
pub struct SqlAnswer {
    pub schema: SchemaRef,
    pub rows: SqlRows,
}

impl std::fmt::Debug for SqlAnswer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SqlAnswer")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The kind of a statement's failure.
pub fn sql_error(error: SqlError) -> AppError {
    let kind = match error {
        SqlError::Invalid(_) => ErrorKind::InvalidArgument,
        SqlError::Limit(_) => ErrorKind::LimitExceeded,
        SqlError::Busy(_) => ErrorKind::Busy,
        SqlError::Store(_) => ErrorKind::Internal,
    };
    AppError::new(kind, error.to_string())
}

impl Evident {
    /// Records `statement` as run by `actor`, waits until the record is
    /// durable, then runs it.
    pub async fn sql(
        &self,
        actor: &Actor,
        statement: &str,
        parameters: &[Parameter],
        context: SqlContext,
    ) -> Result<SqlAnswer, AppError> {
        let surface = actor.surface.name();
        let activity = SqlActivity {
            actor,
            statement,
            parameters,
        };
        self.record(activity.stored()).await.map_err(|error| {
            self.sql_failed(
                surface,
                AppError::unavailable(format!(
                    "recording the query in the audit trail failed: {}",
                    error.message
                )),
            )
        })?;
        self.metrics.emit(Internal::SqlStarted { surface });
        let engine = SqlEngine::new(self.store.clone());
        let output = engine
            .run(statement, parameters, context)
            .await
            .map_err(|error| self.sql_failed(surface, sql_error(error)))?;
        let rows = output
            .stream
            .map(|batch| batch.map_err(|error| sql_error(SqlError::from(error))));
        Ok(SqlAnswer {
            schema: output.schema,
            rows: Box::pin(rows),
        })
    }

    /// The columns `statement` would answer, planned but not run (nothing
    /// is read, so nothing is recorded).
    pub async fn describe_sql(
        &self,
        statement: &str,
        parameters: &[Parameter],
        context: SqlContext,
    ) -> Result<SchemaRef, AppError> {
        SqlEngine::new(self.store.clone())
            .describe(statement, parameters, context)
            .await
            .map_err(sql_error)
    }

    fn sql_failed(&self, surface: &str, error: AppError) -> AppError {
        self.metrics.emit(Internal::SqlFailed {
            surface,
            kind: error.kind,
            message: &error.message,
        });
        error
    }
}

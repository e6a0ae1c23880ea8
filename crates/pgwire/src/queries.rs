//! Statements from PostgreSQL clients, run by the SQL engine.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use evident_app::{Actor, Evident};
use evident_model::Timestamp;
use evident_query::sql::SqlContext;
use evident_query::sql::parameters::{Parameter, parameter_count};
use futures::{Sink, StreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse, Response,
};
use pgwire::api::stmt::{NoopQueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_USER};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::auth::{KEY_ID, USER_EMAIL};
use super::errors::user_error;
use super::parameters::{announced_types, decode};
use super::rows::{encode_rows, field_infos};
use super::session;

pub struct Queries {
    evident: Arc<Evident>,
    parser: Arc<NoopQueryParser>,
}

impl Queries {
    pub fn new(evident: Arc<Evident>) -> Queries {
        Queries {
            evident,
            parser: Arc::new(NoopQueryParser::new()),
        }
    }
}

fn trimmed(query: &str) -> &str {
    query.trim().trim_end_matches(';').trim()
}

impl Queries {
    /// Records `statement`, runs it with `parameters` and answers its rows
    /// in `format`.
    async fn run<C: ClientInfo>(
        &self,
        client: &C,
        statement: &str,
        parameters: &[Parameter],
        format: &Format,
    ) -> PgWireResult<Response> {
        if let Some(answer) = session::answer(statement) {
            return answer;
        }
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        let mut actor = Actor::postgres(&user, Some(client.socket_addr().ip().to_string()));
        actor.email = client.metadata().get(USER_EMAIL).cloned();
        actor.application_key = client.metadata().get(KEY_ID).cloned();
        let context = SqlContext::everything(Timestamp::now());
        let answer = self
            .evident
            .sql(&actor, statement, parameters, context)
            .await
            .map_err(user_error)?;
        let fields = Arc::new(field_infos(&answer.schema, format));
        let row_fields = Arc::clone(&fields);
        let rows = answer.rows.flat_map(move |batch| {
            let rows: Vec<PgWireResult<_>> = match batch {
                Ok(batch) => encode_rows(batch, &row_fields).collect(),
                Err(error) => vec![Err(user_error(error))],
            };
            stream::iter(rows)
        });
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }

    /// The columns of `statement`, planned but not run.
    async fn describe(
        &self,
        statement: &str,
        parameters: &[Parameter],
        format: &Format,
    ) -> PgWireResult<Vec<FieldInfo>> {
        if let Some(fields) = session::describe(statement) {
            return Ok(fields);
        }
        let context = SqlContext::everything(Timestamp::now());
        let schema = self
            .evident
            .describe_sql(statement, parameters, context)
            .await
            .map_err(user_error)?;
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
            .run(client, trimmed(query), &[], &Format::UnifiedText)
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
        let parameters = decode(portal)?;
        self.run(
            client,
            trimmed(&portal.statement.statement),
            &parameters,
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
        let statement = trimmed(&target.statement);
        let parameter_types = announced_types(&target.parameter_types, parameter_count(statement));
        // Formats are chosen at bind time; a statement describes in text.
        let fields = self.describe(statement, &[], &Format::UnifiedText).await?;
        Ok(DescribeStatementResponse::new(parameter_types, fields))
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
        let parameters = decode(target)?;
        let fields = self
            .describe(
                trimmed(&target.statement.statement),
                &parameters,
                &target.result_column_format,
            )
            .await?;
        Ok(DescribePortalResponse::new(fields))
    }
}

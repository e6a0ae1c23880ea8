//! The PostgreSQL wire protocol (`serve --pg-listen`), so that `psql`,
//! JDBC and the BI tools built on them (Grafana, Metabase) can run
//! `dd.audit(...)` SQL.
//!
//! A thin adapter over `evident_app::Evident`: statements run through
//! `Evident::sql` (recorded first), errors become SQLSTATEs through one
//! table ([`errors`]).
//!
//! - [`auth`]: any user name; the password is an application key, sent in
//!   clear text (keep the listener on loopback or a trusted network);
//! - [`queries`]: statements go to the SQL engine, which also serves the
//!   catalogs tools read (`pg_catalog`, `information_schema`); each one is
//!   recorded as an audit event under `pg:<user name>` before it runs.
//!   Simple and extended query protocol (prepared statements, results in
//!   text or binary as the client asks);
//! - [`parameters`]: `$1`, ... values, text or binary, bound into the
//!   statement before it is planned;
//! - [`session`]: transactions, `SET`, `SHOW`, answered without the engine;
//! - [`rows`]: result columns and rows in PostgreSQL's types.

mod auth;
pub mod errors;
mod parameters;
mod queries;
mod rows;
mod session;

use std::sync::Arc;

use pgwire::api::PgWireServerHandlers;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use tokio::net::TcpListener;

use evident_app::Evident;

use auth::ApplicationKeyLogin;
use queries::Queries;

/// Accepts connections until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    evident: Arc<Evident>,
    tls: Option<pgwire::tokio::TlsAcceptor>,
) {
    let handlers = Arc::new(Handlers::new(evident, tls.is_some()));
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
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(error) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                tracing::debug!(%error, %peer, "postgres connection ended with an error");
            }
        });
    }
}

struct Handlers {
    login: Arc<ApplicationKeyLogin>,
    queries: Arc<Queries>,
}

impl Handlers {
    fn new(evident: Arc<Evident>, require_tls: bool) -> Handlers {
        Handlers {
            login: Arc::new(ApplicationKeyLogin::new(Arc::clone(&evident), require_tls)),
            queries: Arc::new(Queries::new(evident)),
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
        Arc::clone(&self.login)
    }
}

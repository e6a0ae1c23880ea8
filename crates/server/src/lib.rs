//! The `evident` binary's library: the glue that composes the surfaces
//! into one process. `evident serve` opens the store, builds the
//! application service (`evident_app::Evident`) and serves it over HTTP
//! (`evident_http`), the PostgreSQL wire protocol (`evident_pgwire`) and,
//! optionally, the audit gateway beside them; every other subcommand is
//! `evident_cli`'s.
//!
//! - [`serve`]: `evident serve`;
//! - [`gateway`]: `evident gateway`, the audit gateway on its own;
//! - [`tls`]: the certificate both listeners serve.
//!
//! The application crate's modules the integration tests drive directly
//! are re-exported here.

pub mod gateway;
pub mod serve;
pub mod tls;

pub use evident_app::{access, import, monitors, views};
pub use evident_cli::args as cli;

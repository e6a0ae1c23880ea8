//! evident's command line: the arguments of every subcommand ([`args`])
//! and the commands that work on a running server (over its HTTP API) or
//! directly on a stopped data directory (through `evident_app::Evident`,
//! the same operations a server runs: [`local`]; [`remote`] for the
//! server's API). `evident serve` and
//! `evident gateway` live in the binary, which composes the surfaces.
//!
//! - [`commands`]: `search`, `sql`, `import`, `verify`, `match`, `replay`.

pub mod args;
pub mod commands;
pub mod local;
pub mod remote;

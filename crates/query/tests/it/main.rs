mod differential;
mod slt;
mod sql;
mod support;

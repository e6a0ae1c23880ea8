mod differential;
mod slt;
mod sql;

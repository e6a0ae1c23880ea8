mod differential;
mod sql;

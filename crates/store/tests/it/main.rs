mod store;
mod wal;

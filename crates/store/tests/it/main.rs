mod wal;

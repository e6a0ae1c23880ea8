//! What the read-path tests share.

use evident_model::StoredEvent;
use evident_store::{Store, StoreOptions, append_and_wait};

/// A store in a temporary directory holding `events`, appended `batch` at
/// a time, every full run of `seal_rows` sealed into a segment and the rest
/// left in the unsealed tail.
pub fn store_of(
    events: &[StoredEvent],
    seal_rows: usize,
    batch: usize,
) -> (tempfile::TempDir, Store) {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = Store::open(
        directory.path(),
        StoreOptions {
            seal_rows,
            ..StoreOptions::default()
        },
    )
    .expect("open");
    for chunk in events.chunks(batch) {
        append_and_wait(&store, chunk).expect("durable");
    }
    store.seal().expect("seal");
    (directory, store)
}

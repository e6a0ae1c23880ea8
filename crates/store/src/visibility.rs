//! Read-your-writes for batches answered once written.
//!
//! A batch acknowledged once written (the records of reads) is answered
//! before its fsync, but joins the tail only after it. A query that starts
//! after such an answer must still see that batch, so taking a snapshot
//! first waits for every batch answered so far to be visible: in practice
//! for the rest of one fsync already under way, and usually not at all.
//! A batch counts as answered when its submitter receives the
//! acknowledgement (after its own read ran), not when it is written, so a
//! read never waits for the fsync of its own record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How long a snapshot waits for an answered batch; only a failed fsync
/// (after which the log takes no more writes) makes it wait that long.
const PATIENCE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct Visibility {
    /// The end of the sequence numbers of batches answered once written.
    answered_end: AtomicU64,
    /// The end of the sequence numbers queries can see.
    visible_end: AtomicU64,
    /// The same, for waiting on it.
    visible: Mutex<u64>,
    made_visible: Condvar,
}

impl Visibility {
    pub(crate) fn new(end: u64) -> Visibility {
        Visibility {
            answered_end: AtomicU64::new(end),
            visible_end: AtomicU64::new(end),
            visible: Mutex::new(end),
            made_visible: Condvar::new(),
        }
    }

    /// A batch ending at `end` is answered to its submitter (before it may
    /// be visible).
    pub(crate) fn answered(&self, end: u64) {
        self.answered_end.fetch_max(end, Ordering::AcqRel);
    }

    /// Queries can see everything before `end`.
    pub(crate) fn made_visible(&self, end: u64) {
        self.visible_end.fetch_max(end, Ordering::AcqRel);
        let mut visible = self.visible.lock().unwrap_or_else(PoisonError::into_inner);
        *visible = (*visible).max(end);
        self.made_visible.notify_all();
    }

    /// Waits until every batch answered so far is visible.
    pub(crate) fn wait_for_answered(&self) {
        let wanted = self.answered_end.load(Ordering::Acquire);
        if self.visible_end.load(Ordering::Acquire) >= wanted {
            return;
        }
        let visible = self.visible.lock().unwrap_or_else(PoisonError::into_inner);
        let (visible, waited) = self
            .made_visible
            .wait_timeout_while(visible, PATIENCE, |visible| *visible < wanted)
            .unwrap_or_else(PoisonError::into_inner);
        drop(visible);
        if waited.timed_out() {
            tracing::warn!(
                wanted,
                "records answered once written are not visible yet: their fsync may have failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_snapshot_waits_for_what_was_answered_and_no_longer() {
        let visibility = Arc::new(Visibility::new(10));
        visibility.wait_for_answered();
        visibility.answered(12);
        let maker = {
            let visibility = Arc::clone(&visibility);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                visibility.made_visible(12);
            })
        };
        let started = std::time::Instant::now();
        visibility.wait_for_answered();
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert!(started.elapsed() < PATIENCE);
        maker.join().expect("maker");
        let started = std::time::Instant::now();
        visibility.wait_for_answered();
        assert!(
            started.elapsed() < Duration::from_millis(40),
            "nothing pending"
        );
    }
}

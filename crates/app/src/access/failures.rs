//! Failed key checks, counted per key fingerprint and client address and
//! recorded once a window (a minute by default) as one audit event each:
//! a flood of wrong keys costs one event a minute per key and address, not
//! one per request.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// What failed within the current window.
#[derive(Debug, Default)]
pub struct FailedChecks {
    /// (key fingerprint, client address) → failures.
    counts: Mutex<BTreeMap<(String, String), u64>>,
}

impl FailedChecks {
    pub fn add(&self, fingerprint: String, client_ip: String) {
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((fingerprint, client_ip))
            .or_default() += 1;
    }

    /// The window's counts, leaving the next window empty.
    pub fn take(&self) -> BTreeMap<(String, String), u64> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

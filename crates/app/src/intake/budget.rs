//! The memory that decoding request bodies may take at once, shared by the
//! intake and the import API. A parsed JSON value takes many times the
//! bytes of its text, and a small compressed body can decode to a large
//! one: each request reserves what its body may cost before decoding, and
//! waits (a little) for room. A request that finds none in time is
//! answered 503 (senders retry); one larger than the whole budget, 413.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a request waits for room before it is answered 503.
const WAIT: Duration = Duration::from_secs(5);

/// Bytes of parsed values and events per byte of decoded JSON, at worst
/// (a body of empty arrays and objects).
pub const AMPLIFICATION: usize = 16;

#[derive(Debug, Clone)]
pub struct DecodeBudget {
    permits: Arc<Semaphore>,
    total_kib: usize,
}

/// Why a request got no room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error(
        "decoding this request needs more memory ({needed_mib} MiB) than the server allows for decoding ({total_mib} MiB)"
    )]
    TooLarge { needed_mib: usize, total_mib: usize },
    #[error("the server is decoding as many requests as its memory allows; retry shortly")]
    Busy,
}

impl DecodeBudget {
    pub fn new(bytes: usize) -> DecodeBudget {
        let total_kib = (bytes / 1024).clamp(1, Semaphore::MAX_PERMITS);
        DecodeBudget {
            permits: Arc::new(Semaphore::new(total_kib)),
            total_kib,
        }
    }

    /// Room for `bytes` of decoding, held until the permit is dropped.
    pub async fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, BudgetError> {
        self.reserve_within(bytes, WAIT).await
    }

    async fn reserve_within(
        &self,
        bytes: usize,
        wait: Duration,
    ) -> Result<OwnedSemaphorePermit, BudgetError> {
        let kib = bytes.div_ceil(1024).max(1);
        if kib > self.total_kib {
            return Err(BudgetError::TooLarge {
                needed_mib: kib / 1024,
                total_mib: self.total_kib / 1024,
            });
        }
        let permits = u32::try_from(kib).map_err(|_| BudgetError::Busy)?;
        tokio::time::timeout(wait, Arc::clone(&self.permits).acquire_many_owned(permits))
            .await
            .map_err(|_| BudgetError::Busy)?
            .map_err(|_| BudgetError::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_is_held_and_given_back() {
        let budget = DecodeBudget::new(4 << 20);
        assert!(matches!(
            budget.reserve(8 << 20).await,
            Err(BudgetError::TooLarge { .. })
        ));
        let held = budget.reserve(3 << 20).await.expect("room");
        let waiting = budget.reserve_within(2 << 20, Duration::from_millis(50));
        assert_eq!(waiting.await.err(), Some(BudgetError::Busy));
        drop(held);
        assert!(budget.reserve(4 << 20).await.is_ok());
    }
}

//! A token bucket per identity: `requests_per_second` refill, `burst`
//! capacity (default: one second's worth).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimitConfig;

/// Buckets not touched for this long are full again and are forgotten.
const IDLE: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> RateLimiter {
        let burst = config
            .burst
            .map_or(config.requests_per_second.ceil(), f64::from)
            .max(1.0);
        RateLimiter {
            rate: config.requests_per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `who`; when there is none, how long until there
    /// will be.
    pub fn take(&self, who: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 10_000 {
            buckets.retain(|_, bucket| now.duration_since(bucket.at) < IDLE);
        }
        let bucket = buckets.entry(who.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_per_identity() {
        let limiter = RateLimiter::new(&RateLimitConfig {
            requests_per_second: 2.0,
            burst: Some(3),
        });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("agent", start).is_ok());
        }
        let wait = limiter.take("agent", start).err();
        assert!(wait.is_some_and(|wait| wait <= Duration::from_millis(500)));
        assert!(limiter.take("someone-else", start).is_ok());
        assert!(
            limiter
                .take("agent", start + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            limiter
                .take("agent", start + Duration::from_millis(500))
                .is_err()
        );
    }
}

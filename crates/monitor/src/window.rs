//! A rolling window of one group: what matched, in buckets by event time,
//! so that the window's value at any end is a sum over at most 60 buckets
//! and memory per group is bounded by the window, not by the events.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::query::Rollup;

/// Buckets a window is cut into: the window's edge is exact to 1/60 of it.
pub const BUCKETS_PER_WINDOW: i64 = 60;
/// Distinct values kept per bucket for a cardinality rollup; past it the
/// bucket counts what it has (and the value is a lower bound).
pub const MAX_DISTINCT_PER_BUCKET: usize = 10_000;

/// What one matching event brings to a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contribution {
    /// Numeric values of the rollup's field (sum, avg).
    pub numbers: Vec<f64>,
    /// Hashes of the field's values (cardinality).
    pub distinct: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Bucket {
    #[serde(rename = "n")]
    count: u64,
    #[serde(default, rename = "s", skip_serializing_if = "is_zero")]
    sum: f64,
    #[serde(default, rename = "k", skip_serializing_if = "is_zero_count")]
    numbers: u64,
    #[serde(default, rename = "d", skip_serializing_if = "HashSet::is_empty")]
    distinct: HashSet<u64>,
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

fn is_zero_count(value: &u64) -> bool {
    *value == 0
}

/// One group's buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    width: i64,
    bucket: i64,
    buckets: BTreeMap<i64, Bucket>,
}

impl Window {
    pub fn new(width: Duration) -> Window {
        let width = i64::try_from(width.as_nanos()).unwrap_or(i64::MAX);
        Window {
            width,
            bucket: (width / BUCKETS_PER_WINDOW).max(1_000_000_000),
            buckets: BTreeMap::new(),
        }
    }

    /// Counts an event stamped `time` (ns since the epoch).
    pub fn add(&mut self, time: i64, contribution: &Contribution) {
        let start = time.div_euclid(self.bucket) * self.bucket;
        let bucket = self.buckets.entry(start).or_default();
        bucket.count += 1;
        for number in &contribution.numbers {
            bucket.sum += number;
            bucket.numbers += 1;
        }
        for hash in &contribution.distinct {
            if bucket.distinct.len() < MAX_DISTINCT_PER_BUCKET {
                bucket.distinct.insert(*hash);
            }
        }
    }

    /// The rollup over the window that ends at `end` (ns): the buckets
    /// that start after `end - width` and not after `end`. `None` when the
    /// rollup has no value (an average of nothing).
    pub fn value(&self, rollup: &Rollup, end: i64) -> Option<f64> {
        let first = end.saturating_sub(self.width);
        let lowest = first.div_euclid(self.bucket) * self.bucket + self.bucket;
        let buckets = self
            .buckets
            .range(lowest..)
            .take_while(|(start, _)| **start <= end)
            .map(|(_, bucket)| bucket);
        match rollup {
            // Folded from +0.0: an empty `sum()` of floats is -0.0.
            Rollup::Count => Some(buckets.fold(0.0, |total, bucket| total + bucket.count as f64)),
            Rollup::Sum(..) => Some(buckets.fold(0.0, |total, bucket| total + bucket.sum)),
            Rollup::Avg(..) => {
                let (sum, count) = buckets.fold((0.0, 0u64), |(sum, count), bucket| {
                    (sum + bucket.sum, count + bucket.numbers)
                });
                (count > 0).then(|| sum / count as f64)
            }
            Rollup::Cardinality(..) => {
                let mut seen = HashSet::new();
                for bucket in buckets {
                    seen.extend(bucket.distinct.iter().copied());
                }
                Some(seen.len() as f64)
            }
        }
    }

    /// Drops the buckets that no window ending at `end` or later can see.
    pub fn forget_before(&mut self, end: i64) {
        let first = end.saturating_sub(self.width);
        let keep = first.div_euclid(self.bucket) * self.bucket;
        self.buckets = self.buckets.split_off(&keep);
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The newest bucket's start, if any.
    pub fn newest(&self) -> Option<i64> {
        self.buckets.keys().next_back().copied()
    }

    /// Buckets held (for memory accounting).
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn counts_what_falls_inside_the_window_only() {
        let mut window = Window::new(Duration::from_secs(300));
        let one = Contribution::default();
        for time in [0, 10, 20, 290, 299] {
            window.add(time * SECOND, &one);
        }
        assert_eq!(window.value(&Rollup::Count, 299 * SECOND), Some(5.0));
        // 305 s: the first bucket (0..5 s) has left the window.
        assert_eq!(window.value(&Rollup::Count, 305 * SECOND), Some(4.0));
        assert_eq!(window.value(&Rollup::Count, 1000 * SECOND), Some(0.0));
        window.forget_before(1000 * SECOND);
        assert!(window.is_empty());
    }

    #[test]
    fn sums_averages_and_distinct_values() {
        let mut window = Window::new(Duration::from_secs(60));
        let sum = Rollup::Sum("@n".into(), evident_search::Field::Tags);
        let avg = Rollup::Avg("@n".into(), evident_search::Field::Tags);
        let distinct = Rollup::Cardinality("@n".into(), evident_search::Field::Tags);
        assert_eq!(window.value(&avg, 0), None);
        for (time, number, hash) in [(1, 2.0, 7), (2, 4.0, 7), (3, 6.0, 8)] {
            window.add(
                time * SECOND,
                &Contribution {
                    numbers: vec![number],
                    distinct: vec![hash],
                },
            );
        }
        assert_eq!(window.value(&sum, 3 * SECOND), Some(12.0));
        assert_eq!(window.value(&avg, 3 * SECOND), Some(4.0));
        assert_eq!(window.value(&distinct, 3 * SECOND), Some(2.0));
    }
}

//! The values assigned to each event at ingest: a time-ordered id, a
//! tiebreaker and a random draw.

use std::cell::Cell;

use evident_model::Timestamp;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    // Without OS randomness, fall back to the clock and the thread: the
    // values must be well spread, not secret.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        bytes = nanos.to_le_bytes();
    }
    u64::from_le_bytes(bytes) | 1
}

/// SplitMix64: fast, statistically sound, per thread.
fn next_u64() -> u64 {
    STATE.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so
/// ids sort by discovery time.
pub fn event_id(discovered: Timestamp) -> String {
    let millis = (discovered.as_nanos().max(0) / 1_000_000) as u64 & 0xffff_ffff_ffff;
    let random = next_u64();
    let random_b = next_u64();
    let high = (millis << 16) | 0x7000 | (random & 0x0fff);
    let low = (random_b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

/// A positive 63-bit integer.
pub fn tiebreaker() -> i64 {
    (next_u64() >> 1) as i64
}

/// Uniform in [0, 1) with 53 bits of precision.
pub fn random_draw() -> f64 {
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v7_and_sort_by_time() {
        let early = event_id(Timestamp::from_millis(1_714_564_800_000).expect("in range"));
        let late = event_id(Timestamp::from_millis(1_714_564_800_001).expect("in range"));
        assert_eq!(early.len(), 36);
        assert_eq!(&early[14..15], "7");
        assert!(matches!(&early[19..20], "8" | "9" | "a" | "b"));
        assert!(early < late);
        assert_ne!(
            event_id(Timestamp::from_nanos(0)),
            event_id(Timestamp::from_nanos(0))
        );
    }

    #[test]
    fn draws_are_in_range() {
        for _ in 0..10_000 {
            let draw = random_draw();
            assert!((0.0..1.0).contains(&draw));
            assert!(tiebreaker() >= 0);
        }
    }
}

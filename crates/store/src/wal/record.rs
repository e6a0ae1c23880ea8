//! The framing of one log record:
//!
//! ```text
//! length: u32 LE | crc32c: u32 LE | sequence: u64 LE | payload (length bytes)
//! ```
//!
//! The checksum covers the sequence number and the payload, so a record
//! moved to the wrong position is as detectable as a flipped bit.

/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 16;

/// Larger records are refused on write and read as corruption: a garbage
/// length must not make recovery allocate gigabytes.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

pub(crate) fn checksum(sequence: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&sequence.to_le_bytes()), payload)
}

pub(crate) fn encode(sequence: u64, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_RECORD_BYTES);
    // Cannot truncate: payloads are at most MAX_RECORD_BYTES.
    let length = payload.len() as u32;
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&checksum(sequence, payload).to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(payload);
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Record {
        sequence: u64,
        payload: std::ops::Range<usize>,
        next: usize,
    },
    /// The bytes end inside a record: a write that did not finish.
    Incomplete,
    /// The bytes are all there but do not form a valid record.
    Corrupt(&'static str),
}

pub(crate) fn decode(bytes: &[u8], offset: usize) -> Decoded {
    let Some(header) = bytes.get(offset..offset + HEADER_LEN) else {
        return Decoded::Incomplete;
    };
    let field = |range: std::ops::Range<usize>| &header[range];
    let length = u32::from_le_bytes(field(0..4).try_into().unwrap_or_default()) as usize;
    let stored_checksum = u32::from_le_bytes(field(4..8).try_into().unwrap_or_default());
    let sequence = u64::from_le_bytes(field(8..16).try_into().unwrap_or_default());
    if length > MAX_RECORD_BYTES {
        return Decoded::Corrupt("record length beyond the maximum");
    }
    let start = offset + HEADER_LEN;
    let Some(payload) = bytes.get(start..start + length) else {
        return Decoded::Incomplete;
    };
    if checksum(sequence, payload) != stored_checksum {
        return Decoded::Corrupt("checksum mismatch");
    }
    Decoded::Record {
        sequence,
        payload: start..start + length,
        next: start + length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut bytes = Vec::new();
        encode(7, b"hello", &mut bytes);
        encode(8, b"", &mut bytes);
        let Decoded::Record {
            sequence,
            payload,
            next,
        } = decode(&bytes, 0)
        else {
            panic!("a record")
        };
        assert_eq!((sequence, &bytes[payload]), (7, &b"hello"[..]));
        assert!(matches!(
            decode(&bytes, next),
            Decoded::Record { sequence: 8, .. }
        ));
        assert_eq!(decode(&bytes[..next - 1], 0), Decoded::Incomplete);
        assert_eq!(decode(&bytes[..3], 0), Decoded::Incomplete);
        let mut flipped = bytes.clone();
        flipped[HEADER_LEN] ^= 0x20;
        assert_eq!(decode(&flipped, 0), Decoded::Corrupt("checksum mismatch"));
        let mut renumbered = bytes.clone();
        renumbered[8] = 9;
        assert_eq!(
            decode(&renumbered, 0),
            Decoded::Corrupt("checksum mismatch")
        );
    }
}

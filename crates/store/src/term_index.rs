//! Postings of index terms (`evident_search::terms`) for one sealed
//! segment: a needle or a rare word becomes a short list of row offsets
//! instead of a scan. Written beside the segment when it is sealed
//! (`seg-….terms`) and loaded when the store opens; it is derived data, so a
//! missing or damaged file is rebuilt from the segment.
//!
//! Lookups narrow candidates; for the queries `exact_alternatives` accepts they
//! also decide, so counts come from the postings alone.
//!
//! File layout: a zstd frame holding (little endian) `EVTI3\n`, the row
//! count (u32), the number of terms (u32), then per term, sorted by hash,
//! its hash (u64) and the byte offset of its postings (u32), then the
//! postings: row offsets, ascending, as LEB128 deltas. The deltas of
//! frequent terms repeat, so the frame is about half the plain size.

use evident_model::Event;

/// Version 3: `@status` terms fall back to the reserved status; older
/// files are rebuilt from their segment when the store opens.
const MAGIC: &[u8; 6] = b"EVTI3\n";
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const FILE_ZSTD_LEVEL: i32 = 3;
/// Far above any segment's index; a damaged header cannot make us
/// allocate more.
const MAX_FILE_BYTES: u64 = 4 << 30;

/// A term's 64-bit hash; a collision only adds candidates (and, for the
/// counts of exact queries, is as unlikely as 2^-64 per term pair).
pub(crate) use evident_model::prehashed::Prehashed;

/// XXH3 is specified and stable across releases, unlike the standard
/// library's hasher: the hashes are persisted.
pub fn term_hash(term: &str) -> u64 {
    twox_hash::XxHash3_64::oneshot(term.as_bytes())
}

/// An event's terms as the index knows them: hashed, sorted, each once.
pub fn event_term_hashes(event: &Event, hashes: &mut Vec<u64>) {
    hashes.clear();
    evident_search::terms::visit_event_terms(event, &mut |term| {
        hashes.push(term_hash(term));
    });
    hashes.sort_unstable();
    hashes.dedup();
}

#[derive(Debug, thiserror::Error)]
#[error("term index is damaged: {0}")]
pub struct TermIndexError(String);

#[derive(Debug)]
pub struct TermIndex {
    rows: u32,
    /// `(hash, start of its postings in `postings`)`, sorted by hash.
    directory: Vec<(u64, u32)>,
    postings: Vec<u8>,
}

impl TermIndex {
    /// Indexes `events`, row `i` being `events[i]`.
    pub fn build<'e>(events: impl IntoIterator<Item = &'e Event>) -> TermIndex {
        let mut hashes = Vec::new();
        let mut rows = Vec::new();
        for event in events {
            event_term_hashes(event, &mut hashes);
            rows.push(hashes.clone());
        }
        TermIndex::from_rows(rows.iter().map(Vec::as_slice))
    }

    /// The index of rows given by their term hashes (sorted, each once, as
    /// [`event_term_hashes`] leaves them).
    pub fn from_rows<'r>(term_rows: impl IntoIterator<Item = &'r [u64]>) -> TermIndex {
        let mut lists: Prehashed<u64, Vec<u32>> = Prehashed::default();
        let mut rows = 0u32;
        for hashes in term_rows {
            // Rows arrive in order and each hash once per row, so every
            // list stays sorted.
            for hash in hashes {
                lists.entry(*hash).or_default().push(rows);
            }
            rows += 1;
        }
        let mut terms: Vec<u64> = lists.keys().copied().collect();
        terms.sort_unstable();
        let mut directory = Vec::with_capacity(terms.len());
        let mut postings = Vec::new();
        for hash in terms {
            directory.push((hash, postings.len() as u32));
            let mut previous = 0u32;
            for &row in &lists[&hash] {
                write_varint(&mut postings, row - previous);
                previous = row;
            }
        }
        TermIndex {
            rows,
            directory,
            postings,
        }
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let plain = self.to_plain_bytes();
        // Compressing a buffer in memory fails only on allocation.
        zstd::bulk::compress(&plain, FILE_ZSTD_LEVEL).unwrap_or(plain)
    }

    fn to_plain_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(14 + self.directory.len() * 12 + self.postings.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.rows.to_le_bytes());
        bytes.extend_from_slice(&(self.directory.len() as u32).to_le_bytes());
        for (hash, start) in &self.directory {
            bytes.extend_from_slice(&hash.to_le_bytes());
            bytes.extend_from_slice(&start.to_le_bytes());
        }
        bytes.extend_from_slice(&self.postings);
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<TermIndex, TermIndexError> {
        let damaged = |what: &str| TermIndexError(what.to_string());
        let plain;
        let bytes = if bytes.starts_with(&ZSTD_MAGIC) {
            let size = zstd::zstd_safe::get_frame_content_size(bytes)
                .ok()
                .flatten()
                .filter(|size| *size <= MAX_FILE_BYTES)
                .ok_or_else(|| damaged("bad frame size"))?;
            plain = zstd::bulk::decompress(bytes, size as usize)
                .map_err(|error| TermIndexError(format!("does not decompress: {error}")))?;
            plain.as_slice()
        } else {
            bytes
        };
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| damaged("bad magic"))?;
        let (rows, rest) = split_u32(rest).ok_or_else(|| damaged("no row count"))?;
        let (count, mut rest) = split_u32(rest).ok_or_else(|| damaged("no term count"))?;
        let mut directory = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let (hash, after) = rest
                .split_first_chunk::<8>()
                .ok_or_else(|| damaged("short directory"))?;
            let (start, after) = split_u32(after).ok_or_else(|| damaged("short directory"))?;
            directory.push((u64::from_le_bytes(*hash), start));
            rest = after;
        }
        let postings = rest.to_vec();
        let ordered = directory
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1);
        let in_bounds = directory
            .last()
            .is_none_or(|(_, start)| (*start as usize) <= postings.len());
        if !ordered || !in_bounds {
            return Err(damaged("directory out of order"));
        }
        Ok(TermIndex {
            rows,
            directory,
            postings,
        })
    }

    /// Row offsets holding the term with this hash, ascending; `None` when
    /// no row holds it.
    fn postings(&self, hash: u64) -> Option<Vec<u32>> {
        let position = self
            .directory
            .binary_search_by_key(&hash, |(entry, _)| *entry)
            .ok()?;
        let start = self.directory[position].1 as usize;
        let end = self
            .directory
            .get(position + 1)
            .map_or(self.postings.len(), |(_, next)| *next as usize);
        let mut bytes = self.postings.get(start..end)?;
        let mut rows = Vec::new();
        let mut row = 0u32;
        while let Some((delta, rest)) = read_varint(bytes) {
            row = row.saturating_add(delta);
            // Clamp what a damaged file could claim to the segment's rows.
            if row >= self.rows {
                break;
            }
            rows.push(row);
            bytes = rest;
        }
        Some(rows)
    }

    /// Row offsets holding every one of `required` (term hashes),
    /// ascending. With nothing required, every row.
    pub fn candidates(&self, required: &[u64]) -> Vec<u32> {
        if required.is_empty() {
            return (0..self.rows).collect();
        }
        let mut lists = Vec::with_capacity(required.len());
        for hash in required {
            match self.postings(*hash) {
                Some(list) => lists.push(list),
                None => return Vec::new(),
            }
        }
        intersect(lists.iter().map(Vec::as_slice).collect())
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.directory.len() * 16 + self.postings.len()
    }
}

fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

/// The rows in every one of `lists` (each ascending), ascending.
pub(crate) fn intersect(mut lists: Vec<&[u32]>) -> Vec<u32> {
    lists.sort_by_key(|list| list.len());
    let Some((shortest, rest)) = lists.split_first() else {
        return Vec::new();
    };
    shortest
        .iter()
        .copied()
        .filter(|row| rest.iter().all(|list| list.binary_search(row).is_ok()))
        .collect()
}

fn write_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let mut value = 0u32;
    for (index, byte) in bytes.iter().enumerate().take(5) {
        value |= u32::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[index + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(email: &str, message: &str) -> Event {
        serde_json::from_value(
            serde_json::json!({"message": message, "attributes": {"usr": {"email": email}}}),
        )
        .expect("event")
    }

    fn hashes(query: &str) -> Vec<u64> {
        evident_search::terms::required_terms(&evident_search::parse_filter(query).expect("valid"))
            .iter()
            .map(|term| term_hash(term))
            .collect()
    }

    #[test]
    fn intersects_postings_and_survives_a_round_trip() {
        let mut events = vec![
            event("a@x", "hello world"),
            event("b@x", "hello there"),
            event("a@x", "bye world"),
        ];
        // Far-apart rows need multi-byte deltas.
        events.extend((0..1000).map(|_| event("c@x", "filler")));
        events.push(event("a@x", "late world"));
        let built = TermIndex::build(&events);
        let loaded = TermIndex::from_bytes(&built.to_bytes()).expect("loads");
        for index in [&built, &loaded] {
            assert_eq!(index.candidates(&hashes("@usr.email:a@x")), [0, 2, 1003]);
            assert_eq!(
                index.candidates(&hashes("@usr.email:a@x world")),
                [0, 2, 1003]
            );
            assert_eq!(index.candidates(&hashes("hello @usr.email:b@x")), [1]);
            assert!(index.candidates(&hashes("nowhere")).is_empty());
            assert_eq!(index.candidates(&[]).len(), 1004);
        }
    }

    #[test]
    fn damaged_files_are_refused_not_trusted() {
        let bytes = TermIndex::build(&[event("a@x", "hello")]).to_plain_bytes();
        assert!(TermIndex::from_bytes(&bytes[..10]).is_err());
        assert!(TermIndex::from_bytes(b"nonsense").is_err());
        let mut shuffled = bytes.clone();
        shuffled[14..22].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            TermIndex::from_bytes(&shuffled).is_err(),
            "hashes out of order"
        );
    }
}

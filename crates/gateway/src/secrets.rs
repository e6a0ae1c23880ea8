//! A set of secret values to find in text: each value's searcher built
//! once (building one costs as much as many searches, and a bearer token
//! is long), longest first so that a value containing another is found
//! whole.

use memchr::memmem::Finder;

#[derive(Debug, Clone, Default)]
pub struct SecretSet {
    finders: Vec<Finder<'static>>,
}

impl SecretSet {
    pub fn new(values: impl IntoIterator<Item = Vec<u8>>) -> SecretSet {
        let mut set = SecretSet::default();
        set.extend(values);
        set
    }

    /// Adds values (empty ones and repeats are ignored).
    pub fn extend(&mut self, values: impl IntoIterator<Item = Vec<u8>>) {
        for value in values {
            if !value.is_empty() && !self.finders.iter().any(|finder| finder.needle() == value) {
                self.finders.push(Finder::new(&value).into_owned());
            }
        }
        self.finders
            .sort_by_key(|finder| std::cmp::Reverse(finder.needle().len()));
    }

    pub fn is_empty(&self) -> bool {
        self.finders.is_empty()
    }

    /// The length of the longest value.
    pub fn longest(&self) -> usize {
        self.finders
            .first()
            .map_or(0, |finder| finder.needle().len())
    }

    /// Every occurrence of every value replaced by `replacement`.
    pub fn replace(&self, haystack: &[u8], replacement: &[u8]) -> Vec<u8> {
        let mut output = haystack.to_vec();
        for finder in &self.finders {
            if finder.find(&output).is_none() {
                continue;
            }
            let mut replaced = Vec::with_capacity(output.len());
            let mut last = 0;
            for start in finder.find_iter(&output) {
                if start < last {
                    continue; // overlaps the previous occurrence
                }
                replaced.extend_from_slice(&output[last..start]);
                replaced.extend_from_slice(replacement);
                last = start + finder.needle().len();
            }
            replaced.extend_from_slice(&output[last..]);
            output = replaced;
        }
        output
    }

    /// Every occurrence of every value overwritten with `*` in place (the
    /// length stays); whether there was any.
    pub fn mask(&self, bytes: &mut [u8]) -> bool {
        let mut masked = false;
        for finder in &self.finders {
            let length = finder.needle().len();
            let mut from = 0;
            while let Some(found) = finder.find(&bytes[from..]) {
                let start = from + found;
                bytes[start..start + length].fill(b'*');
                from = start + length;
                masked = true;
            }
        }
        masked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_and_mask() {
        let set = SecretSet::new([
            b"abc".to_vec(),
            b"abcdef".to_vec(),
            Vec::new(),
            b"abc".to_vec(),
        ]);
        assert_eq!(set.longest(), 6);
        assert_eq!(set.replace(b"x abcdef abc abcab", b"#"), b"x # # #ab");
        let mut bytes = b"abcdef-abc-ab".to_vec();
        assert!(set.mask(&mut bytes));
        assert_eq!(bytes, b"******-***-ab");
        assert!(!SecretSet::default().mask(&mut bytes));
        assert_eq!(SecretSet::default().replace(b"abc", b"#"), b"abc");
    }
}

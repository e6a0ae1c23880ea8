//! How a segment keeps each event's exact bytes (`_raw`): compressed one
//! by one with a zstd dictionary trained on the segment's own events.
//!
//! Audit events repeat the same keys and many of the same values, so a
//! shared dictionary compresses a single event about as well as a 64 KB
//! block of them would, and reading one event decompresses only that
//! event instead of a page around it. The dictionary travels in the
//! Parquet footer (`evident.raw_dictionary`, base64); a segment without it
//! stores `_raw` as plain bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parquet::file::metadata::KeyValue;

/// Footer key holding the dictionary.
pub const DICTIONARY_KEY: &str = "evident.raw_dictionary";
const DICTIONARY_BYTES: usize = 64 * 1024;
/// Events sampled for training, spread over the segment.
const TRAINING_SAMPLES: usize = 4096;
const LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum RawCodecError {
    #[error("compressing stored bytes: {0}")]
    Compress(std::io::Error),
    #[error("stored bytes do not decompress: {0}")]
    Decompress(String),
    #[error("the segment's dictionary is not valid base64")]
    Dictionary,
}

/// The compressed form of every payload, and the footer entry that
/// decodes them. Too few events to train on: stored as they are.
pub fn encode_all(payloads: &[&[u8]]) -> Result<(Vec<Vec<u8>>, Option<KeyValue>), RawCodecError> {
    let step = (payloads.len() / TRAINING_SAMPLES).max(1);
    let samples: Vec<&[u8]> = payloads.iter().step_by(step).copied().collect();
    let Ok(dictionary) = zstd::dict::from_samples(&samples, DICTIONARY_BYTES) else {
        return Ok((payloads.iter().map(|raw| raw.to_vec()).collect(), None));
    };
    let mut compressor = zstd::bulk::Compressor::with_dictionary(LEVEL, &dictionary)
        .map_err(RawCodecError::Compress)?;
    compressor
        .include_checksum(false)
        .map_err(RawCodecError::Compress)?;
    compressor
        .include_dictid(false)
        .map_err(RawCodecError::Compress)?;
    let compressed = payloads
        .iter()
        .map(|raw| compressor.compress(raw))
        .collect::<Result<Vec<_>, _>>()
        .map_err(RawCodecError::Compress)?;
    let entry = KeyValue::new(DICTIONARY_KEY.to_string(), STANDARD.encode(&dictionary));
    Ok((compressed, Some(entry)))
}

/// Decodes a segment's `_raw` values, given its footer entries. Built
/// once per segment: preparing the dictionary's tables is what costs, not
/// decompressing an event.
pub struct RawDecoder {
    dictionary: Option<zstd::dict::DecoderDictionary<'static>>,
}

impl std::fmt::Debug for RawDecoder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RawDecoder")
            .field("dictionary", &self.dictionary.is_some())
            .finish()
    }
}

impl RawDecoder {
    pub fn new(footer: Option<&Vec<KeyValue>>) -> Result<RawDecoder, RawCodecError> {
        let encoded = footer
            .into_iter()
            .flatten()
            .find(|entry| entry.key == DICTIONARY_KEY)
            .and_then(|entry| entry.value.as_deref());
        let dictionary = encoded
            .map(|text| STANDARD.decode(text).map_err(|_| RawCodecError::Dictionary))
            .transpose()?
            .map(|bytes| zstd::dict::DecoderDictionary::copy(&bytes));
        Ok(RawDecoder { dictionary })
    }

    /// A decompressor for many values in a row.
    pub fn session(&self) -> Result<RawSession<'_>, RawCodecError> {
        let decompressor = match &self.dictionary {
            None => None,
            Some(dictionary) => Some(
                zstd::bulk::Decompressor::with_prepared_dictionary(dictionary)
                    .map_err(|error| RawCodecError::Decompress(error.to_string()))?,
            ),
        };
        Ok(RawSession { decompressor })
    }
}

pub struct RawSession<'d> {
    decompressor: Option<zstd::bulk::Decompressor<'d>>,
}

impl std::fmt::Debug for RawSession<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RawSession")
            .field("dictionary", &self.decompressor.is_some())
            .finish()
    }
}

impl RawSession<'_> {
    pub fn decode(&mut self, stored: &[u8]) -> Result<Vec<u8>, RawCodecError> {
        let mut out = Vec::new();
        self.decode_into(stored, &mut out)?;
        Ok(out)
    }

    /// [`RawSession::decode`] into `out` (cleared first), so that a caller
    /// decoding many events reuses one buffer.
    pub fn decode_into(&mut self, stored: &[u8], out: &mut Vec<u8>) -> Result<(), RawCodecError> {
        out.clear();
        let Some(decompressor) = &mut self.decompressor else {
            out.extend_from_slice(stored);
            return Ok(());
        };
        let size = zstd::zstd_safe::get_frame_content_size(stored)
            .ok()
            .flatten()
            .ok_or_else(|| RawCodecError::Decompress("no content size in the frame".into()))?;
        // A payload is at most a few MB; a damaged header must not make
        // us allocate more than a request could ever have carried.
        let size = usize::try_from(size)
            .ok()
            .filter(|size| *size <= 64 << 20)
            .ok_or_else(|| RawCodecError::Decompress("an implausible content size".into()))?;
        out.reserve(size);
        let written = decompressor
            .decompress_to_buffer(stored, out)
            .map_err(|error| RawCodecError::Decompress(error.to_string()))?;
        if written != size {
            return Err(RawCodecError::Decompress(format!(
                "{written} bytes where the frame promised {size}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_and_without_a_dictionary() {
        let payloads: Vec<Vec<u8>> = (0..2000)
            .map(|index| {
                format!(r#"{{"id":"{index}","event":{{"message":"user{} did thing {index}","service":"web"}}}}"#, index % 17)
                    .into_bytes()
            })
            .collect();
        let views: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let (compressed, entry) = encode_all(&views).expect("encode");
        let footer = entry.map(|entry| vec![entry]);
        assert!(footer.is_some(), "enough samples to train");
        let total: usize = compressed.iter().map(Vec::len).sum();
        let plain: usize = payloads.iter().map(Vec::len).sum();
        assert!(total * 2 < plain, "{total} of {plain} bytes");
        let decoder = RawDecoder::new(footer.as_ref()).expect("decoder");
        let mut session = decoder.session().expect("session");
        for (stored, original) in compressed.iter().zip(&payloads) {
            assert_eq!(&session.decode(stored).expect("decode"), original);
        }
        assert!(session.decode(b"garbage").is_err());

        let plain_decoder = RawDecoder::new(None).expect("decoder");
        assert_eq!(
            plain_decoder
                .session()
                .expect("session")
                .decode(b"abc")
                .expect("as is"),
            b"abc"
        );
    }
}

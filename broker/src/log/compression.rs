//! The codecs of a v2 record batch's records section, as Kafka writes them: gzip, snappy in
//! xerial framing (Kafka's `SnappyOutputStream`; raw snappy is read too, as librdkafka writes
//! it), the LZ4 frame format with independent blocks, and zstd frames.
//!
//! Only the produce path's recompression (`compression.type` other than `producer`) uses this;
//! decompression is bounded so that a small batch cannot inflate without limit.

use std::io::{Read, Write};

use super::LogError;

/// A batch's compression codec (attribute bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Uncompressed.
    None = 0,
    /// gzip.
    Gzip = 1,
    /// snappy.
    Snappy = 2,
    /// lz4.
    Lz4 = 3,
    /// zstd.
    Zstd = 4,
}

impl Codec {
    /// The codec of attribute bits 0–2; `None` for an unknown id.
    pub fn from_id(id: i16) -> Option<Codec> {
        Some(match id {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            _ => return None,
        })
    }

    /// Kafka's name of the codec.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
}

/// The xerial snappy stream header Kafka's Java clients and brokers write.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// Kafka's xerial block size.
const SNAPPY_BLOCK: usize = 32 * 1024;

fn corrupt(codec: Codec, e: impl std::fmt::Display) -> LogError {
    LogError::CorruptRecord(format!("{} records section does not decompress: {e}", codec.name()))
}

fn too_large(codec: Codec, limit: usize) -> LogError {
    LogError::RecordTooLarge(format!(
        "{} records section inflates beyond {limit} bytes, the largest request this broker \
         accepts (socket.request.max.bytes)",
        codec.name()
    ))
}

/// Reads all of `reader`, failing once more than `limit` bytes come out.
fn read_bounded(codec: Codec, reader: impl Read, limit: usize) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out).map_err(|e| corrupt(codec, e))?;
    if out.len() > limit {
        return Err(too_large(codec, limit));
    }
    Ok(out)
}

/// Decompresses a records section of `codec`, producing at most `limit` bytes.
pub fn decompress(codec: Codec, data: &[u8], limit: usize) -> Result<Vec<u8>, LogError> {
    match codec {
        Codec::None => Ok(data.to_vec()),
        Codec::Gzip => read_bounded(codec, flate2::read::MultiGzDecoder::new(data), limit),
        Codec::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(data).map_err(|e| corrupt(codec, e))?;
            read_bounded(codec, decoder, limit)
        }
        Codec::Lz4 => {
            let decoder = lz4::Decoder::new(data).map_err(|e| corrupt(codec, e))?;
            read_bounded(codec, decoder, limit)
        }
        Codec::Snappy => snappy_decompress(data, limit),
    }
}

fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), LogError> {
    let codec = Codec::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| corrupt(codec, e))?;
    if out.len().saturating_add(len) > limit {
        return Err(too_large(codec, limit));
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| corrupt(codec, e))?;
    Ok(())
}

fn snappy_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::new();
    let Some(mut rest) = data.strip_prefix(XERIAL_MAGIC) else {
        snappy_block(data, &mut out, limit)?;
        return Ok(out);
    };
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt(Codec::Snappy, "truncated xerial block length"));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err(corrupt(Codec::Snappy, "truncated xerial block"));
        }
        snappy_block(&tail[..len], &mut out, limit)?;
        rest = &tail[len..];
    }
    Ok(out)
}

/// Compresses a records section with `codec` at `level` (Kafka's `compression.<codec>.level`;
/// gzip's -1 is the library default, ignored for snappy).
pub fn compress(codec: Codec, data: &[u8], level: i32) -> Result<Vec<u8>, LogError> {
    let failed = |e: std::io::Error| {
        LogError::InvalidRecord(format!("{} compression failed: {e}", codec.name()))
    };
    match codec {
        Codec::None => Ok(data.to_vec()),
        Codec::Gzip => {
            let level = match u32::try_from(level) {
                Ok(l @ 1..=9) => flate2::Compression::new(l),
                _ => flate2::Compression::default(),
            };
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
            encoder.write_all(data).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        Codec::Zstd => zstd::stream::encode_all(data, level).map_err(failed),
        Codec::Lz4 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .level(level.max(1) as u32)
                .block_mode(lz4::BlockMode::Independent)
                .build(Vec::new())
                .map_err(failed)?;
            encoder.write_all(data).map_err(failed)?;
            let (out, result) = encoder.finish();
            result.map_err(failed)?;
            Ok(out)
        }
        Codec::Snappy => {
            let mut out = XERIAL_MAGIC.to_vec();
            let mut encoder = snap::raw::Encoder::new();
            for chunk in data.chunks(SNAPPY_BLOCK) {
                let block = encoder.compress_vec(chunk).map_err(|e| {
                    LogError::InvalidRecord(format!("snappy compression failed: {e}"))
                })?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_and_inflation_is_bounded() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_be_bytes()).collect();
        for codec in [Codec::None, Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let packed = compress(codec, &data, 3).unwrap();
            assert_eq!(decompress(codec, &packed, data.len()).unwrap(), data, "{codec:?}");
            if codec != Codec::None {
                let err = decompress(codec, &packed, data.len() - 1).unwrap_err();
                assert_eq!(err.error_code(), 10, "{codec:?}: {err}");
            }
        }
        // Raw snappy, as librdkafka writes it, is read too.
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Codec::Snappy, &raw, data.len()).unwrap(), data);
    }
}

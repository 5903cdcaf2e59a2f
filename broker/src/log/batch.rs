//! Zero-copy view of a magic v2 record batch header, validation and in-place patching.
//!
//! Header layout (big-endian): baseOffset i64 @0, batchLength i32 @8, partitionLeaderEpoch
//! i32 @12, magic i8 @16, crc u32 @17, attributes i16 @21, lastOffsetDelta i32 @23,
//! baseTimestamp i64 @27, maxTimestamp i64 @35, producerId i64 @43, producerEpoch i16 @51,
//! baseSequence i32 @53, recordCount i32 @57. The CRC-32C covers bytes 21..end, so the base
//! offset and leader epoch can be patched without recomputing it.

use super::LogError;

/// Bytes before `batchLength` counts: baseOffset + batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the v2 batch header.
pub const HEADER_LEN: usize = 61;
const CRC_START: usize = 21;

/// A borrowed view of one batch header (the slice holds at least [`HEADER_LEN`] bytes).
#[derive(Clone, Copy)]
pub struct BatchHeader<'a> {
    buf: &'a [u8],
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl<'a> BatchHeader<'a> {
    /// View the header at the start of `buf`; fails if fewer than [`HEADER_LEN`] bytes.
    pub fn parse(buf: &'a [u8]) -> Result<Self, LogError> {
        if buf.len() < HEADER_LEN {
            return Err(LogError::CorruptRecord(format!(
                "record batch header needs {HEADER_LEN} bytes, only {} available",
                buf.len()
            )));
        }
        Ok(BatchHeader { buf })
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        i64_at(self.buf, 0)
    }
    /// Bytes after the batchLength field.
    pub fn batch_length(&self) -> i32 {
        i32_at(self.buf, 8)
    }
    /// Total size of the batch on the wire and on disk, or `None` if the length is negative.
    pub fn total_size(&self) -> Option<usize> {
        usize::try_from(self.batch_length()).ok().map(|l| l + LOG_OVERHEAD)
    }
    /// Leader epoch of the leader that appended the batch.
    pub fn partition_leader_epoch(&self) -> i32 {
        i32_at(self.buf, 12)
    }
    /// Format version; only 2 is supported.
    pub fn magic(&self) -> i8 {
        self.buf[16] as i8
    }
    /// Stored CRC-32C.
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(self.buf[17..21].try_into().expect("4 bytes"))
    }
    /// Attribute bits (compression, timestamp type, transactional, control).
    pub fn attributes(&self) -> i16 {
        i16_at(self.buf, 21)
    }
    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes() & 0x7
    }
    /// Whether timestamps are LogAppendTime (attribute bit 3).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & 0x8 != 0
    }
    /// Part of a transaction (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes() & 0x10 != 0
    }
    /// Control batch, e.g. a transaction marker (attribute bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes() & 0x20 != 0
    }
    /// Offset of the last record relative to the base offset.
    pub fn last_offset_delta(&self) -> i32 {
        i32_at(self.buf, 23)
    }
    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + i64::from(self.last_offset_delta())
    }
    /// Timestamp of the first record.
    pub fn base_timestamp(&self) -> i64 {
        i64_at(self.buf, 27)
    }
    /// Largest record timestamp in the batch.
    pub fn max_timestamp(&self) -> i64 {
        i64_at(self.buf, 35)
    }
    /// Idempotent/transactional producer id, -1 if none.
    pub fn producer_id(&self) -> i64 {
        i64_at(self.buf, 43)
    }
    /// Producer epoch, -1 if none.
    pub fn producer_epoch(&self) -> i16 {
        i16_at(self.buf, 51)
    }
    /// Sequence number of the first record, -1 if none.
    pub fn base_sequence(&self) -> i32 {
        i32_at(self.buf, 53)
    }
    /// Sequence of the last record; sequences wrap from `i32::MAX` to 0.
    pub fn last_sequence(&self) -> i32 {
        next_sequence(self.base_sequence(), self.last_offset_delta())
    }
    /// Number of records.
    pub fn record_count(&self) -> i32 {
        i32_at(self.buf, 57)
    }
    /// Whether the batch carries idempotent producer metadata that must be sequence-checked.
    pub fn is_idempotent(&self) -> bool {
        self.producer_id() >= 0 && self.base_sequence() >= 0
    }
}

/// `seq + delta` in Kafka's sequence space, which wraps from `i32::MAX` to 0.
pub fn next_sequence(seq: i32, delta: i32) -> i32 {
    ((i64::from(seq) + i64::from(delta)) % (i64::from(i32::MAX) + 1)) as i32
}

/// Validate one complete batch (`buf` is exactly the batch): framing, magic, CRC-32C, offsets.
pub fn validate(buf: &[u8]) -> Result<BatchHeader<'_>, LogError> {
    let h = check_framing(buf)?;
    check_crc(buf, &h)?;
    check_counts(&h)?;
    Ok(h)
}

/// [`validate`] without the CRC: for callers that leave the batch as it is and let the log's
/// own [`validate`] check it, and check it themselves before changing it.
pub fn validate_header(buf: &[u8]) -> Result<BatchHeader<'_>, LogError> {
    let h = check_framing(buf)?;
    check_counts(&h)?;
    Ok(h)
}

fn check_framing(buf: &[u8]) -> Result<BatchHeader<'_>, LogError> {
    let h = BatchHeader::parse(buf)?;
    if h.magic() != 2 {
        return Err(LogError::InvalidRecord(format!(
            "record batch magic {} is not supported (only v2)",
            h.magic()
        )));
    }
    match h.total_size() {
        Some(n) if n >= HEADER_LEN && n == buf.len() => Ok(h),
        _ => Err(LogError::CorruptRecord(format!(
            "record batch length {} does not match {} available bytes",
            h.batch_length(),
            buf.len()
        ))),
    }
}

fn check_crc(buf: &[u8], h: &BatchHeader<'_>) -> Result<(), LogError> {
    let actual = crc32c::crc32c(&buf[CRC_START..]);
    if actual != h.crc() {
        return Err(LogError::CorruptRecord(format!(
            "record batch CRC mismatch: stored {:#010x}, computed {actual:#010x}",
            h.crc()
        )));
    }
    Ok(())
}

fn check_counts(h: &BatchHeader<'_>) -> Result<(), LogError> {
    if h.record_count() <= 0 || h.last_offset_delta() != h.record_count() - 1 {
        return Err(LogError::InvalidRecord(format!(
            "record batch has recordCount {} and lastOffsetDelta {}",
            h.record_count(),
            h.last_offset_delta()
        )));
    }
    if h.compression() > 4 {
        return Err(LogError::InvalidRecord(format!(
            "unknown compression codec {}",
            h.compression()
        )));
    }
    Ok(())
}

/// Split concatenated batches into per-batch byte ranges, validating each one.
pub fn split_and_validate(buf: &[u8]) -> Result<Vec<std::ops::Range<usize>>, LogError> {
    split_checking(buf, validate)
}

/// [`split_and_validate`] without the CRC checks ([`validate_header`]).
pub fn split_and_validate_headers(buf: &[u8]) -> Result<Vec<std::ops::Range<usize>>, LogError> {
    split_checking(buf, validate_header)
}

fn split_checking(
    buf: &[u8],
    check: fn(&[u8]) -> Result<BatchHeader<'_>, LogError>,
) -> Result<Vec<std::ops::Range<usize>>, LogError> {
    let mut ranges = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        if rest.len() < LOG_OVERHEAD {
            return Err(LogError::CorruptRecord(format!(
                "{} trailing bytes after the last record batch",
                rest.len()
            )));
        }
        let len = i32_at(rest, 8);
        let total = match usize::try_from(len) {
            Ok(l) if l + LOG_OVERHEAD >= HEADER_LEN && l + LOG_OVERHEAD <= rest.len() => {
                l + LOG_OVERHEAD
            }
            _ => {
                return Err(LogError::CorruptRecord(format!(
                    "record batch at byte {pos} declares length {len} but {} bytes remain",
                    rest.len() - LOG_OVERHEAD
                )))
            }
        };
        check(&rest[..total])?;
        ranges.push(pos..pos + total);
        pos += total;
    }
    if ranges.is_empty() {
        return Err(LogError::InvalidRecord("produce request carries no record batch".into()));
    }
    Ok(ranges)
}

/// Patch the base offset and partition leader epoch (both outside the CRC).
pub fn patch(buf: &mut [u8], base_offset: i64, leader_epoch: i32) {
    buf[0..8].copy_from_slice(&base_offset.to_be_bytes());
    buf[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Recomputes the CRC-32C after bytes it covers (attributes onwards) changed.
pub fn set_crc(buf: &mut [u8]) {
    let crc = crc32c::crc32c(&buf[CRC_START..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Sets the timestamp type (attribute bit 3) and the max timestamp, as Kafka's
/// `DefaultRecordBatch.setMaxTimestamp` does: the base timestamp and the records stay as they
/// are (readers of a LogAppendTime batch give every record the max timestamp), and the CRC is
/// recomputed only if something changed.
pub fn set_max_timestamp(buf: &mut [u8], log_append_time: bool, max_timestamp: i64) {
    let h = BatchHeader { buf };
    if h.is_log_append_time() == log_append_time && h.max_timestamp() == max_timestamp {
        return;
    }
    let attributes = (h.attributes() & !0x8) | if log_append_time { 0x8 } else { 0 };
    buf[21..23].copy_from_slice(&attributes.to_be_bytes());
    buf[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    set_crc(buf);
}

/// A copy of the batch `buf` whose records section is `records`, compressed with the codec
/// `codec_id`: the header is kept (offsets, producer id, epoch, sequence, timestamps, other
/// attribute bits), the length and the codec bits replaced and the CRC recomputed.
pub fn with_records(buf: &[u8], codec_id: i16, records: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + records.len());
    out.extend_from_slice(&buf[..HEADER_LEN]);
    out.extend_from_slice(records);
    let length = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let attributes = (i16_at(buf, 21) & !0x7) | (codec_id & 0x7);
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    set_crc(&mut out);
    out
}

/// Reads a zigzag varint of at most `max_bytes` bytes at `*pos`.
fn zigzag(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Option<i64> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    None
}

/// Calls `each(index, timestamp_delta, offset_delta)` for every record of an uncompressed
/// records section, reading only each record's length, attributes and those two fields (keys,
/// values and headers are skipped). Fails unless exactly `count` well-framed records fill
/// `records`.
pub fn for_each_record(
    records: &[u8],
    count: i32,
    mut each: impl FnMut(usize, i64, i32),
) -> Result<(), LogError> {
    let corrupt = |index: usize| {
        LogError::CorruptRecord(format!(
            "record {index} of the batch is malformed or the batch holds fewer than {count} records"
        ))
    };
    let mut pos = 0;
    for index in 0..usize::try_from(count).unwrap_or(0) {
        let length = zigzag(records, &mut pos, 5).ok_or_else(|| corrupt(index))?;
        let start = pos;
        let end = usize::try_from(length)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&end| end <= records.len() && length >= 3)
            .ok_or_else(|| corrupt(index))?;
        let mut field = start + 1; // after the attributes
        let timestamp_delta = zigzag(records, &mut field, 10).ok_or_else(|| corrupt(index))?;
        let offset_delta = zigzag(records, &mut field, 5).ok_or_else(|| corrupt(index))?;
        if field > end {
            return Err(corrupt(index));
        }
        each(index, timestamp_delta, offset_delta as i32);
        pos = end;
    }
    if pos != records.len() {
        return Err(LogError::CorruptRecord(format!(
            "{} bytes follow the batch's {count} records",
            records.len() - pos
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(next_sequence(5, 1), 6);
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert_eq!(next_sequence(i32::MAX - 1, 3), 1);
    }
}

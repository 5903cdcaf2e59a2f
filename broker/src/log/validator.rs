//! What a leader does to produced batches before they are appended, after Kafka's
//! `LogValidator`: the batch size against `max.message.bytes`, record timestamps against
//! `message.timestamp.before.max.ms`/`after.max.ms`, LogAppendTime stamping and
//! recompression to the topic's `compression.type`.
//!
//! Batches are kept byte for byte unless the topic asks for a change: LogAppendTime (or a max
//! timestamp that disagrees with the records) patches the header and its CRC; a codec other
//! than the producer's rewrites the records section, never the records themselves.
//! Uncompressed batches have their record timestamps checked; a compressed batch kept in its
//! codec is decompressed only when its header's max timestamp cannot prove every record in
//! bounds (the default bounds: nothing earlier is refused, so only the max matters).

use std::borrow::Cow;
use std::ops::Range;

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::compression::{self, Codec};
use super::LogError;

/// Which timestamps a topic's batches carry (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// The producer's timestamps, checked against the before/after bounds.
    CreateTime,
    /// The broker's clock at append.
    LogAppendTime,
}

/// How a topic's batches are validated and converted before they reach the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendPolicy {
    /// `max.message.bytes`: the largest batch, before and after recompression.
    pub max_message_bytes: i64,
    /// `compression.type`: `None` for `producer` (each batch keeps its codec).
    pub compression: Option<Codec>,
    /// The level for `compression` (`compression.<codec>.level`).
    pub compression_level: i32,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`.
    pub timestamp_after_max_ms: i64,
}

impl Default for AppendPolicy {
    /// Kafka's defaults.
    fn default() -> Self {
        AppendPolicy {
            max_message_bytes: 1_048_588,
            compression: None,
            compression_level: 0,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
        }
    }
}

/// One rejected record, as ProduceResponse's `record_errors` carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The record's index in its batch.
    pub batch_index: i32,
    /// Why.
    pub message: String,
}

/// Why batches were refused.
#[derive(Debug)]
pub enum ValidationError {
    /// Framing, CRC, size or codec problems, with the log's error codes.
    Log(LogError),
    /// INVALID_TIMESTAMP, with the records that broke the bounds.
    InvalidTimestamp(Vec<RecordError>),
}

impl From<LogError> for ValidationError {
    fn from(e: LogError) -> Self {
        ValidationError::Log(e)
    }
}

/// The batches to append.
#[derive(Debug)]
pub struct Validated {
    /// The converted batches; `None` when every batch is appended as the producer sent it.
    pub records: Option<Vec<u8>>,
    /// The LogAppendTime given to the batches, -1 for CreateTime (ProduceResponse's
    /// `log_append_time_ms`).
    pub log_append_time_ms: i64,
}

/// Validates and converts the concatenated batches `records` for a topic with `policy` at
/// broker time `now_ms`; a compressed records section may inflate to `inflate_limit` bytes.
pub fn validate(
    records: &[u8],
    policy: &AppendPolicy,
    now_ms: i64,
    inflate_limit: usize,
) -> Result<Validated, ValidationError> {
    let ranges = batch::split_and_validate(records)?;
    let log_append_time = policy.timestamp_type == TimestampType::LogAppendTime;
    let mut out: Option<Vec<u8>> = None;
    let mut errors = Vec::new();
    for range in ranges {
        let converted =
            validate_batch(&records[range.clone()], policy, now_ms, inflate_limit, &mut errors)?;
        keep(&mut out, records, range, converted);
    }
    if !errors.is_empty() {
        return Err(ValidationError::InvalidTimestamp(errors));
    }
    Ok(Validated { records: out, log_append_time_ms: if log_append_time { now_ms } else { -1 } })
}

/// Appends one batch to the converted output, which starts as a copy of the batches before
/// the first one that changed.
fn keep(out: &mut Option<Vec<u8>>, records: &[u8], range: Range<usize>, changed: Option<Vec<u8>>) {
    match (changed, out.as_mut()) {
        (Some(batch), Some(out)) => out.extend_from_slice(&batch),
        (Some(batch), None) => {
            let mut all = records[..range.start].to_vec();
            all.extend_from_slice(&batch);
            *out = Some(all);
        }
        (None, Some(out)) => out.extend_from_slice(&records[range]),
        (None, None) => {}
    }
}

fn validate_batch(
    buf: &[u8],
    policy: &AppendPolicy,
    now_ms: i64,
    inflate_limit: usize,
    errors: &mut Vec<RecordError>,
) -> Result<Option<Vec<u8>>, LogError> {
    let h = BatchHeader::parse(buf)?;
    if buf.len() as i64 > policy.max_message_bytes {
        return Err(LogError::RecordTooLarge(format!(
            "the record batch of {} bytes exceeds max.message.bytes {}",
            buf.len(),
            policy.max_message_bytes
        )));
    }
    let source = Codec::from_id(h.compression()).expect("codec checked by batch::validate");
    // Control batches keep their codec, as in Kafka.
    let target = match policy.compression {
        Some(codec) if !h.is_control() => codec,
        _ => source,
    };
    let recompress = target != source;
    let log_append_time = policy.timestamp_type == TimestampType::LogAppendTime;
    let earliest = now_ms.saturating_sub(policy.timestamp_before_max_ms);
    let latest = now_ms.saturating_add(policy.timestamp_after_max_ms);
    let header_proves_bounds =
        policy.timestamp_before_max_ms == i64::MAX && h.max_timestamp() <= latest;
    let walk = !log_append_time && (source == Codec::None || recompress || !header_proves_bounds);

    let section: Option<Cow<[u8]>> = if walk || recompress {
        Some(match source {
            Codec::None => Cow::Borrowed(&buf[HEADER_LEN..]),
            codec => Cow::Owned(compression::decompress(codec, &buf[HEADER_LEN..], inflate_limit)?),
        })
    } else {
        None
    };

    let mut max_timestamp = h.max_timestamp();
    if h.is_log_append_time() {
        // Kafka: "Producer should not set timestamp type to LogAppendTime."
        errors.extend((0..h.record_count()).map(|batch_index| RecordError {
            batch_index,
            message: "a producer must not set the timestamp type to LogAppendTime".to_owned(),
        }));
        return Ok(None);
    } else if walk {
        let section = section.as_deref().expect("decompressed to walk");
        max_timestamp = -1;
        for (index, (timestamp_delta, offset_delta)) in
            batch::record_deltas(section, h.record_count())?.into_iter().enumerate()
        {
            let timestamp = h.base_timestamp().wrapping_add(timestamp_delta);
            max_timestamp = max_timestamp.max(timestamp);
            if timestamp != -1 && (timestamp < earliest || timestamp > latest) {
                errors.push(RecordError {
                    batch_index: index as i32,
                    message: format!(
                        "Timestamp {timestamp} of message with offset {} is out of range. The \
                         timestamp should be within [{earliest}, {latest}]",
                        h.base_offset() + i64::from(offset_delta)
                    ),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Ok(None);
    }

    let max_timestamp = if log_append_time { now_ms } else { max_timestamp };
    if recompress {
        let section = section.expect("decompressed to recompress");
        let packed = compression::compress(target, &section, policy.compression_level)?;
        let mut converted = batch::with_records(buf, target as i16, &packed);
        batch::set_max_timestamp(&mut converted, log_append_time, max_timestamp);
        if converted.len() as i64 > policy.max_message_bytes {
            return Err(LogError::RecordTooLarge(format!(
                "the record batch is {} bytes once compressed with {}, more than \
                 max.message.bytes {}",
                converted.len(),
                target.name(),
                policy.max_message_bytes
            )));
        }
        return Ok(Some(converted));
    }
    if log_append_time || max_timestamp != h.max_timestamp() {
        let mut patched = buf.to_vec();
        batch::set_max_timestamp(&mut patched, log_append_time, max_timestamp);
        return Ok(Some(patched));
    }
    Ok(None)
}

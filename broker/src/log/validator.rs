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
    // CRCs of batches kept as they are are checked by the log's append; a batch is checked
    // here before it is changed or refused for its records.
    let ranges = batch::split_and_validate_headers(records)?;
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
    // Kafka checks the size, then the CRC: here the CRC only when the batch is about to be
    // changed or refused for its records, so corruption is reported as corruption.
    let errors_before = errors.len();
    let outcome = convert_batch(buf, h, policy, now_ms, inflate_limit, errors);
    if !matches!(outcome, Ok(None)) || errors.len() > errors_before {
        if let Err(corrupt) = batch::validate(buf) {
            errors.truncate(errors_before);
            return Err(corrupt);
        }
    }
    outcome
}

/// The checks and conversions of one batch whose size is within bounds.
fn convert_batch(
    buf: &[u8],
    h: BatchHeader<'_>,
    policy: &AppendPolicy,
    now_ms: i64,
    inflate_limit: usize,
    errors: &mut Vec<RecordError>,
) -> Result<Option<Vec<u8>>, LogError> {
    let source = Codec::from_id(h.compression()).expect("codec checked by batch::validate_header");
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

    let errors_before = errors.len();
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
        batch::for_each_record(
            section,
            h.record_count(),
            |index, timestamp_delta, offset_delta| {
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
            },
        )?;
    }
    if errors.len() > errors_before {
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::records::RecordBatchDecoder;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    /// One uncompressed batch of `values` stamped `timestamp`.
    fn batch(values: &[&'static str], timestamp: i64) -> Vec<u8> {
        let entries: Vec<_> =
            values.iter().map(|v| (None, Some(Bytes::from_static(v.as_bytes())))).collect();
        let buf = crate::internal_records::encode_batch(&entries, timestamp);
        assert_eq!(batch::split_and_validate(&buf).unwrap().len(), 1, "one batch");
        buf.to_vec()
    }

    fn decode(records: &[u8]) -> Vec<(Vec<u8>, i64, bool)> {
        let mut buf = Bytes::copy_from_slice(records);
        RecordBatchDecoder::decode_all(&mut buf)
            .unwrap()
            .into_iter()
            .flat_map(|set| set.records)
            .map(|r| {
                let log_append =
                    r.timestamp_type == kafka_protocol::records::TimestampType::LogAppend;
                (r.value.unwrap().to_vec(), r.timestamp, log_append)
            })
            .collect()
    }

    #[test]
    fn unchanged_batches_are_kept_as_sent() {
        let records = [batch(&["a", "b"], NOW), batch(&["c"], NOW - 5)].concat();
        let validated = validate(&records, &AppendPolicy::default(), NOW, 1 << 20).unwrap();
        assert!(validated.records.is_none());
        assert_eq!(validated.log_append_time_ms, -1);
    }

    #[test]
    fn log_append_time_and_recompression_rewrite_every_batch_of_a_request() {
        let records = [batch(&["a", "b"], NOW - 1000), batch(&["c"], NOW - 5)].concat();
        let policy = AppendPolicy {
            compression: Some(Codec::Zstd),
            compression_level: 3,
            timestamp_type: TimestampType::LogAppendTime,
            ..AppendPolicy::default()
        };
        let validated = validate(&records, &policy, NOW, 1 << 20).unwrap();
        assert_eq!(validated.log_append_time_ms, NOW);
        let converted = validated.records.unwrap();
        let ranges = batch::split_and_validate(&converted).unwrap();
        assert_eq!(ranges.len(), 2, "both batches, CRCs valid");
        for r in ranges {
            let h = BatchHeader::parse(&converted[r]).unwrap();
            assert_eq!(
                (h.compression(), h.is_log_append_time(), h.max_timestamp()),
                (4, true, NOW)
            );
        }
        // Readers give a LogAppendTime batch's records its max timestamp (Kafka, librdkafka);
        // kafka-protocol's decoder keeps the create times, so only the type is checked here.
        let values: Vec<_> = decode(&converted).into_iter().map(|(v, _, l)| (v, l)).collect();
        assert_eq!(values, [(b"a".to_vec(), true), (b"b".to_vec(), true), (b"c".to_vec(), true)]);
    }

    #[test]
    fn only_the_batch_that_changes_is_rewritten() {
        // The second batch's header claims a max timestamp its records do not have.
        let first = batch(&["a"], NOW);
        let mut second = batch(&["b"], NOW);
        batch::set_max_timestamp(&mut second, false, NOW - 7);
        let records = [first.clone(), second].concat();
        let converted = validate(&records, &AppendPolicy::default(), NOW, 1 << 20)
            .unwrap()
            .records
            .expect("the max timestamp is corrected");
        assert_eq!(&converted[..first.len()], &first[..]);
        let h = BatchHeader::parse(&converted[first.len()..]).unwrap();
        assert_eq!(h.max_timestamp(), NOW);
        batch::split_and_validate(&converted).unwrap();
    }

    #[test]
    fn timestamps_out_of_bounds_and_producer_log_append_time_are_invalid() {
        let policy = AppendPolicy { timestamp_before_max_ms: 60_000, ..AppendPolicy::default() };
        let records = [batch(&["ok"], NOW), batch(&["old", "older"], NOW - 120_000)].concat();
        let Err(ValidationError::InvalidTimestamp(errors)) =
            validate(&records, &policy, NOW, 1 << 20)
        else {
            panic!("expected INVALID_TIMESTAMP");
        };
        assert_eq!(errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(), [0, 1]);
        assert!(errors[0].message.contains("out of range"), "{}", errors[0].message);
        // Kafka 4's default: at most an hour ahead of the broker clock.
        let ahead = batch(&["future"], NOW + 3_600_001);
        assert!(matches!(
            validate(&ahead, &AppendPolicy::default(), NOW, 1 << 20),
            Err(ValidationError::InvalidTimestamp(_))
        ));
        let mut stamped = batch(&["x"], NOW);
        batch::set_max_timestamp(&mut stamped, true, NOW);
        assert!(matches!(
            validate(&stamped, &AppendPolicy::default(), NOW, 1 << 20),
            Err(ValidationError::InvalidTimestamp(_))
        ));
    }

    #[test]
    fn a_corrupt_batch_is_never_stamped_or_recompressed_into_a_valid_one() {
        let mut corrupt = batch(&["value"], NOW - 120_000);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let policies = [
            AppendPolicy {
                timestamp_type: TimestampType::LogAppendTime,
                ..AppendPolicy::default()
            },
            AppendPolicy { compression: Some(Codec::Lz4), ..AppendPolicy::default() },
            AppendPolicy { timestamp_before_max_ms: 1000, ..AppendPolicy::default() },
        ];
        for policy in policies {
            match validate(&corrupt, &policy, NOW, 1 << 20) {
                Err(ValidationError::Log(e)) => assert_eq!(e.error_code(), 2, "{policy:?}: {e}"),
                other => panic!("{policy:?}: expected CORRUPT_MESSAGE, got {other:?}"),
            }
        }
        // Kept as sent, it is left to the log's own CRC check.
        let kept = validate(&corrupt, &AppendPolicy::default(), NOW, 1 << 20).unwrap();
        assert!(kept.records.is_none());
    }

    #[test]
    fn batches_over_max_message_bytes_are_too_large_before_and_after_recompression() {
        let records = batch(&["0123456789"], NOW);
        let policy =
            AppendPolicy { max_message_bytes: records.len() as i64 - 1, ..AppendPolicy::default() };
        let Err(ValidationError::Log(e)) = validate(&records, &policy, NOW, 1 << 20) else {
            panic!("expected MESSAGE_TOO_LARGE");
        };
        assert_eq!(e.error_code(), 10);
        // gzip's header and trailer make a tiny batch larger than it was.
        let policy = AppendPolicy {
            max_message_bytes: records.len() as i64,
            compression: Some(Codec::Gzip),
            compression_level: -1,
            ..AppendPolicy::default()
        };
        let Err(ValidationError::Log(e)) = validate(&records, &policy, NOW, 1 << 20) else {
            panic!("expected MESSAGE_TOO_LARGE after recompression");
        };
        assert!(e.to_string().contains("once compressed with gzip"), "{e}");
    }
}

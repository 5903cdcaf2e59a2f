//! Record batches the broker writes itself: the cluster metadata log and `__consumer_offsets`.
//!
//! Client batches are never re-encoded; these are the only batches the broker builds, and it
//! builds them with the same v2 format so that Kafka tools can read both topics.

use crate::log::{LogError, PartitionLog};
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Encodes `(key, value)` pairs as one uncompressed v2 batch with base offset 0 (the log assigns
/// the real offset on append).
pub fn encode_batch(entries: &[(Option<Bytes>, Option<Bytes>)], timestamp_ms: i64) -> BytesMut {
    let records: Vec<Record> = entries
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch only while `offset - sequence` stays the
            // same; counting up from -1 does that and writes base sequence -1 (no producer
            // id), as Kafka's own batches of broker-written records carry.
            sequence: i as i32 - 1,
            timestamp: timestamp_ms,
            key: key.clone(),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .expect("encoding an uncompressed v2 batch into memory cannot fail");
    buf
}

/// One record read back from a log, with its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Offset in the partition.
    pub offset: i64,
    /// Record key.
    pub key: Option<Bytes>,
    /// Record value; `None` is a tombstone.
    pub value: Option<Bytes>,
}

/// Decodes every non-control record of a run of batches read from a log.
fn decode_records(mut bytes: Bytes) -> anyhow::Result<Vec<StoredRecord>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let set = RecordBatchDecoder::decode(&mut bytes)?;
        out.extend(set.records.into_iter().filter(|r| !r.control).map(|r| StoredRecord {
            offset: r.offset,
            key: r.key,
            value: r.value,
        }));
    }
    Ok(out)
}

/// Every record of a broker-written log (metadata log, `__consumer_offsets`), from its log
/// start offset to its end, as replayed on start.
pub fn read_all(log: &PartitionLog) -> Result<Vec<StoredRecord>, LogError> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let records = decode_records(log.read(offset, 1 << 20)?).map_err(|e| {
            LogError::InvalidRecord(format!(
                "{} at offset {offset} does not decode: {e}",
                log.dir().display()
            ))
        })?;
        let Some(last) = records.last() else { break };
        offset = last.offset + 1;
        out.extend(records);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip_keeps_keys_values_and_tombstones() {
        let entries = vec![
            (Some(Bytes::from_static(b"k1")), Some(Bytes::from_static(b"v1"))),
            (Some(Bytes::from_static(b"k2")), None),
        ];
        let batch = encode_batch(&entries, 1_700_000_000_000).freeze();
        let headers = RecordBatchDecoder::decode_batch_info(&mut batch.clone()).unwrap();
        assert_eq!(headers.len(), 1, "one batch for every record: {headers:?}");
        assert_eq!((headers[0].record_count, headers[0].base_sequence), (2, -1));
        let records = decode_records(batch).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].offset, 0);
        assert_eq!(records[1].key.as_deref(), Some(&b"k2"[..]));
        assert_eq!(records[1].value, None);
    }
}

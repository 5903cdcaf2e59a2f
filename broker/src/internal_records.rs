//! Record batches the broker writes itself: the cluster metadata log and `__consumer_offsets`.
//!
//! Client batches are never re-encoded; these are the only batches the broker builds, and it
//! builds them with the same v2 format so that Kafka tools can read both topics.

use crate::log::{BatchHeader, LogError, PartitionLog, HEADER_LEN};
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Encodes `(key, value)` pairs as one uncompressed v2 batch with base offset 0 (the log assigns
/// the real offset on append).
pub fn encode_batch(entries: &[(Option<Bytes>, Option<Bytes>)], timestamp_ms: i64) -> BytesMut {
    encode_batch_with(entries, timestamp_ms, Compression::None)
}

/// [`encode_batch`] with the records section in `compression`.
pub fn encode_batch_with(
    entries: &[(Option<Bytes>, Option<Bytes>)],
    timestamp_ms: i64,
    compression: Compression,
) -> BytesMut {
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
        &RecordEncodeOptions { version: 2, compression },
    )
    .expect("encoding a v2 batch into memory cannot fail");
    buf
}

/// Kafka's control record type of a `LeaderChangeMessage` (`ControlRecordType.LEADER_CHANGE`).
const LEADER_CHANGE_CONTROL_TYPE: i16 = 2;

/// A batch of one control record, Kafka's `LeaderChangeMessage` (version 0): the first record
/// a new metadata quorum leader writes in its epoch. Readers skip control records.
pub fn encode_leader_change(
    leader_id: i32,
    voters: &std::collections::BTreeSet<i32>,
    timestamp_ms: i64,
) -> Vec<u8> {
    use kafka_protocol::messages::leader_change_message::{LeaderChangeMessage, Voter};
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::protocol::Encodable;
    let voters: Vec<Voter> = voters.iter().map(|&id| Voter::default().with_voter_id(id)).collect();
    let message = LeaderChangeMessage::default()
        .with_version(0)
        .with_leader_id(BrokerId(leader_id))
        .with_voters(voters.clone())
        .with_granting_voters(voters);
    let mut value = BytesMut::new();
    message.encode(&mut value, 0).expect("a leader change message encodes");
    encode_control_batch(LEADER_CHANGE_CONTROL_TYPE, &value.freeze(), timestamp_ms)
}

/// A batch of one control record of `control_type` (Kafka's `ControlRecordType`: its key is
/// version 0 and the type) with `value`, base offset 0. Readers of data skip control records.
pub fn encode_control_batch(control_type: i16, value: &Bytes, timestamp_ms: i64) -> Vec<u8> {
    let mut key = BytesMut::new();
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&control_type.to_be_bytes());
    let record = Record {
        transactional: false,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: timestamp_ms,
        key: Some(key.freeze()),
        value: Some(value.clone()),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        std::iter::once(&record),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .expect("encoding a v2 batch into memory cannot fail");
    buf.to_vec()
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

/// Decodes every non-control record of a run of batches read from a log (or fetched from the
/// node that leads it).
pub(crate) fn decode_records(mut bytes: Bytes) -> anyhow::Result<Vec<StoredRecord>> {
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
    Ok(read_batches_below(log, log.log_start_offset(), log.log_end_offset())?.0)
}

/// The records of the whole batches of `log` from `from` whose last offset is below `until`
/// (a batch reaching `until` or past it is left for later), and the offset after the last batch
/// read. The batch headers, not the records, say where the next read starts: a batch of control
/// records only, or records whose offset deltas do not advance, must neither end the read
/// early nor read the same batch forever.
pub fn read_batches_below(
    log: &PartitionLog,
    from: i64,
    until: i64,
) -> Result<(Vec<StoredRecord>, i64), LogError> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < until {
        let bytes = log.read(offset, 1 << 20)?;
        let invalid = |why: String| {
            LogError::InvalidRecord(format!(
                "{} at offset {offset} does not decode: {why}",
                log.dir().display()
            ))
        };
        let (mut pos, mut next, mut held_back) = (0, offset, false);
        while pos < bytes.len() {
            let header = BatchHeader::parse(&bytes[pos..]).map_err(|e| invalid(e.to_string()))?;
            let size = header
                .total_size()
                .filter(|&n| n >= HEADER_LEN && pos + n <= bytes.len())
                .ok_or_else(|| invalid("a batch header gives no valid size".into()))?;
            if header.last_offset() >= until {
                held_back = true;
                break;
            }
            out.extend(
                decode_records(bytes.slice(pos..pos + size)).map_err(|e| invalid(e.to_string()))?,
            );
            next = header.last_offset() + 1;
            pos += size;
        }
        if next <= offset {
            if held_back && pos == 0 {
                break;
            }
            return Err(invalid("batch headers do not advance the offset".into()));
        }
        offset = next;
    }
    Ok((out, offset))
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

    /// Found by the `record_batch` fuzz target: a batch whose record has offset delta -1 made
    /// `read_all` read the same batch forever, growing without bound (a broker replaying such
    /// a metadata log or `__consumer_offsets` partition hung at start-up until out of memory).
    #[test]
    fn read_all_advances_by_batch_headers_whatever_the_record_offsets_say() {
        use crate::storage::MemoryStorage;
        let storage = std::sync::Arc::new(MemoryStorage::new());
        let mut log = PartitionLog::open(storage, "/p-0".into(), Default::default(), 0).unwrap();
        let mut batch = encode_batch(&[(None, Some(Bytes::from_static(b"v")))], 0).to_vec();
        // After the header: record length, attributes, timestamp delta, offset delta (zigzag 1 is -1).
        assert_eq!(batch[64], 0, "offset delta 0");
        batch[64] = 1;
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        log.append(&mut encode_batch(&[(None, Some(Bytes::from_static(b"w")))], 0), 0, 0).unwrap();
        log.append(&mut batch, 0, 0).unwrap();
        let records = read_all(&log).unwrap();
        let values: Vec<_> = records.iter().map(|r| r.value.as_deref().unwrap()).collect();
        assert_eq!(values, [&b"w"[..], b"v"]);
    }
}

//! Tests of the partition log with real v2 batches built by kafka-protocol's encoder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::storage::{FileStorage, MemoryStorage, Storage};

mod follower;

/// Parameters of one test batch.
#[derive(Clone, Copy)]
struct Spec {
    records: i64,
    ts: i64,
    compression: Compression,
    producer: Option<(i64, i16, i32)>,
}

fn spec(records: i64, ts: i64) -> Spec {
    Spec { records, ts, compression: Compression::None, producer: None }
}

/// Encode one batch; record `i` has timestamp `ts + i` and value `v<i>`.
fn encode(s: Spec) -> BytesMut {
    let (pid, epoch, base_seq) = s.producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = (0..s.records)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i,
            // Keep offset - sequence constant so the encoder emits one batch.
            sequence: base_seq.wrapping_add(i as i32),
            timestamp: s.ts + i,
            key: None,
            value: Some(Bytes::from(format!("v{i}"))),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions { version: 2, compression: s.compression },
    )
    .unwrap();
    buf
}

fn batch(records: i64, ts: i64) -> BytesMut {
    encode(spec(records, ts))
}

fn idem(pid: i64, epoch: i16, seq: i32, records: i64) -> BytesMut {
    encode(Spec { producer: Some((pid, epoch, seq)), ..spec(records, 1_000) })
}

/// (offset, timestamp, value) of every record in `data`.
fn decode(data: &Bytes) -> Vec<(i64, i64, String)> {
    let mut buf = data.clone();
    RecordBatchDecoder::decode_all(&mut buf)
        .unwrap()
        .into_iter()
        .flat_map(|set| set.records)
        .map(|r| (r.offset, r.timestamp, String::from_utf8(r.value.unwrap().to_vec()).unwrap()))
        .collect()
}

fn base_offsets(data: &Bytes) -> Vec<i64> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let h = BatchHeader::parse(&data[pos..]).unwrap();
        out.push(h.base_offset());
        pos += h.total_size().unwrap();
    }
    out
}

fn mem() -> (MemoryStorage, Arc<dyn Storage>) {
    let s = MemoryStorage::new();
    let a: Arc<dyn Storage> = Arc::new(s.clone());
    (s, a)
}

fn dir() -> PathBuf {
    PathBuf::from("/logs/topic-0")
}

fn open(storage: &Arc<dyn Storage>, config: LogConfig) -> PartitionLog {
    PartitionLog::open(Arc::clone(storage), dir(), config, 0).unwrap()
}

#[test]
fn append_read_round_trip_assigns_offsets() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    let a = log.append(&mut batch(3, 100), 7, 0).unwrap();
    let b = log
        .append(&mut encode(Spec { compression: Compression::Gzip, ..spec(2, 200) }), 7, 0)
        .unwrap();
    let c = log.append(&mut batch(4, 300), 8, 0).unwrap();
    assert_eq!((a.base_offset, a.last_offset, a.max_timestamp), (0, 2, 102));
    assert_eq!((b.base_offset, b.last_offset), (3, 4));
    assert_eq!((c.base_offset, c.last_offset, c.log_append_time_ms), (5, 8, -1));
    assert!(!a.duplicate);
    assert_eq!(log.log_end_offset(), 9);

    let all = log.read(0, u32::MAX).unwrap();
    let recs = decode(&all);
    assert_eq!(recs.iter().map(|r| r.0).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());
    assert_eq!(recs[3], (3, 200, "v0".to_string()));
    assert_eq!(recs[8], (8, 303, "v3".to_string()));
    // The leader epoch is stamped, the rest is stored as sent.
    assert_eq!(BatchHeader::parse(&all).unwrap().partition_leader_epoch(), 7);
    assert_eq!(log.size_bytes(), all.len() as u64);

    // Reads from the middle start with the batch containing the offset.
    assert_eq!(base_offsets(&log.read(4, u32::MAX).unwrap()), vec![3, 5]);
    assert_eq!(base_offsets(&log.read(7, u32::MAX).unwrap()), vec![5]);
    assert!(log.read(9, u32::MAX).unwrap().is_empty());
    assert!(matches!(log.read(10, 100), Err(LogError::OffsetOutOfRange(_))));
    assert!(matches!(log.read(-1, 100), Err(LogError::OffsetOutOfRange(_))));
}

#[test]
fn max_bytes_returns_whole_batches_and_at_least_one() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    let sizes: Vec<usize> = (0..3)
        .map(|i| {
            let mut b = batch(2, i * 10);
            let n = b.len();
            log.append(&mut b, 0, 0).unwrap();
            n
        })
        .collect();
    assert_eq!(base_offsets(&log.read(0, 1).unwrap()), vec![0]);
    assert_eq!(base_offsets(&log.read(0, (sizes[0] + sizes[1] - 1) as u32).unwrap()), vec![0]);
    assert_eq!(base_offsets(&log.read(0, (sizes[0] + sizes[1]) as u32).unwrap()), vec![0, 2]);
    assert_eq!(base_offsets(&log.read(3, 0).unwrap()), vec![2]);
    // read_until stops before the bound (e.g. the high watermark).
    assert_eq!(base_offsets(&log.read_until(0, u32::MAX, 4).unwrap()), vec![0, 2]);
    assert!(log.read_until(4, u32::MAX, 4).unwrap().is_empty());
}

#[test]
fn reads_cross_segment_rolls_and_segments_roll_by_size() {
    let (_, s) = mem();
    let one = batch(2, 0).len() as u64;
    let config =
        LogConfig { segment_bytes: one * 2, index_interval_bytes: 1, ..Default::default() };
    let mut log = open(&s, config);
    for i in 0..5 {
        log.append(&mut batch(2, i), 0, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 4, 8]);
    assert_eq!(log.segment_count(), 3);
    let all = log.read(0, u32::MAX).unwrap();
    assert_eq!(base_offsets(&all), vec![0, 2, 4, 6, 8]);
    assert_eq!(decode(&all).len(), 10);
    assert_eq!(base_offsets(&log.read(3, u32::MAX).unwrap()), vec![2, 4, 6, 8]);
    assert_eq!(base_offsets(&log.read(7, (one * 2) as u32).unwrap()), vec![6, 8]);
    assert_eq!(base_offsets(&log.read(5, (one * 2) as u32).unwrap()), vec![4, 6]);
    // Too big for any segment.
    let mut big = batch(40, 0);
    assert!(matches!(log.append(&mut big, 0, 0), Err(LogError::RecordTooLarge(_))));
}

#[test]
fn segments_roll_by_time() {
    let (_, s) = mem();
    let config = LogConfig { segment_ms: 1_000, ..Default::default() };
    let mut log = open(&s, config);
    log.append(&mut batch(1, 0), 0, 10_000).unwrap();
    log.append(&mut batch(1, 0), 0, 10_999).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&mut batch(1, 0), 0, 11_000).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    // Retention's pass rolls an old active segment even without appends.
    let out = log.enforce_retention(12_000).unwrap();
    assert!(out.rolled);
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 3]);
    // An empty active segment is not rolled.
    assert!(!log.enforce_retention(20_000).unwrap().rolled);
}

#[test]
fn corrupt_and_invalid_batches_are_rejected_without_writing() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    log.append(&mut batch(1, 0), 0, 0).unwrap();
    let size = log.size_bytes();

    let mut bad_crc = batch(2, 0);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    assert!(matches!(log.append(&mut bad_crc, 0, 0), Err(LogError::CorruptRecord(_))));

    let mut bad_magic = batch(2, 0);
    bad_magic[16] = 1;
    assert!(matches!(log.append(&mut bad_magic, 0, 0), Err(LogError::InvalidRecord(_))));

    let good = batch(2, 0);
    let mut truncated = good[..good.len() - 3].to_vec();
    assert!(matches!(log.append(&mut truncated, 0, 0), Err(LogError::CorruptRecord(_))));

    // A valid batch followed by a corrupt one: nothing of the request is written.
    let mut two = batch(2, 0);
    two.extend_from_slice(&bad_crc);
    let err = log.append(&mut two, 0, 0).unwrap_err();
    assert!(matches!(err, LogError::CorruptRecord(_)));
    assert_eq!(err.error_code(), 2);
    assert!(err.to_string().contains("topic-0"), "{err}");

    assert!(matches!(log.append(&mut [], 0, 0), Err(LogError::InvalidRecord(_))));
    assert_eq!(log.log_end_offset(), 1);
    assert_eq!(log.size_bytes(), size);
}

#[test]
fn reopen_with_file_storage_keeps_everything_and_layout_is_kafkas() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("orders-3");
    let s: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let config = LogConfig { index_interval_bytes: 1, ..Default::default() };
    let mut log = PartitionLog::open(Arc::clone(&s), dir.clone(), config.clone(), 0).unwrap();
    for i in 0..4 {
        log.append(&mut batch(3, i * 100), 2, 0).unwrap();
    }
    let before = log.read(0, u32::MAX).unwrap();
    let index_entries = log.active().index_entries();
    // Index files are written on flush (the broker flushes on shutdown), not on append.
    log.flush().unwrap();
    drop(log);

    let names = s.list_dir(&dir).unwrap();
    assert_eq!(
        names,
        vec![
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex",
            "leader-epoch-checkpoint",
        ]
    );
    // Index entries every batch after the first (interval 1 byte): (last offset, position).
    let index = std::fs::read(dir.join("00000000000000000000.index")).unwrap();
    assert_eq!(index_entries, 3);
    assert_eq!(index.len(), 3 * 8);
    let b = batch(3, 0).len() as u32;
    assert_eq!(&index[..8], [&5u32.to_be_bytes()[..], &b.to_be_bytes()[..]].concat());
    let time_index = std::fs::read(dir.join("00000000000000000000.timeindex")).unwrap();
    assert_eq!(time_index.len() % 12, 0);
    assert!(!time_index.is_empty());
    assert_eq!(i64::from_be_bytes(time_index[..8].try_into().unwrap()), 102);

    let mut log = PartitionLog::open(Arc::clone(&s), dir.clone(), config, 0).unwrap();
    assert_eq!(log.log_end_offset(), 12);
    assert_eq!(log.read(0, u32::MAX).unwrap(), before);
    // The rebuilt index equals the one written during appends.
    assert_eq!(std::fs::read(dir.join("00000000000000000000.index")).unwrap(), index);
    assert_eq!(log.append(&mut batch(1, 0), 2, 0).unwrap().base_offset, 12);
}

#[test]
fn torn_tail_in_file_is_truncated_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let s: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let mut log = PartitionLog::open(Arc::clone(&s), dir.clone(), LogConfig::default(), 0).unwrap();
    log.append(&mut batch(2, 0), 0, 0).unwrap();
    log.append(&mut batch(2, 0), 0, 0).unwrap();
    let good_len = log.size_bytes();
    drop(log);
    let log_file = dir.join("00000000000000000000.log");

    // Half a batch.
    let half = batch(5, 0);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log_file).unwrap();
    std::io::Write::write_all(&mut f, &half[..half.len() / 2]).unwrap();
    drop(f);
    let mut log = PartitionLog::open(Arc::clone(&s), dir.clone(), LogConfig::default(), 0).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(std::fs::metadata(&log_file).unwrap().len(), good_len);
    assert_eq!(log.append(&mut batch(1, 0), 0, 0).unwrap().base_offset, 4);
    let good_len = log.size_bytes();
    drop(log);

    // A whole-looking batch with garbage content (bad CRC), then junk.
    let mut garbage = batch(3, 0).to_vec();
    let n = garbage.len();
    garbage[n - 2] ^= 0x55;
    garbage.extend_from_slice(&[0xab; 100]);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log_file).unwrap();
    std::io::Write::write_all(&mut f, &garbage).unwrap();
    drop(f);
    let mut log = PartitionLog::open(Arc::clone(&s), dir, LogConfig::default(), 0).unwrap();
    assert_eq!(log.size_bytes(), good_len);
    assert_eq!(log.append(&mut batch(1, 0), 0, 0).unwrap().base_offset, 5);
    assert_eq!(decode(&log.read(0, u32::MAX).unwrap()).len(), 6);
}

#[test]
fn memory_storage_crash_loses_only_unflushed_data() {
    let (mem, s) = mem();
    let mut log = open(&s, LogConfig::default());
    log.append(&mut batch(2, 0), 0, 0).unwrap();
    log.flush().unwrap();
    log.append(&mut batch(2, 0), 0, 0).unwrap();
    drop(log);
    mem.crash();
    let mut log = open(&s, LogConfig::default());
    assert_eq!(log.log_end_offset(), 2);
    // Torn write: half of the unflushed batch survives and must be cut off.
    log.append(&mut batch(3, 0), 0, 0).unwrap();
    drop(log);
    mem.crash_with(
        |path, unflushed| {
            if path.extension().is_some_and(|e| e == "log") {
                unflushed / 2
            } else {
                0
            }
        },
    );
    let log_path = dir().join("00000000000000000000.log");
    assert!(mem.read_file(&log_path).unwrap().len() > batch(2, 0).len());
    let mut log = open(&s, LogConfig::default());
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(mem.read_file(&log_path).unwrap().len() as u64, log.size_bytes());
    assert_eq!(log.append(&mut batch(1, 0), 0, 0).unwrap().base_offset, 2);
    // Reopen without a crash keeps everything (appends reach the "OS" immediately).
    drop(log);
    assert_eq!(open(&s, LogConfig::default()).log_end_offset(), 3);
}

#[test]
fn flush_policy_by_messages_and_time() {
    let (mem, s) = mem();
    let config = LogConfig { flush_interval_messages: 3, ..Default::default() };
    let mut log = open(&s, config);
    log.append(&mut batch(2, 0), 0, 0).unwrap();
    log.append(&mut batch(1, 0), 0, 0).unwrap(); // 3 unflushed -> flushed
    log.append(&mut batch(1, 0), 0, 0).unwrap();
    drop(log);
    mem.crash();
    let by_time = LogConfig { flush_interval_ms: 100, ..Default::default() };
    let mut log = open(&s, by_time.clone());
    assert_eq!(log.log_end_offset(), 3);
    log.append(&mut batch(1, 0), 0, 50).unwrap();
    log.maybe_flush(99).unwrap();
    drop(log);
    mem.crash();
    let mut log = open(&s, by_time);
    assert_eq!(log.log_end_offset(), 3);
    log.append(&mut batch(1, 0), 0, 50).unwrap();
    log.maybe_flush(100).unwrap();
    drop(log);
    mem.crash();
    assert_eq!(open(&s, LogConfig::default()).log_end_offset(), 4);
}

#[test]
fn retention_by_time_and_size() {
    let (_, s) = mem();
    let one = batch(1, 0).len() as u64;
    let config = LogConfig { segment_bytes: one, retention_ms: 1_000, ..Default::default() };
    let mut log = open(&s, config.clone());
    for ts in [1_000, 2_000, 3_000, 4_000] {
        log.append(&mut batch(1, ts), 0, 0).unwrap();
    }
    assert_eq!(log.segment_count(), 4);
    // Segments whose newest record is older than 3_500 - 1_000 go; the active one stays.
    let out = log.enforce_retention(3_500).unwrap();
    assert_eq!(out.deleted_segments, 2);
    assert_eq!(out.log_start_offset, 2);
    assert_eq!(log.log_start_offset(), 2);
    assert!(matches!(log.read(1, 100), Err(LogError::OffsetOutOfRange(_))));
    assert_eq!(log.enforce_retention(100_000).unwrap().deleted_segments, 1);
    assert_eq!(log.segment_count(), 1);

    let (_, s) = mem();
    let config = LogConfig { retention_ms: -1, retention_bytes: (one * 2) as i64, ..config };
    let mut log = open(&s, config);
    for ts in 0..5 {
        log.append(&mut batch(1, ts), 0, 0).unwrap();
    }
    assert_eq!(log.segment_count(), 5);
    // 5 segments of `one` bytes, limit 2: delete while size - segment >= limit.
    assert_eq!(log.enforce_retention(0).unwrap().deleted_segments, 3);
    assert_eq!(log.size_bytes(), one * 2);
    assert_eq!(log.log_start_offset(), 3);
    drop(log);
    let log = open(&s, LogConfig::default());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (3, 5));
}

#[test]
fn delete_records_before_survives_reopen() {
    let (mem, s) = mem();
    let one = batch(2, 0).len() as u64;
    let mut log = open(&s, LogConfig { segment_bytes: one, ..Default::default() });
    for _ in 0..3 {
        log.append(&mut batch(2, 0), 0, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
    assert!(matches!(log.delete_records_before(7), Err(LogError::OffsetOutOfRange(_))));
    assert_eq!(log.delete_records_before(3).unwrap(), 3);
    assert_eq!(log.segment_base_offsets(), vec![2, 4]);
    assert_eq!(log.delete_records_before(1).unwrap(), 3);
    // The batch containing the log start offset is still returned whole.
    assert_eq!(base_offsets(&log.read(3, u32::MAX).unwrap()), vec![2, 4]);
    assert!(matches!(log.read(2, 100), Err(LogError::OffsetOutOfRange(_))));
    log.flush().unwrap();
    drop(log);
    mem.crash();
    let mut log = open(&s, LogConfig::default());
    assert_eq!(log.log_start_offset(), 3);
    assert_eq!(log.log_end_offset(), 6);
    // Deleting everything keeps an empty active segment at the log end offset.
    assert_eq!(log.delete_records_before(6).unwrap(), 6);
    assert_eq!(log.segment_base_offsets(), vec![4]);
    assert!(log.read(6, 100).unwrap().is_empty());
}

#[test]
fn idempotent_producer_duplicates_and_gaps() {
    let (mem, s) = mem();
    let mut log = open(&s, LogConfig::default());
    let first = log.append(&mut idem(42, 0, 0, 3), 0, 0).unwrap();
    assert_eq!((first.base_offset, first.last_offset), (0, 2));
    log.append(&mut idem(42, 0, 3, 2), 0, 0).unwrap();
    let size = log.size_bytes();

    // A retry of the first batch: original offsets, nothing written.
    let dup = log.append(&mut idem(42, 0, 0, 3), 0, 0).unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (0, 2));
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.log_end_offset(), 5);

    // A gap.
    let err = log.append(&mut idem(42, 0, 6, 1), 0, 0).unwrap_err();
    assert!(matches!(err, LogError::OutOfOrderSequence(_)), "{err}");
    assert_eq!(err.error_code(), 45);
    // Unknown producer not starting at 0.
    assert!(matches!(log.append(&mut idem(7, 0, 5, 1), 0, 0), Err(LogError::UnknownProducerId(_))));
    // New epoch must start at 0; older epochs are fenced.
    assert!(matches!(
        log.append(&mut idem(42, 1, 5, 1), 0, 0),
        Err(LogError::OutOfOrderSequence(_))
    ));
    log.append(&mut idem(42, 1, 0, 1), 0, 0).unwrap();
    assert!(matches!(
        log.append(&mut idem(42, 0, 5, 1), 0, 0),
        Err(LogError::InvalidProducerEpoch(_))
    ));
    // Two batches of one producer in one request are checked in order.
    let mut two = idem(42, 1, 1, 1);
    two.extend_from_slice(&idem(42, 1, 2, 2));
    let info = log.append(&mut two, 0, 0).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (6, 8));
    assert_eq!(
        log.size_bytes(),
        size + (idem(42, 1, 0, 1).len() * 2 + idem(1, 1, 2, 2).len()) as u64
    );

    // After a crash and reopen the state is rebuilt from the log.
    log.flush().unwrap();
    drop(log);
    mem.crash();
    let mut log = open(&s, LogConfig::default());
    let dup = log.append(&mut idem(42, 1, 2, 2), 0, 0).unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (7, 8));
    assert!(matches!(
        log.append(&mut idem(42, 1, 9, 1), 0, 0),
        Err(LogError::OutOfOrderSequence(_))
    ));
    assert_eq!(log.append(&mut idem(42, 1, 4, 1), 0, 0).unwrap().base_offset, 9);
}

#[test]
fn sequence_wraps_at_i32_max() {
    use super::producer::{check_sequence, BatchMetadata, ProducerEntry, SequenceCheck};
    let h = idem(1, 0, i32::MAX - 1, 3);
    assert_eq!(BatchHeader::parse(&h).unwrap().last_sequence(), 0);
    // Reaching i32::MAX through appends takes 2^31 records, so check the state directly.
    let mut entry = ProducerEntry::default();
    let meta = BatchMetadata {
        first_seq: i32::MAX - 1,
        last_seq: i32::MAX,
        first_offset: 0,
        last_offset: 1,
        max_timestamp: 0,
    };
    entry.record(0, meta);
    let next = idem(1, 0, 0, 1);
    let next = BatchHeader::parse(&next).unwrap();
    assert_eq!(check_sequence(Some(&entry), &next).unwrap(), SequenceCheck::Accept);
    let gap = idem(1, 0, 1, 1);
    let gap = BatchHeader::parse(&gap).unwrap();
    assert!(matches!(check_sequence(Some(&entry), &gap), Err(LogError::OutOfOrderSequence(_))));
}

#[test]
fn offset_for_timestamp_and_max_timestamp() {
    let (_, s) = mem();
    let config = LogConfig { index_interval_bytes: 1, segment_bytes: 300, ..Default::default() };
    let mut log = open(&s, config);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp_offset().unwrap(), None);
    // Batches at timestamps 100.., 200.., 300.. (3 records each, +1 ms per record).
    for ts in [100, 200, 300, 250] {
        log.append(&mut batch(3, ts), 0, 0).unwrap();
    }
    assert!(log.segment_count() > 1);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 100)));
    assert_eq!(log.offset_for_timestamp(101).unwrap(), Some((1, 101)));
    assert_eq!(log.offset_for_timestamp(103).unwrap(), Some((3, 200)));
    assert_eq!(log.offset_for_timestamp(252).unwrap(), Some((6, 300)));
    assert_eq!(log.offset_for_timestamp(302).unwrap(), Some((8, 302)));
    assert_eq!(log.offset_for_timestamp(303).unwrap(), None);
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((8, 302)));
    let compressed = Spec { compression: Compression::Gzip, ..spec(4, 1_000) };
    log.append(&mut encode(compressed), 0, 0).unwrap();
    assert_eq!(log.offset_for_timestamp(1_002).unwrap(), Some((14, 1_002)));
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((15, 1_003)));
}

/// Found by the `record_batch` fuzz target: a record whose timestamp delta overflows the
/// batch's base timestamp panicked ("attempt to add with overflow", with overflow checks on as
/// in the simulator's debug builds) in the record decoder under ListOffsets by timestamp. It
/// wraps, as Kafka's Java arithmetic does (third_party/kafka-protocol/PATCHED.md).
#[test]
fn timestamp_lookups_survive_a_record_timestamp_delta_that_overflows() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    let mut b =
        crate::internal_records::encode_batch(&[(None, Some(Bytes::from_static(b"v")))], i64::MAX)
            .to_vec();
    // After the header: record length, attributes, timestamp delta (zigzag 2 is +1).
    assert_eq!(b[63], 0, "timestamp delta 0");
    b[63] = 2;
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    log.append(&mut b, 0, 0).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, i64::MAX)));
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((0, i64::MAX)));
}

#[test]
fn manager_opens_lists_and_removes_partitions() {
    let (_, s) = mem();
    let root = Path::new("/data");
    let mut m = LogManager::open(Arc::clone(&s), root.to_path_buf()).unwrap();
    let log = m.get_or_create("my-topic", 2, LogConfig::default(), 0).unwrap();
    log.lock().unwrap().append(&mut batch(2, 0), 0, 0).unwrap();
    m.get_or_create("other", 0, LogConfig::default(), 0).unwrap();
    s.open(&root.join("stray-file"), true).unwrap();
    s.open(&root.join("recovery-point-offset-checkpoint"), true).unwrap();
    assert_eq!(
        m.partitions_on_disk().unwrap(),
        vec![("my-topic".to_string(), 2), ("other".to_string(), 0)]
    );
    assert!(Arc::ptr_eq(&m.get("my-topic", 2).unwrap(), &log));
    assert!(m.get("my-topic", 3).is_none());
    m.flush_all().unwrap();
    m.maybe_flush_all(10).unwrap();
    assert_eq!(m.enforce_retention_all(0).unwrap().len(), 2);
    m.remove("other", 0, "0").unwrap();
    assert_eq!(m.partitions_on_disk().unwrap(), vec![("my-topic".to_string(), 2)]);
    drop(log);
    let mut m2 = LogManager::open(Arc::clone(&s), root.to_path_buf()).unwrap();
    let log = m2.get_or_create("my-topic", 2, LogConfig::default(), 0).unwrap();
    assert_eq!(log.lock().unwrap().log_end_offset(), 2);
}

#[test]
fn disk_full_fails_the_append_and_the_log_stays_usable() {
    let (mem, s) = mem();
    let mut log = open(&s, LogConfig::default());
    log.append(&mut idem(9, 0, 0, 1), 0, 0).unwrap();
    mem.set_capacity_bytes(Some(0));
    let err = log.append(&mut idem(9, 0, 1, 2), 0, 0).unwrap_err();
    assert!(matches!(err, LogError::Storage { .. }), "{err}");
    assert_eq!(err.error_code(), 56);
    assert_eq!(log.log_end_offset(), 1);
    assert!(log.is_storage_failing(), "the failure is logged once, as a state change");
    log.append(&mut idem(9, 0, 1, 2), 0, 0).unwrap_err();
    assert!(log.is_storage_failing());
    mem.set_capacity_bytes(None);
    // The failed batch did not advance the producer's sequence: its retry is appended.
    let info = log.append(&mut idem(9, 0, 1, 2), 0, 0).unwrap();
    assert_eq!((info.base_offset, info.last_offset, info.duplicate), (1, 2, false));
    assert!(!log.is_storage_failing());
    assert_eq!(decode(&log.read(0, u32::MAX).unwrap()).len(), 3);
}

#[test]
fn reopen_multi_segment_log_keeps_indexes_and_lookups() {
    let (mem, s) = mem();
    let one = batch(2, 0).len() as u64;
    let config =
        LogConfig { segment_bytes: one * 2, index_interval_bytes: 1, ..Default::default() };
    let mut log = open(&s, config.clone());
    for i in 0..5 {
        log.append(&mut batch(2, 100 * i), 0, 0).unwrap();
    }
    log.flush().unwrap();
    let files = |mem: &MemoryStorage| -> Vec<Vec<u8>> {
        let names = s.list_dir(&dir()).unwrap();
        names.iter().map(|n| mem.read_file(&dir().join(n)).unwrap()).collect()
    };
    let before = files(&mem);
    let read_before = log.read(0, u32::MAX).unwrap();
    drop(log);
    mem.crash();
    let log = open(&s, config);
    assert_eq!(files(&mem), before, "recovery must not change consistent files");
    assert_eq!(log.read(0, u32::MAX).unwrap(), read_before);
    assert_eq!(log.segment_base_offsets(), vec![0, 4, 8]);
    assert_eq!(log.offset_for_timestamp(201).unwrap(), Some((5, 201)));
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((9, 401)));
}

/// Flips one byte of a file in memory storage, durably (as a bit flip on the platter would).
fn corrupt_byte(mem: &MemoryStorage, path: &std::path::Path, position: u64) {
    let mut f = mem.open(path, false).unwrap();
    let mut byte = [0u8; 1];
    f.read_exact_at(position, &mut byte).unwrap();
    f.write_at(position, &[byte[0] ^ 0xff]).unwrap();
    f.sync().unwrap();
}

#[test]
fn corruption_in_a_sealed_segment_is_kept_and_read_as_corrupt_message() {
    let (mem, s) = mem();
    let one = batch(2, 0).len() as u64;
    let config = LogConfig { segment_bytes: one * 3, ..Default::default() };
    let mut log = open(&s, config.clone());
    for i in 0..7 {
        log.append(&mut batch(2, 100 * i), 0, 0).unwrap();
    }
    log.flush().unwrap();
    // Segments 0 (offsets 0..5), 6 (6..11) and the active 12.
    assert_eq!(log.segment_base_offsets(), vec![0, 6, 12]);
    drop(log);
    let first = dir().join("00000000000000000000.log");
    let len_before = mem.read_file(&first).unwrap().len();
    // The magic byte of the second batch of the first segment: its header no longer parses.
    corrupt_byte(&mem, &first, one + 16);

    let log = open(&s, config.clone());
    assert_eq!(mem.read_file(&first).unwrap().len(), len_before, "nothing may be truncated");
    assert_eq!(log.log_end_offset(), 14, "no offset may be lost or reused");
    assert_eq!(log.corrupt_regions().len(), 1);
    assert_eq!(log.corrupt_regions()[0].1.first_offset, 2);
    // The batch before the corruption still reads; a read that reaches it stops there.
    assert_eq!(base_offsets(&log.read(0, u32::MAX).unwrap()), vec![0]);
    // Reads in the corrupt region answer CORRUPT_MESSAGE, naming the file and position.
    let err = log.read(2, u32::MAX).unwrap_err();
    assert_eq!(err.error_code(), 2, "{err}");
    assert!(err.to_string().contains("00000000000000000000.log"), "{err}");
    assert!(err.to_string().contains(&format!("position {one}")), "{err}");
    assert_eq!(log.read(5, u32::MAX).unwrap_err().error_code(), 2);
    // Later segments are untouched.
    assert_eq!(base_offsets(&log.read(6, u32::MAX).unwrap()), vec![6, 8, 10, 12]);
    drop(log);
    // And it stays that way on every later start.
    let log = open(&s, config);
    assert_eq!(mem.read_file(&first).unwrap().len(), len_before);
    assert_eq!(log.log_end_offset(), 14);
}

#[test]
fn corruption_below_a_checkpointed_recovery_point_in_the_active_segment_is_kept() {
    let (mem, s) = mem();
    let one = batch(2, 0).len() as u64;
    let mut log = open(&s, LogConfig::default());
    for i in 0..4 {
        log.append(&mut batch(2, 100 * i), 0, 0).unwrap();
    }
    log.flush().unwrap();
    let recovery_point = log.recovery_point();
    assert_eq!(recovery_point, 8);
    drop(log);
    let active = dir().join("00000000000000000000.log");
    let len_before = mem.read_file(&active).unwrap().len();
    // A bad CRC (a record byte) and a bad header, both below the recovery point.
    corrupt_byte(&mem, &active, one + one - 3);
    let reopen = || {
        PartitionLog::open_at_recovery_point(
            Arc::clone(&s),
            dir(),
            LogConfig::default(),
            0,
            Some(recovery_point),
        )
        .unwrap()
    };
    let log = reopen();
    // Below the recovery point only headers are checked: a bad CRC is the consumer's to see.
    assert_eq!(log.log_end_offset(), 8);
    assert!(log.corrupt_regions().is_empty());
    drop(log);
    corrupt_byte(&mem, &active, 2 * one + 16);
    let mut log = reopen();
    assert_eq!(mem.read_file(&active).unwrap().len(), len_before, "nothing may be truncated");
    assert_eq!(log.log_end_offset(), 8, "offsets up to the recovery point stay addressed");
    assert_eq!(log.read(4, u32::MAX).unwrap_err().error_code(), 2);
    // Appends continue in a new segment at the recovery point.
    assert_eq!(log.append(&mut batch(1, 0), 0, 0).unwrap().base_offset, 8);
    assert_eq!(log.segment_base_offsets(), vec![0, 8]);
    assert_eq!(base_offsets(&log.read(8, u32::MAX).unwrap()), vec![8]);

    // Without the checkpoint (recovery from the active segment's start), the same bytes
    // would have been a torn tail: that is the only case recovery truncates.
    assert!(log.recovery_point() >= 8);
}

#[test]
fn recovery_point_follows_flushes_and_rolls() {
    let (_, s) = mem();
    let one = batch(2, 0).len() as u64;
    let mut log = open(&s, LogConfig { segment_bytes: one * 2, ..Default::default() });
    assert_eq!(log.recovery_point(), 0);
    log.append(&mut batch(2, 0), 0, 0).unwrap();
    log.append(&mut batch(2, 0), 0, 0).unwrap();
    assert_eq!(log.recovery_point(), 0, "nothing synced yet");
    log.append(&mut batch(2, 0), 0, 0).unwrap();
    assert_eq!(log.recovery_point(), 4, "the roll synced the sealed segment");
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 6);
}

/// Kafka's `leader-epoch-checkpoint` beside the segments: each epoch's first offset, kept as the
/// log is truncated by recovery and advanced by DeleteRecords, and read back on open.
#[test]
fn leader_epochs_follow_appends_recovery_and_log_start() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    log.append(&mut batch(3, 0), 0, 0).unwrap();
    log.append(&mut batch(2, 0), 0, 0).unwrap();
    log.append(&mut batch(4, 0), 3, 0).unwrap();
    let pairs = |log: &PartitionLog| -> Vec<(i32, i64)> {
        log.leader_epochs().iter().map(|e| (e.epoch, e.start_offset)).collect()
    };
    assert_eq!(pairs(&log), [(0, 0), (3, 5)]);
    assert_eq!(log.end_offset_for_epoch(0), (0, 5));
    assert_eq!(log.end_offset_for_epoch(2), (0, 5));
    assert_eq!(log.end_offset_for_epoch(3), (3, 9));
    assert_eq!(log.end_offset_for_epoch(4), (-1, -1));
    log.assign_epoch_start(6).unwrap();
    assert_eq!(log.end_offset_for_epoch(3), (3, 9), "epoch 3 ends where 6 starts");
    log.flush().unwrap();
    drop(log);

    let mut log = open(&s, LogConfig::default());
    // Read back; an epoch that wrote nothing starts at the log end and goes, as in Kafka's
    // recovery (the next leader assigns its epoch again).
    assert_eq!(pairs(&log), [(0, 0), (3, 5)]);
    log.delete_records_before(6).unwrap();
    assert_eq!(pairs(&log), [(3, 6)]);
    drop(log);
    // A file that says otherwise than the log: epochs starting past the log end are dropped.
    let checkpoint = dir().join(leader_epoch::LEADER_EPOCH_CHECKPOINT);
    checkpoint::write_atomically(s.as_ref(), &checkpoint, b"0\n2\n3 6\n8 40\n").unwrap();
    let log = open(&s, LogConfig::default());
    assert_eq!(pairs(&log), [(3, 6)]);
}

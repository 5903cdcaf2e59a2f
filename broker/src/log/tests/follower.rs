//! The follower side of the log: appends of the leader's batches, truncation, starting over
//! at an offset (Kafka's `appendAsFollower`, `truncateTo`, `truncateFullyAndStartAt`).

use super::*;

/// A batch as a leader wrote it: `records` records from `base`, stamped with `epoch`; record
/// `i` has timestamp `ts + i`.
fn leader_batch(base: i64, epoch: i32, records: i64, ts: i64) -> BytesMut {
    let mut b = batch(records, ts);
    batch::patch(&mut b, base, epoch);
    b
}

/// An idempotent producer's batch as a leader wrote it.
fn leader_idem(base: i64, epoch: i32, producer: (i64, i16, i32), records: i64) -> BytesMut {
    let (pid, producer_epoch, seq) = producer;
    let mut b = idem(pid, producer_epoch, seq, records);
    batch::patch(&mut b, base, epoch);
    b
}

fn concat(parts: &[BytesMut]) -> BytesMut {
    let mut out = BytesMut::new();
    parts.iter().for_each(|p| out.extend_from_slice(p));
    out
}

fn epochs(log: &PartitionLog) -> Vec<(i32, i64)> {
    log.leader_epochs().iter().map(|e| (e.epoch, e.start_offset)).collect()
}

/// (base offset, partition leader epoch, max timestamp) of every batch in `data`.
fn headers(data: &Bytes) -> Vec<(i64, i32, i64)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let h = BatchHeader::parse(&data[pos..]).unwrap();
        out.push((h.base_offset(), h.partition_leader_epoch(), h.max_timestamp()));
        pos += h.total_size().unwrap();
    }
    out
}

/// Every file of the partition directory with its bytes.
fn files(mem: &MemoryStorage, s: &Arc<dyn Storage>) -> Vec<(String, Vec<u8>)> {
    let names = s.list_dir(&dir()).unwrap();
    names.into_iter().map(|n| (n.clone(), mem.read_file(&dir().join(n)).unwrap())).collect()
}

#[test]
fn follower_append_keeps_the_leaders_batches_and_reopens_identically() {
    let (mem, s) = mem();
    let mut log = open(&s, LogConfig::default());
    let first = log.append_as_follower(&mut leader_batch(0, 4, 3, 1_000), 0).unwrap();
    assert_eq!((first.base_offset, first.last_offset, first.max_timestamp), (0, 2, 1_002));
    assert!(!first.duplicate);
    let two = concat(&[leader_batch(3, 4, 2, 500), leader_batch(5, 6, 4, 2_000)]);
    let info = log.append_as_follower(&mut two.clone(), 0).unwrap();
    assert_eq!((info.base_offset, info.last_offset, info.max_timestamp), (3, 8, 2_003));
    assert_eq!(log.log_end_offset(), 9);

    let all = log.read(0, u32::MAX).unwrap();
    // Base offsets, the leader's epochs and timestamps are stored as the leader wrote them.
    assert_eq!(headers(&all), [(0, 4, 1_002), (3, 4, 501), (5, 6, 2_003)]);
    assert_eq!(&all[all.len() - two.len()..], &two[..], "byte for byte");
    assert_eq!(decode(&all)[3], (3, 500, "v0".to_string()));
    assert_eq!(log.offset_for_timestamp(1_001).unwrap(), Some((1, 1_001)));
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((8, 2_003)));

    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 9);
    let before = files(&mem, &s);
    drop(log);
    mem.crash();
    let log = open(&s, LogConfig::default());
    assert_eq!(files(&mem, &s), before, "recovery finds the follower's log consistent");
    assert_eq!(log.read(0, u32::MAX).unwrap(), all);
    assert_eq!(epochs(&log), [(4, 0), (6, 5)]);

    // The same on real files.
    let tmp = tempfile::tempdir().unwrap();
    let fs: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let path = tmp.path().join("orders-0");
    let mut log = PartitionLog::open(fs.clone(), path.clone(), LogConfig::default(), 0).unwrap();
    log.append_as_follower(&mut leader_batch(0, 4, 3, 1_000), 0).unwrap();
    log.append_as_follower(&mut two.clone(), 0).unwrap();
    drop(log);
    let log = PartitionLog::open(fs, path, LogConfig::default(), 0).unwrap();
    assert_eq!(log.read(0, u32::MAX).unwrap(), all);
}

#[test]
fn follower_append_refuses_gaps_overlaps_and_bad_crcs_with_nothing_appended() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    let err = log.append_as_follower(&mut leader_batch(1, 0, 2, 0), 0).unwrap_err();
    let LogError::UnexpectedAppendOffset { message, first_offset, last_offset } = &err else {
        panic!("{err}")
    };
    assert_eq!((*first_offset, *last_offset), (1, 2));
    assert!(message.contains("first offset 1 is not the log end offset 0"), "{message}");
    assert!(message.contains("/logs/topic-0"), "{message}");
    assert_eq!(err.error_code(), -1);
    assert_eq!(log.log_end_offset(), 0);

    log.append_as_follower(&mut leader_batch(0, 0, 3, 0), 0).unwrap();
    let before = log.read(0, u32::MAX).unwrap();
    let size = log.size_bytes();
    // An overlap with what the log holds.
    let err = log.append_as_follower(&mut leader_batch(2, 0, 2, 0), 0).unwrap_err();
    assert!(err.to_string().contains("first offset 2 is not the log end offset 3"), "{err}");
    // A gap between two batches of one append: the first batch is not appended either.
    let mut gap = concat(&[leader_batch(3, 0, 2, 0), leader_batch(6, 0, 1, 0)]);
    let err = log.append_as_follower(&mut gap, 0).unwrap_err();
    assert!(
        err.to_string().contains("a batch at offset 6 follows one ending at 4, expected 5"),
        "{err}"
    );
    assert!(matches!(
        err,
        LogError::UnexpectedAppendOffset { first_offset: 3, last_offset: 6, .. }
    ));
    // A corrupt batch (a record byte flipped, covered by the CRC).
    let mut corrupt = leader_batch(3, 0, 2, 0);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let err = log.append_as_follower(&mut corrupt, 0).unwrap_err();
    assert!(matches!(err, LogError::CorruptRecord(_)), "{err}");
    assert_eq!((log.log_end_offset(), log.size_bytes()), (3, size));
    assert_eq!(log.read(0, u32::MAX).unwrap(), before);
    assert_eq!(log.append_as_follower(&mut leader_batch(3, 0, 1, 0), 0).unwrap().base_offset, 3);
}

#[test]
fn follower_batches_fill_the_leader_epoch_cache() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    let mut batches = concat(&[
        leader_batch(0, 1, 3, 0),
        leader_batch(3, 1, 2, 0),
        leader_batch(5, 3, 3, 0),
        // An epoch older than the latest changes nothing (Kafka's `assign`).
        leader_batch(8, 2, 1, 0),
    ]);
    log.append_as_follower(&mut batches, 0).unwrap();
    log.append_as_follower(&mut leader_batch(9, 5, 2, 0), 0).unwrap();
    assert_eq!(epochs(&log), [(1, 0), (3, 5), (5, 9)]);
    assert_eq!(log.end_offset_for_epoch(1), (1, 5));
    assert_eq!(log.end_offset_for_epoch(2), (1, 5));
    assert_eq!(log.end_offset_for_epoch(3), (3, 9));
    assert_eq!(log.end_offset_for_epoch(5), (5, 11));
    drop(log);
    let log = open(&s, LogConfig::default());
    assert_eq!(epochs(&log), [(1, 0), (3, 5), (5, 9)]);
}

/// A follower keeps the producer state its leader's batches imply, without checking sequences
/// (the leader did); once it leads, retries are duplicates and sequences continue.
#[test]
fn follower_producer_state_carries_over_to_leadership() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    log.append_as_follower(&mut leader_idem(0, 2, (7, 0, 0), 3), 0).unwrap();
    log.append_as_follower(&mut leader_idem(3, 2, (7, 0, 3), 2), 0).unwrap();
    // A producer first seen at sequence 5 (its earlier batches deleted on the leader) and one
    // with an older epoch than seen before: a leader would refuse both, a follower takes them.
    log.append_as_follower(&mut leader_idem(5, 2, (8, 0, 5), 1), 0).unwrap();
    log.append_as_follower(&mut leader_idem(6, 2, (9, 3, 0), 1), 0).unwrap();
    log.append_as_follower(&mut leader_idem(7, 2, (9, 2, 0), 1), 0).unwrap();
    assert_eq!(log.log_end_offset(), 8);

    for reopened in [false, true] {
        let mut log = if reopened {
            open(&s, LogConfig::default())
        } else {
            std::mem::replace(&mut log, open(&s, LogConfig::default()))
        };
        let dup = log.append(&mut idem(7, 0, 3, 2), 3, 0).unwrap();
        assert_eq!((dup.base_offset, dup.last_offset, dup.duplicate), (3, 4, true), "{reopened}");
        let err = log.append(&mut idem(7, 0, 6, 1), 3, 0).unwrap_err();
        assert!(matches!(err, LogError::OutOfOrderSequence(_)), "{err}");
        let err = log.append(&mut idem(9, 1, 0, 1), 3, 0).unwrap_err();
        assert!(matches!(err, LogError::InvalidProducerEpoch(_)), "the follower's epoch: {err}");
        if reopened {
            let next = log.append(&mut idem(7, 0, 5, 1), 3, 0).unwrap();
            assert_eq!((next.base_offset, next.duplicate), (8, false));
            let next = log.append(&mut idem(8, 0, 6, 1), 3, 0).unwrap();
            assert_eq!((next.base_offset, next.duplicate), (9, false));
        }
    }
}

#[test]
fn truncate_in_the_middle_of_a_segment_then_append_and_reopen() {
    let (mem, s) = mem();
    let config = LogConfig { index_interval_bytes: 1, ..Default::default() };
    let mut log = open(&s, config.clone());
    for i in 0..4 {
        log.append(&mut batch(3, 100 * i), 1, 0).unwrap();
    }
    log.flush().unwrap();
    let kept = log.read(0, u32::MAX).unwrap().slice(..2 * batch(3, 0).len());
    assert!(!log.truncate_to(12).unwrap(), "at the log end: nothing to do");
    assert!(!log.truncate_to(40).unwrap());
    assert!(log.truncate_to(7).unwrap());
    // The batch holding offset 7 (6..=8) goes whole.
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.recovery_point(), 6);
    assert_eq!(log.read(0, u32::MAX).unwrap(), kept);
    assert!(log.read(7, 100).is_err(), "past the new log end");
    assert_eq!(log.offset_for_timestamp(101).unwrap(), Some((4, 101)));
    assert_eq!(log.offset_for_timestamp(150).unwrap(), None, "the newer records are gone");
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((5, 102)));
    assert_eq!(log.active().index_entries(), 1, "entries of the cut batches are gone");

    // Appends continue at the new end, from a leader or as a follower.
    assert_eq!(log.append(&mut batch(2, 700), 1, 0).unwrap().base_offset, 6);
    log.append_as_follower(&mut leader_batch(8, 2, 2, 800), 0).unwrap();
    let read = log.read(0, u32::MAX).unwrap();
    assert_eq!(base_offsets(&read), [0, 3, 6, 8]);
    assert_eq!(log.offset_for_timestamp(300).unwrap(), Some((6, 700)));
    log.flush().unwrap();
    let before = files(&mem, &s);
    drop(log);
    mem.crash();
    let log = open(&s, config);
    assert_eq!(files(&mem, &s), before, "the indexes written after truncation are consistent");
    assert_eq!(log.read(0, u32::MAX).unwrap(), read);
    assert_eq!(log.offset_for_timestamp(801).unwrap(), Some((9, 801)));
    assert_eq!(epochs(&log), [(1, 0), (2, 8)]);
}

#[test]
fn truncate_across_segments_on_files_then_append_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("orders-1");
    let s: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let one = batch(2, 0).len() as u64;
    let config =
        LogConfig { segment_bytes: one * 2, index_interval_bytes: 1, ..Default::default() };
    let mut log = PartitionLog::open(s.clone(), path.clone(), config.clone(), 0).unwrap();
    for i in 0..6 {
        let epoch = if i < 3 { 0 } else { 2 };
        log.append(&mut batch(2, 100 * i), epoch, 0).unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.segment_base_offsets(), [0, 4, 8]);
    assert_eq!(epochs(&log), [(0, 0), (2, 6)]);
    let kept = log.read(0, u32::MAX).unwrap().slice(..3 * one as usize);

    assert!(log.truncate_to(6).unwrap());
    assert_eq!(log.segment_base_offsets(), [0, 4]);
    assert!(!path.join("00000000000000000008.log").exists());
    assert!(!path.join("00000000000000000008.index").exists());
    assert_eq!((log.log_end_offset(), log.recovery_point()), (6, 6));
    assert_eq!(log.read(0, u32::MAX).unwrap(), kept);
    assert_eq!(epochs(&log), [(0, 0)], "epoch 2 started at 6");
    assert_eq!(log.end_offset_for_epoch(0), (0, 6));
    assert_eq!(log.offset_for_timestamp(200).unwrap(), Some((4, 200)));
    assert_eq!(log.offset_for_timestamp(201).unwrap(), Some((5, 201)));
    assert_eq!(log.offset_for_timestamp(300).unwrap(), None);

    // The follower continues from the leader at 6, rolling as usual.
    for base in [6, 8, 10] {
        log.append_as_follower(&mut leader_batch(base, 3, 2, 1_000 + base), 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), [0, 4, 8]);
    assert_eq!(epochs(&log), [(0, 0), (3, 6)]);
    let read = log.read(0, u32::MAX).unwrap();
    assert_eq!(base_offsets(&read), [0, 2, 4, 6, 8, 10]);
    drop(log);
    let mut log = PartitionLog::open(s.clone(), path.clone(), config.clone(), 0).unwrap();
    assert_eq!(log.read(0, u32::MAX).unwrap(), read);
    assert_eq!(log.offset_for_timestamp(1_007).unwrap(), Some((7, 1_007)));
    assert_eq!(epochs(&log), [(0, 0), (3, 6)]);

    // To a segment's base offset: the segment stays, empty, and takes the next append.
    assert!(log.truncate_to(4).unwrap());
    assert_eq!(log.segment_base_offsets(), [0, 4]);
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(std::fs::metadata(path.join("00000000000000000004.log")).unwrap().len(), 0);
    assert_eq!(std::fs::metadata(path.join("00000000000000000004.index")).unwrap().len(), 0);
    log.append_as_follower(&mut leader_batch(4, 3, 2, 5), 0).unwrap();
    drop(log);
    let log = PartitionLog::open(s, path, config, 0).unwrap();
    assert_eq!(base_offsets(&log.read(0, u32::MAX).unwrap()), [0, 2, 4]);
    assert_eq!(epochs(&log), [(0, 0), (3, 4)]);
}

/// A truncation is durable at once: a crash right after it does not bring back what it removed
/// (which a leader that never had those records would otherwise see reappear).
#[test]
fn a_crash_after_truncation_recovers_the_truncated_log() {
    let (mem, s) = mem();
    let one = batch(2, 0).len() as u64;
    let config =
        LogConfig { segment_bytes: one * 3, index_interval_bytes: 1, ..Default::default() };
    let mut log = open(&s, config.clone());
    for i in 0..7 {
        log.append(&mut batch(2, 10 * i), i as i32 / 3, 0).unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.segment_base_offsets(), [0, 6, 12]);
    assert!(log.truncate_to(9).unwrap());
    assert_eq!(log.log_end_offset(), 8);
    let truncated = log.read(0, u32::MAX).unwrap();
    let epochs_after = epochs(&log);
    assert_eq!(epochs_after, [(0, 0), (1, 6)]);
    // Unflushed appends after the truncation are lost in the crash; the truncation is not.
    log.append_as_follower(&mut leader_batch(8, 4, 2, 0), 0).unwrap();
    drop(log);
    mem.crash();
    let mut log = open(&s, config);
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.read(0, u32::MAX).unwrap(), truncated);
    assert_eq!(log.segment_base_offsets(), [0, 6]);
    assert_eq!(epochs(&log), epochs_after);
    assert_eq!(log.offset_for_timestamp(31).unwrap(), Some((7, 31)));
    assert_eq!(log.append_as_follower(&mut leader_batch(8, 4, 1, 0), 0).unwrap().base_offset, 8);
}

#[test]
fn producer_state_follows_truncation() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    log.append(&mut idem(5, 0, 0, 2), 0, 0).unwrap();
    log.append(&mut idem(5, 0, 2, 2), 0, 0).unwrap();
    log.append(&mut batch(1, 0), 0, 0).unwrap();
    assert!(log.append(&mut idem(5, 0, 2, 2), 0, 0).unwrap().duplicate);
    assert!(log.truncate_to(2).unwrap());
    // The batch with sequences 2..=3 is gone: the same sequences are new again, not a retry.
    let err = log.append(&mut idem(5, 0, 4, 1), 0, 0).unwrap_err();
    assert!(matches!(err, LogError::OutOfOrderSequence(_)), "{err}");
    let info = log.append(&mut idem(5, 0, 2, 2), 0, 0).unwrap();
    assert_eq!((info.base_offset, info.duplicate), (2, false));
    assert!(log.append(&mut idem(5, 0, 2, 2), 0, 0).unwrap().duplicate);
    // Truncated to nothing, the producer is unknown.
    assert!(log.truncate_to(0).unwrap());
    assert_eq!(log.max_producer_id(), None);
    let err = log.append(&mut idem(5, 0, 2, 1), 0, 0).unwrap_err();
    assert!(matches!(err, LogError::UnknownProducerId(_)), "{err}");
}

#[test]
fn truncation_at_the_log_end_drops_an_epoch_that_wrote_nothing() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    log.append(&mut batch(3, 0), 1, 0).unwrap();
    log.assign_epoch_start(4).unwrap();
    assert_eq!(epochs(&log), [(1, 0), (4, 3)]);
    assert!(!log.truncate_to(3).unwrap());
    assert_eq!(epochs(&log), [(1, 0)]);
    assert_eq!(log.log_end_offset(), 3);
    let err = log.truncate_to(-1).unwrap_err();
    assert!(matches!(err, LogError::OffsetOutOfRange(_)), "{err}");
}

#[test]
fn truncation_below_the_log_start_offset_lowers_it_as_kafka_does() {
    let (_, s) = mem();
    let mut log = open(&s, LogConfig::default());
    for _ in 0..4 {
        log.append(&mut batch(2, 0), 0, 0).unwrap();
    }
    assert_eq!(log.delete_records_before(6).unwrap(), 6);
    assert!(log.truncate_to(4).unwrap());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (4, 4));
    drop(log);
    let log = open(&s, LogConfig::default());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (4, 4), "the checkpoint follows");
    // Records below the log start stay deleted for readers; the segment still holds them.
    assert!(matches!(log.read(2, 100), Err(LogError::OffsetOutOfRange(_))));
    assert_eq!(log.segment_base_offsets(), [0]);
    assert_eq!(log.size_bytes(), 2 * batch(2, 0).len() as u64);
}

#[test]
fn truncate_fully_and_start_at_then_append() {
    let (mem, s) = mem();
    let one = batch(2, 0).len() as u64;
    let config = LogConfig { segment_bytes: one * 2, ..Default::default() };
    let mut log = open(&s, config.clone());
    for i in 0..5 {
        log.append(&mut idem(3, 0, 2 * i, 2), 1, 0).unwrap();
    }
    log.delete_records_before(5).unwrap();
    log.flush().unwrap();
    log.truncate_fully_and_start_at(100).unwrap();
    assert_eq!(log.segment_base_offsets(), [100]);
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset(), log.recovery_point()),
        (100, 100, 100)
    );
    assert!(epochs(&log).is_empty());
    assert_eq!(log.max_producer_id(), None);
    assert!(log.read(100, u32::MAX).unwrap().is_empty());
    assert!(matches!(log.read(5, 100), Err(LogError::OffsetOutOfRange(_))));
    let names = s.list_dir(&dir()).unwrap();
    assert!(names.iter().all(|n| !n.starts_with("0000000000000000000")), "{names:?}");

    // The follower continues from the leader's log start; the producer is new here.
    log.append_as_follower(&mut leader_idem(100, 7, (3, 0, 10), 2), 0).unwrap();
    assert_eq!(epochs(&log), [(7, 100)]);
    assert!(log.append(&mut idem(3, 0, 10, 2), 7, 0).unwrap().duplicate);
    log.flush().unwrap();
    drop(log);
    mem.crash();
    let mut log = open(&s, config);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 102));
    assert_eq!(base_offsets(&log.read(100, u32::MAX).unwrap()), [100]);
    assert_eq!(epochs(&log), [(7, 100)]);

    // Truncating below the first segment starts the log over there.
    assert!(log.truncate_to(50).unwrap());
    assert_eq!(log.segment_base_offsets(), [50]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
    drop(log);
    let log = open(&s, LogConfig::default());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50), "not the old start 100");
}

#[test]
fn high_watermarks_are_checkpointed_per_log_dir_and_dropped_with_their_partition() {
    let (mem, s) = mem();
    let root = Path::new("/data");
    let mut m = LogManager::open(Arc::clone(&s), root.to_path_buf()).unwrap();
    m.get_or_create("orders", 3, LogConfig::default(), 0).unwrap();
    m.get_or_create("a-b", 0, LogConfig::default(), 0).unwrap();
    assert_eq!(m.high_watermark("orders", 3), None);
    m.checkpoint_high_watermarks([(("orders".to_owned(), 3), 120), (("a-b".to_owned(), 0), 7)])
        .unwrap();
    let file = root.join(checkpoint::HIGH_WATERMARK_CHECKPOINT);
    let text = |mem: &MemoryStorage| String::from_utf8(mem.read_file(&file).unwrap()).unwrap();
    assert_eq!(text(&mem), "0\n2\na-b 0 7\norders 3 120\n", "Kafka's OffsetCheckpointFile");
    m.checkpoint_high_watermarks([(("orders".to_owned(), 3), 130)]).unwrap();
    assert_eq!(m.high_watermark("orders", 3), Some(130));
    assert_eq!(m.high_watermark("a-b", 0), Some(7), "a partition not given keeps its entry");
    drop(m);
    mem.crash();
    let mut m = LogManager::open(Arc::clone(&s), root.to_path_buf()).unwrap();
    assert_eq!(m.high_watermark("orders", 3), Some(130), "synced before the rename");
    assert_eq!(m.high_watermark("a-b", 0), Some(7));
    assert_eq!(m.high_watermark("orders", 4), None);
    m.remove("a-b", 0, "0").unwrap();
    assert_eq!(text(&mem), "0\n1\norders 3 130\n");
    m.set_aside_as_stray("orders", 3, "0").unwrap();
    assert_eq!(text(&mem), "0\n0\n");
    assert!(s.list_dir(root).unwrap().iter().all(|n| !n.ends_with(".tmp")));
}

/// The manager's truncations checkpoint the lowered recovery point at once (Kafka's
/// `LogManager.truncateTo`): a crash then recovers above the new end, CRC-checking the
/// records appended again there.
#[test]
fn manager_truncations_checkpoint_the_lowered_recovery_point() {
    let (_, s) = mem();
    let root = Path::new("/data");
    let mut m = LogManager::open(Arc::clone(&s), root.to_path_buf()).unwrap();
    let log = m.get_or_create("t", 0, LogConfig::default(), 0).unwrap();
    for _ in 0..3 {
        log.lock().unwrap().append(&mut batch(2, 0), 0, 0).unwrap();
    }
    m.flush_all().unwrap();
    assert_eq!(m.recovery_points().get("t", 0), Some(6));
    assert!(m.truncate_to("t", 0, 2).unwrap());
    assert_eq!(m.recovery_points().get("t", 0), Some(2));
    assert!(!m.truncate_to("t", 0, 2).unwrap(), "at the log end");
    assert!(!m.truncate_to("absent", 0, 0).unwrap(), "a partition not open is skipped");
    m.truncate_fully_and_start_at("t", 0, 40).unwrap();
    assert_eq!(m.recovery_points().get("t", 0), Some(40));
    assert_eq!(log.lock().unwrap().log_end_offset(), 40);
    let again = checkpoint::RecoveryPoints::read(Arc::clone(&s), root).unwrap();
    assert_eq!(again.get("t", 0), Some(40));
}

/// Fetch everything from `fetch_offset` of `leader` and append it to `follower`, as a
/// replica fetcher would; the follower's log end offset after.
fn replicate(leader: &PartitionLog, follower: &mut PartitionLog) -> i64 {
    let fetch_offset = follower.log_end_offset();
    let data = leader.read(fetch_offset, u32::MAX).unwrap();
    if !data.is_empty() {
        follower.append_as_follower(&mut data.to_vec(), 0).unwrap();
    }
    follower.log_end_offset()
}

/// KIP-101/279 end to end on two logs: a follower with a divergent tail written as the old
/// leader asks the new leader where its latest epoch ends, truncates there, and catches up;
/// both logs are then byte for byte the same, epochs and producer state included.
#[test]
fn a_diverged_follower_truncates_by_epoch_and_converges_with_the_leader() {
    let (_, ls) = mem();
    let (_, fs) = mem();
    let one = batch(2, 0).len() as u64;
    let config = LogConfig { segment_bytes: one * 3, ..Default::default() };
    let mut leader = PartitionLog::open(ls, dir(), config.clone(), 0).unwrap();
    let mut follower = PartitionLog::open(fs, dir(), config.clone(), 0).unwrap();
    for seq in [0, 2, 4] {
        leader.append(&mut idem(1, 0, seq, 2), 1, 0).unwrap();
    }
    assert_eq!(replicate(&leader, &mut follower), 6);
    // The follower leads at epoch 2 for a while, and writes two batches no one else gets.
    follower.append(&mut idem(1, 0, 6, 2), 2, 0).unwrap();
    follower.append(&mut batch(3, 0), 2, 0).unwrap();
    // Meanwhile the other replica is elected at epoch 3 and takes the producer's retry.
    leader.assign_epoch_start(3).unwrap();
    leader.append(&mut idem(1, 0, 6, 2), 3, 0).unwrap();
    leader.append(&mut batch(5, 0), 3, 0).unwrap();

    let (epoch, end) = leader.end_offset_for_epoch(follower.leader_epochs().last().unwrap().epoch);
    assert_eq!((epoch, end), (1, 6), "epoch 2 is unknown to the leader: epoch 1 ends at 6");
    assert!(follower.truncate_to(end).unwrap());
    assert_eq!(replicate(&leader, &mut follower), leader.log_end_offset());
    assert_eq!(follower.read(0, u32::MAX).unwrap(), leader.read(0, u32::MAX).unwrap());
    assert_eq!(epochs(&follower), epochs(&leader));
    assert_eq!(epochs(&follower), [(1, 0), (3, 6)]);
    assert_eq!(follower.segment_base_offsets(), leader.segment_base_offsets());
    // Promoted again, the follower answers the producer's next retry as the leader would.
    let dup = follower.append(&mut idem(1, 0, 6, 2), 4, 0).unwrap();
    assert_eq!((dup.base_offset, dup.duplicate), (6, true));
}

//! The partition layer's contract: the high watermark is the minimum log end offset over the
//! ISR and never moves back, reads stop at it, and only the leader takes appends and reads.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;

use super::*;
use crate::internal_records::encode_batch;
use crate::log::LogConfig;
use crate::replica::{ReplicaManager, HIGH_WATERMARK_OFFSET};
use crate::storage::MemoryStorage;

const LOCAL: i32 = 1;
const NOW: i64 = 1_700_000_000_000;

fn new_log() -> SharedLog {
    let storage = Arc::new(MemoryStorage::new());
    let log = PartitionLog::open(storage, PathBuf::from("/data/t-0"), LogConfig::default(), NOW);
    Arc::new(Mutex::new(log.unwrap()))
}

fn leader(leader_epoch: i32) -> Partition {
    Partition::new_leader("t", 0, LOCAL, leader_epoch, new_log())
}

/// One batch of `records` one-byte records.
fn batch(records: usize) -> BytesMut {
    let entries: Vec<_> = (0..records).map(|_| (None, Some(Bytes::from_static(b"x")))).collect();
    encode_batch(&entries, NOW)
}

/// Appends one batch of `records` records; returns its base offset.
fn append(partition: &Partition, records: usize) -> i64 {
    partition.append_as_leader(&mut batch(records), NOW, false).unwrap().base_offset
}

fn produce(
    partition: &Partition,
    acks: i16,
    min_insync_replicas: i64,
) -> Result<AppendInfo, AppendRejection> {
    partition.append_records_to_leader(LeaderAppend {
        records: batch(1).freeze(),
        required_acks: acks,
        min_insync_replicas,
        policy: &AppendPolicy::default(),
        now_ms: NOW,
        inflate_limit: 1 << 20,
    })
}

fn isr(ids: &[i32]) -> BTreeSet<i32> {
    ids.iter().copied().collect()
}

#[test]
fn alone_in_the_isr_the_high_watermark_is_the_log_end_offset() {
    let partition = leader(0);
    assert_eq!((partition.high_watermark(), partition.log_end_offset()), (0, 0));
    append(&partition, 3);
    assert_eq!((partition.high_watermark(), partition.log_end_offset()), (3, 3));
    produce(&partition, -1, 1).unwrap();
    assert_eq!((partition.high_watermark(), partition.log_end_offset()), (4, 4));
    // A partition opened on a log that has data starts with its high watermark there.
    let log = new_log();
    log.lock().unwrap().append(&mut batch(2), 0, NOW).unwrap();
    assert_eq!(Partition::new_leader("t", 0, LOCAL, 0, log).high_watermark(), 2);
}

#[test]
fn the_high_watermark_is_the_smallest_log_end_offset_of_the_isr() {
    let partition = leader(0);
    append(&partition, 10);
    partition.make_leader(1, isr(&[LOCAL, 2, 3]));
    // Followers not heard from yet hold it where it is.
    assert_eq!(partition.high_watermark(), 10);
    append(&partition, 10);
    assert_eq!((partition.high_watermark(), partition.log_end_offset()), (10, 20));
    assert!(!partition.update_follower_fetch_state(2, 15).unwrap());
    assert_eq!(partition.high_watermark(), 10, "replica 3 is still unknown");
    assert!(partition.update_follower_fetch_state(3, 12).unwrap());
    assert_eq!(partition.high_watermark(), 12);
    assert!(partition.update_follower_fetch_state(3, 20).unwrap());
    assert_eq!(partition.high_watermark(), 15, "replica 2 is the slowest now");
    assert!(partition.update_follower_fetch_state(2, 20).unwrap());
    assert_eq!(partition.high_watermark(), 20, "capped by the leader's own log end offset");
}

#[test]
fn the_high_watermark_never_moves_back() {
    let partition = leader(0);
    append(&partition, 5);
    partition.make_leader(1, isr(&[LOCAL, 2]));
    append(&partition, 5);
    partition.update_follower_fetch_state(2, 8).unwrap();
    assert_eq!(partition.high_watermark(), 8);
    // A follower reporting less (it truncated), or an ISR changed under a new epoch, leaves the
    // high watermark where it was.
    assert!(!partition.update_follower_fetch_state(2, 6).unwrap());
    assert_eq!(partition.high_watermark(), 8);
    partition.make_leader(2, isr(&[LOCAL, 2, 3]));
    assert_eq!(partition.high_watermark(), 8);
    partition.make_leader(3, isr(&[LOCAL]));
    assert_eq!(partition.high_watermark(), 10, "alone in the ISR again: up to the log end");
}

#[test]
fn reads_stop_at_the_high_watermark_and_deletes_may_not_pass_it() {
    let partition = leader(0);
    append(&partition, 2);
    partition.make_leader(1, isr(&[LOCAL, 2]));
    append(&partition, 3);
    let log = partition.leader_log().unwrap();
    assert_eq!((log.high_watermark(), log.log_end_offset(), log.leader_epoch()), (2, 5, 1));
    let below = log.read(0, 1 << 20).unwrap();
    assert_eq!(below.len(), batch(2).len(), "only the batch below the high watermark");
    assert!(log.read(2, 1 << 20).unwrap().is_empty(), "offsets above it are not served yet");
    drop(log);
    let error = partition.delete_records_on_leader(3).unwrap_err();
    assert_eq!(error.error, ResponseError::OffsetOutOfRange);
    assert_eq!(partition.delete_records_on_leader(2).unwrap(), 2);
    assert_eq!(partition.log_start_offset(), 2);
}

#[test]
fn delete_records_to_the_high_watermark_sentinel() {
    let storage = Arc::new(MemoryStorage::new());
    let logs = crate::log::LogManager::open(storage, PathBuf::from("/data")).unwrap();
    let replicas = ReplicaManager::new(LOCAL, Arc::new(Mutex::new(logs)));
    let id = uuid::Uuid::from_u128(7);
    let partition = replicas.make_leader("t", 0, id, 0, LogConfig::default(), NOW).unwrap();
    append(&partition, 4);
    partition.make_leader(1, isr(&[LOCAL, 2]));
    append(&partition, 4);
    assert_eq!(replicas.delete_records("t", 0, HIGH_WATERMARK_OFFSET).unwrap(), 4);
    let unknown = replicas.delete_records("t", 1, HIGH_WATERMARK_OFFSET).unwrap_err();
    assert_eq!(unknown.error, ResponseError::UnknownTopicOrPartition);
    replicas.delete_partition("t", 0, id).unwrap();
    assert!(replicas.partition("t", 0).is_none());
}

#[test]
fn acks_all_needs_min_insync_replicas_in_the_isr() {
    let partition = leader(0);
    let refused = produce(&partition, -1, 2).unwrap_err();
    assert_eq!(refused.error.error, ResponseError::NotEnoughReplicas);
    assert!(refused.error.message.contains("current ISR (1)"), "{}", refused.error.message);
    assert_eq!(partition.log_end_offset(), 0, "nothing was appended");
    // acks=1 does not wait for the ISR; a larger ISR satisfies acks=all.
    produce(&partition, 1, 2).unwrap();
    partition.make_leader(1, isr(&[LOCAL, 2]));
    produce(&partition, -1, 2).unwrap();
    assert_eq!(partition.log_end_offset(), 2);
}

#[test]
fn appends_carry_the_leader_epoch() {
    let partition = leader(4);
    append(&partition, 1);
    partition.make_leader(6, BTreeSet::new());
    produce(&partition, 1, 1).unwrap();
    let records = partition.leader_log().unwrap().read(0, 1 << 20).unwrap();
    let epochs: Vec<i32> = (0..2)
        .map(|i| {
            let at = i * batch(1).len() + 12;
            i32::from_be_bytes(records[at..at + 4].try_into().unwrap())
        })
        .collect();
    assert_eq!(epochs, vec![4, 6]);
}

#[test]
fn a_follower_takes_no_client_appends_or_reads() {
    let partition = leader(0);
    append(&partition, 2);
    partition.make_follower(2, 1);
    assert_eq!(partition.role(), Role::Follower { leader_id: 2, leader_epoch: 1 });
    assert_eq!(partition.leader_epoch(), 1);
    let refused = produce(&partition, 1, 1).unwrap_err();
    assert_eq!(refused.error.error, ResponseError::NotLeaderOrFollower);
    let not_leader = |e: ApiError| assert_eq!(e.error, ResponseError::NotLeaderOrFollower);
    not_leader(partition.append_as_leader(&mut batch(1), NOW, false).unwrap_err());
    not_leader(partition.leader_log().err().unwrap());
    not_leader(partition.delete_records_on_leader(1).unwrap_err());
    not_leader(partition.update_follower_fetch_state(3, 2).unwrap_err());
    assert_eq!(partition.log_end_offset(), 2, "nothing was appended");
    partition.make_leader(2, BTreeSet::new());
    produce(&partition, 1, 1).unwrap();
    assert_eq!(partition.high_watermark(), 3);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "the leader epoch moved back")]
fn the_leader_epoch_never_moves_back() {
    leader(3).make_leader(2, BTreeSet::new());
}

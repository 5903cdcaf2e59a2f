//! The partition layer's contract: the high watermark is the minimum log end offset over the
//! ISR and never moves back, reads stop at it, and only the leader takes appends and reads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;

use uuid::Uuid;

use super::*;
use crate::internal_records::encode_batch;
use crate::log::LogConfig;
use crate::replica::{AlterPartitionManager, ReplicaManager, HIGH_WATERMARK_OFFSET};
use crate::storage::MemoryStorage;

const LOCAL: i32 = 1;
const NOW: i64 = 1_700_000_000_000;

fn new_log() -> SharedLog {
    let storage = Arc::new(MemoryStorage::new());
    let log = PartitionLog::open(storage, PathBuf::from("/data/t-0"), LogConfig::default(), NOW);
    Arc::new(Mutex::new(log.unwrap()))
}

const TOPIC_ID: Uuid = Uuid::from_u128(7);
/// The broker epoch of follower registrations here.
const FOLLOWER_EPOCH: i64 = 40;
/// `replica.lag.time.max.ms`.
const LAG: i64 = 30_000;

/// A partition on `log` led here at `leader_epoch`, alone in the ISR, with its own queue of ISR
/// proposals.
fn leader_on(log: SharedLog, leader_epoch: i32) -> Arc<Partition> {
    let manager = Arc::new(AlterPartitionManager::new());
    let partition =
        Arc::new(Partition::new("t", 0, TOPIC_ID, LOCAL, log, manager, Default::default(), None));
    assert!(partition.make_leader(&LeaderAndIsr::alone(LOCAL, leader_epoch), NOW));
    partition
}

fn leader(leader_epoch: i32) -> Arc<Partition> {
    leader_on(new_log(), leader_epoch)
}

/// The metadata's state of the partition: `replicas` assigned, `isr` in sync.
fn state(leader_epoch: i32, partition_epoch: i32, replicas: &[i32], isr: &[i32]) -> LeaderAndIsr {
    LeaderAndIsr { leader_epoch, partition_epoch, replicas: replicas.to_vec(), isr: isr.to_vec() }
}

/// Makes `partition` the leader with `replicas` all in sync, at partition epoch 0.
fn lead(partition: &Partition, leader_epoch: i32, replicas: &[i32]) {
    partition.make_leader(&state(leader_epoch, 0, replicas, replicas), NOW);
}

/// A follower's fetch at `offset` at broker time `now`, at its registered broker epoch.
fn fetch_at(
    partition: &Arc<Partition>,
    replica_id: i32,
    offset: i64,
    now_ms: i64,
) -> Result<FollowerFetch, ApiError> {
    partition.fetch_for_follower(&FollowerFetchRequest {
        replica_id,
        replica_epoch: FOLLOWER_EPOCH,
        fetch_offset: offset,
        last_fetched_epoch: -1,
        current_leader_epoch: -1,
        max_bytes: 1 << 20,
        now_ms,
        registration: Some(FollowerRegistration {
            broker_epoch: FOLLOWER_EPOCH,
            fenced: false,
            in_controlled_shutdown: false,
        }),
    })
}

/// Whether a follower's fetch at `offset` moved the high watermark.
fn fetch(partition: &Arc<Partition>, replica_id: i32, offset: i64) -> bool {
    fetch_at(partition, replica_id, offset, NOW).unwrap().high_watermark_moved
}

fn leader_state(partition: &Partition) -> LeaderState {
    match partition.role() {
        Role::Leader(leader) => leader,
        other => panic!("not the leader: {other:?}"),
    }
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
    assert_eq!(leader_on(log, 0).high_watermark(), 2);
}

#[test]
fn the_high_watermark_is_the_smallest_log_end_offset_of_the_isr() {
    let partition = leader(0);
    append(&partition, 10);
    lead(&partition, 1, &[LOCAL, 2, 3]);
    // Followers not heard from yet hold it where it is.
    assert_eq!(partition.high_watermark(), 10);
    append(&partition, 10);
    assert_eq!((partition.high_watermark(), partition.log_end_offset()), (10, 20));
    assert!(!fetch(&partition, 2, 15));
    assert_eq!(partition.high_watermark(), 10, "replica 3 is still unknown");
    assert!(fetch(&partition, 3, 12));
    assert_eq!(partition.high_watermark(), 12);
    assert!(fetch(&partition, 3, 20));
    assert_eq!(partition.high_watermark(), 15, "replica 2 is the slowest now");
    assert!(fetch(&partition, 2, 20));
    assert_eq!(partition.high_watermark(), 20, "capped by the leader's own log end offset");
}

#[test]
fn the_high_watermark_never_moves_back() {
    let partition = leader(0);
    append(&partition, 5);
    lead(&partition, 1, &[LOCAL, 2]);
    append(&partition, 5);
    fetch(&partition, 2, 8);
    assert_eq!(partition.high_watermark(), 8);
    // A follower reporting less (it truncated), or an ISR changed under a new epoch, leaves the
    // high watermark where it was.
    assert!(!fetch(&partition, 2, 6));
    assert_eq!(partition.high_watermark(), 8);
    lead(&partition, 2, &[LOCAL, 2, 3]);
    assert_eq!(partition.high_watermark(), 8);
    partition.make_leader(&state(3, 0, &[LOCAL, 2, 3], &[LOCAL]), NOW);
    assert_eq!(partition.high_watermark(), 10, "alone in the ISR again: up to the log end");
}

#[test]
fn reads_stop_at_the_high_watermark_and_deletes_may_not_pass_it() {
    let partition = leader(0);
    append(&partition, 2);
    lead(&partition, 1, &[LOCAL, 2]);
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
    let id = TOPIC_ID;
    let alone = LeaderAndIsr::alone(LOCAL, 0);
    let partition = replicas.make_leader("t", 0, id, &alone, LogConfig::default(), NOW).unwrap();
    append(&partition, 4);
    lead(&partition, 1, &[LOCAL, 2]);
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
    lead(&partition, 1, &[LOCAL, 2]);
    produce(&partition, -1, 2).unwrap();
    assert_eq!(partition.log_end_offset(), 2);
}

#[test]
fn appends_carry_the_leader_epoch() {
    let partition = leader(4);
    append(&partition, 1);
    partition.make_leader(&state(6, 0, &[LOCAL], &[]), NOW);
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
    not_leader(fetch_at(&partition, 3, 2, NOW).unwrap_err());
    assert_eq!(partition.log_end_offset(), 2, "nothing was appended");
    partition.make_leader(&LeaderAndIsr::alone(LOCAL, 2), NOW);
    produce(&partition, 1, 1).unwrap();
    assert_eq!(partition.high_watermark(), 3);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "the leader epoch moved back")]
fn the_leader_epoch_never_moves_back() {
    leader(3).make_leader(&LeaderAndIsr::alone(LOCAL, 2), NOW);
}

/// Kafka's `lastCaughtUpTimeMs`: a fetch at the leader's log end offset of this fetch is
/// caught up now, one at the leader's log end offset of the previous fetch is caught up as of
/// that fetch, anything else leaves it; an ISR member counts as caught up when its leader
/// starts.
#[test]
fn a_followers_caught_up_time_follows_its_fetches() {
    let partition = leader(0);
    append(&partition, 10);
    lead(&partition, 1, &[LOCAL, 2]);
    let caught_up = |p: &Partition| leader_state(p).followers[&2].last_caught_up_time_ms;
    assert_eq!(caught_up(&partition), NOW, "in the ISR when the epoch began");
    fetch_at(&partition, 2, 5, NOW + 100).unwrap();
    assert_eq!(caught_up(&partition), NOW, "behind the log end offset 10");
    append(&partition, 5);
    fetch_at(&partition, 2, 10, NOW + 200).unwrap();
    assert_eq!(
        caught_up(&partition),
        NOW + 100,
        "it has what the leader had at the previous fetch"
    );
    fetch_at(&partition, 2, 12, NOW + 300).unwrap();
    assert_eq!(caught_up(&partition), NOW + 100, "short of 15, the leader's end at the last fetch");
    fetch_at(&partition, 2, 15, NOW + 400).unwrap();
    assert_eq!(caught_up(&partition), NOW + 400, "all of the leader's log");
    let follower = &leader_state(&partition).followers[&2];
    assert_eq!(
        (follower.log_end_offset, follower.last_fetch_time_ms, follower.broker_epoch),
        (Some(15), NOW + 400, Some(FOLLOWER_EPOCH))
    );
}

/// Kafka's `maybeExpandIsr`: a follower outside the ISR joins once its log end offset reaches
/// the high watermark and the leader epoch's start offset, and only if its broker is eligible;
/// the proposal counts for the high watermark at once (maximal ISR) and goes to the controller
/// as one AlterPartition item; the controller's answer commits it.
#[test]
fn a_caught_up_follower_is_proposed_into_the_isr() {
    let partition = leader(0);
    // Replica 3 lags in the ISR; replica 2 is outside it.
    partition.make_leader(&state(0, 0, &[LOCAL, 2, 3], &[LOCAL, 3]), NOW);
    append(&partition, 10);
    partition.make_leader(&state(1, 0, &[LOCAL, 2, 3], &[LOCAL, 3]), NOW);
    assert_eq!(leader_state(&partition).leader_epoch_start_offset, 10);
    fetch(&partition, 3, 4);
    assert_eq!(partition.high_watermark(), 4);
    fetch(&partition, 2, 6);
    assert_eq!(leader_state(&partition).pending, None, "6 is before the epoch's start, 10");
    // Ineligible: a fenced broker, or a fetch at another broker epoch than registered.
    let mut request = FollowerFetchRequest {
        replica_id: 2,
        replica_epoch: FOLLOWER_EPOCH,
        fetch_offset: 10,
        last_fetched_epoch: -1,
        current_leader_epoch: 1,
        max_bytes: 1 << 20,
        now_ms: NOW,
        registration: Some(FollowerRegistration {
            broker_epoch: FOLLOWER_EPOCH,
            fenced: true,
            in_controlled_shutdown: false,
        }),
    };
    partition.fetch_for_follower(&request).unwrap();
    assert_eq!(leader_state(&partition).pending, None, "fenced");
    request.registration =
        Some(FollowerRegistration { fenced: false, ..request.registration.unwrap() });
    request.replica_epoch = FOLLOWER_EPOCH + 1;
    partition.fetch_for_follower(&request).unwrap();
    assert_eq!(leader_state(&partition).pending, None, "fetching at another broker epoch");
    request.replica_epoch = FOLLOWER_EPOCH - 1;
    let stale = partition.fetch_for_follower(&request).unwrap_err();
    assert_eq!(stale.error, ResponseError::NotLeaderOrFollower, "{}", stale.message);

    fetch(&partition, 2, 10);
    let pending = leader_state(&partition);
    let proposal = IsrProposal {
        leader_epoch: 1,
        partition_epoch: 0,
        new_isr_with_epochs: vec![(LOCAL, -1), (2, FOLLOWER_EPOCH), (3, FOLLOWER_EPOCH)],
        leader_recovery_state: 0,
    };
    assert_eq!(
        pending.pending,
        Some(PendingIsrChange::Expand { replica_id: 2, proposal: proposal.clone() })
    );
    assert_eq!(pending.isr, [LOCAL, 3].into(), "committed ISR unchanged until the controller says");
    assert_eq!(pending.maximal_isr(), [LOCAL, 2, 3].into());
    // The new member holds the high watermark at once.
    fetch(&partition, 3, 10);
    append(&partition, 5);
    fetch(&partition, 3, 15);
    assert_eq!(partition.high_watermark(), 10, "replica 2 is at 10");

    let manager = &partition.alter_partitions;
    let request = manager.take_pending_request(LOCAL, 99).expect("one proposal queued");
    assert_eq!((request.broker_id.0, request.broker_epoch), (LOCAL, 99));
    let sent = &request.topics[0];
    assert_eq!((sent.topic_id, sent.partitions.len()), (TOPIC_ID, 1));
    let sent = &sent.partitions[0];
    let isr: Vec<(i32, i64)> =
        sent.new_isr_with_epochs.iter().map(|b| (b.broker_id.0, b.broker_epoch)).collect();
    assert_eq!(isr, [(LOCAL, 99), (2, FOLLOWER_EPOCH), (3, FOLLOWER_EPOCH)]);
    assert_eq!((sent.leader_epoch, sent.partition_epoch, sent.partition_index), (1, 0, 0));
    assert!(manager.take_pending_request(LOCAL, 99).is_none(), "one request in flight");
    // No second change while one is pending.
    assert!(!partition.maybe_shrink_isr(NOW + 10 * LAG, LAG));

    manager.handle_response(&answer(0, &[LOCAL, 2, 3], 1, 0));
    let committed = leader_state(&partition);
    assert_eq!(
        (committed.isr, committed.partition_epoch, committed.pending),
        ([LOCAL, 2, 3].into(), 1, None)
    );
    assert!(manager.pending_items().is_empty());
}

/// An AlterPartition response for partition 0 of [`TOPIC_ID`] at leader epoch 1.
fn answer(
    error_code: i16,
    isr: &[i32],
    partition_epoch: i32,
    top_level_error: i16,
) -> kafka_protocol::messages::AlterPartitionResponse {
    use kafka_protocol::messages::alter_partition_response::{PartitionData, TopicData};
    use kafka_protocol::messages::BrokerId;
    kafka_protocol::messages::AlterPartitionResponse::default()
        .with_error_code(top_level_error)
        .with_topics(vec![TopicData::default().with_topic_id(TOPIC_ID).with_partitions(vec![
            PartitionData::default()
                .with_partition_index(0)
                .with_error_code(error_code)
                .with_leader_id(BrokerId(LOCAL))
                .with_leader_epoch(1)
                .with_isr(isr.iter().map(|id| BrokerId(*id)).collect())
                .with_partition_epoch(partition_epoch),
        ])])
}

/// Kafka's `maybeShrinkIsr`: an ISR member not caught up within `replica.lag.time.max.ms` is
/// proposed out; while pending it still counts for the high watermark and acks=all, and once
/// committed an acks=all append whose records the smaller ISR has gets
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND.
#[test]
fn a_lagging_follower_is_proposed_out_of_the_isr_after_the_lag_time() {
    let partition = leader(0);
    lead(&partition, 1, &[LOCAL, 2, 3]);
    append(&partition, 5);
    fetch_at(&partition, 3, 5, NOW + 1).unwrap();
    assert!(!partition.maybe_shrink_isr(NOW + LAG, LAG), "within the lag time");
    assert!(partition.maybe_shrink_isr(NOW + LAG + 1, LAG));
    let shrinking = leader_state(&partition);
    let Some(PendingIsrChange::Shrink { out_of_sync, proposal }) = &shrinking.pending else {
        panic!("no shrink pending: {shrinking:?}");
    };
    assert_eq!(out_of_sync, &[2].into(), "replica 3 has the leader's whole log");
    assert_eq!(proposal.new_isr_with_epochs, [(LOCAL, -1), (3, FOLLOWER_EPOCH)]);
    assert_eq!(shrinking.maximal_isr(), [LOCAL, 2, 3].into(), "2 counts until committed");
    assert_eq!(partition.high_watermark(), 0, "replica 2 still holds it");
    assert!(!partition.maybe_shrink_isr(NOW + 2 * LAG, LAG), "one change at a time");
    assert!(!partition.check_enough_replicas_reach_offset(5, 3).unwrap());

    let manager = &partition.alter_partitions;
    manager.take_pending_request(LOCAL, 99).unwrap();
    manager.handle_response(&answer(0, &[LOCAL, 3], 1, 0));
    assert_eq!(leader_state(&partition).isr, [LOCAL, 3].into());
    assert_eq!(partition.high_watermark(), 5, "the committed ISR has everything");
    let after = partition.check_enough_replicas_reach_offset(5, 3).unwrap_err();
    assert_eq!(after.error, ResponseError::NotEnoughReplicasAfterAppend, "{}", after.message);
    assert!(partition.check_enough_replicas_reach_offset(5, 2).unwrap());
    partition.make_follower(2, 2);
    let moved = partition.check_enough_replicas_reach_offset(5, 2).unwrap_err();
    assert_eq!(moved.error, ResponseError::NotLeaderOrFollower);
}

/// The controller's errors, as Kafka's `handleAlterPartitionError`: a top-level error or a
/// partition missing from the answer keeps the proposal queued; INVALID_UPDATE_VERSION (and
/// FENCED_LEADER_EPOCH, ...) keeps it pending until the metadata says; OPERATION_NOT_ATTEMPTED
/// drops it; an unexpected error sends it again. A dropped shrink never moves the high
/// watermark back.
#[test]
fn alter_partition_errors_keep_drop_or_resend_the_pending_change() {
    let partition = leader(0);
    lead(&partition, 1, &[LOCAL, 2]);
    append(&partition, 4);
    fetch(&partition, 2, 3);
    assert_eq!(partition.high_watermark(), 3);
    let manager = &partition.alter_partitions;
    let pending = |p: &Partition| leader_state(p).pending.is_some();

    assert!(partition.maybe_shrink_isr(NOW + LAG + 1, LAG));
    manager.take_pending_request(LOCAL, 99).unwrap();
    let stale = ResponseError::StaleBrokerEpoch.code();
    assert_eq!(
        manager.handle_response(&answer(0, &[LOCAL], 1, stale)),
        Some(ResponseError::StaleBrokerEpoch)
    );
    assert_eq!(manager.pending_items().len(), 1, "kept for a retry");
    manager.take_pending_request(LOCAL, 100).unwrap();
    manager.handle_response(&kafka_protocol::messages::AlterPartitionResponse::default());
    assert_eq!(manager.pending_items().len(), 1, "not in the answer: sent again");

    manager.take_pending_request(LOCAL, 100).unwrap();
    manager.handle_response(&answer(ResponseError::UnknownServerError.code(), &[], 0, 0));
    assert_eq!(manager.pending_items().len(), 1, "an unexpected error: queued again");
    assert!(pending(&partition));

    manager.take_pending_request(LOCAL, 100).unwrap();
    manager.handle_response(&answer(ResponseError::InvalidUpdateVersion.code(), &[], 0, 0));
    assert!(manager.pending_items().is_empty());
    assert!(pending(&partition), "pending until the metadata says what happened");
    assert!(!partition.maybe_shrink_isr(NOW + 2 * LAG, LAG));

    // The metadata's state (a newer partition epoch) replaces the pending change.
    assert!(partition.make_leader(&state(1, 1, &[LOCAL, 2], &[LOCAL, 2]), NOW + 2 * LAG));
    assert!(!pending(&partition));
    assert!(partition.maybe_shrink_isr(NOW + 4 * LAG, LAG));
    manager.take_pending_request(LOCAL, 100).unwrap();
    manager.handle_response(&answer(ResponseError::OperationNotAttempted.code(), &[], 0, 0));
    assert!(!pending(&partition), "the controller applied nothing: back to the committed ISR");
    assert_eq!(leader_state(&partition).isr, [LOCAL, 2].into());
    assert_eq!(partition.high_watermark(), 3, "never moved back");
}

/// Kafka's `IsrShrinksPerSec`/`IsrExpandsPerSec`: a proposal of this leader counts once when
/// committed, whether the controller's answer or the metadata brings the commit first (the
/// other then finds nothing pending); a refused proposal, a change the controller made on its
/// own and a proposal overtaken by a new leader epoch do not count.
#[test]
fn committed_isr_changes_are_counted_once_whichever_way_the_commit_arrives() {
    let partition = leader(0);
    lead(&partition, 1, &[LOCAL, 2, 3]);
    append(&partition, 5);
    fetch_at(&partition, 3, 5, NOW + 1).unwrap();
    let manager = &partition.alter_partitions;
    let counts = || (partition.isr_changes.shrinks(), partition.isr_changes.expands());

    // The answer first, then the same state through the metadata.
    assert!(partition.maybe_shrink_isr(NOW + LAG + 1, LAG));
    assert_eq!(counts(), (0, 0), "proposed, not committed");
    manager.take_pending_request(LOCAL, 99).unwrap();
    manager.handle_response(&answer(0, &[LOCAL, 3], 1, 0));
    assert_eq!(counts(), (1, 0));
    assert!(partition.make_leader(&state(1, 1, &[LOCAL, 2, 3], &[LOCAL, 3]), NOW + LAG + 2));
    assert_eq!(counts(), (1, 0), "the same commit again through the metadata");

    // The metadata first (a combined node), then the answer.
    fetch_at(&partition, 2, 5, NOW + LAG + 3).unwrap();
    assert!(matches!(leader_state(&partition).pending, Some(PendingIsrChange::Expand { .. })));
    assert!(partition.make_leader(&state(1, 2, &[LOCAL, 2, 3], &[LOCAL, 2, 3]), NOW + LAG + 4));
    assert_eq!(counts(), (1, 1));
    manager.take_pending_request(LOCAL, 99).unwrap();
    manager.handle_response(&answer(0, &[LOCAL, 2, 3], 2, 0));
    assert_eq!(counts(), (1, 1), "the answer to a proposal the metadata already committed");

    // Refused: nothing committed.
    let later = NOW + 3 * LAG;
    append(&partition, 1);
    fetch_at(&partition, 3, 6, later).unwrap();
    assert!(partition.maybe_shrink_isr(later, LAG), "replica 2 stopped fetching");
    manager.take_pending_request(LOCAL, 99).unwrap();
    manager.handle_response(&answer(ResponseError::OperationNotAttempted.code(), &[], 0, 0));
    assert_eq!(counts(), (1, 1));
    // The controller takes replica 3 out on its own (fenced) while this leader's shrink of
    // replica 2 is pending: not this leader's change.
    assert!(partition.maybe_shrink_isr(later + 1, LAG));
    assert!(partition.make_leader(&state(1, 3, &[LOCAL, 2, 3], &[LOCAL, 2]), later + 2));
    assert_eq!(counts(), (1, 1));
    manager.take_pending_request(LOCAL, 99).unwrap();
    manager.handle_response(&answer(0, &[LOCAL, 3], 3, 0));
    assert_eq!(counts(), (1, 1), "the answer to a proposal the metadata replaced");
    // A pending shrink overtaken by a new leader epoch with that very ISR: not committed by
    // this leader's proposal either.
    assert!(partition.maybe_shrink_isr(later + LAG + 10, LAG));
    assert!(partition.make_leader(&state(2, 4, &[LOCAL, 2, 3], &[LOCAL]), later + LAG + 11));
    assert_eq!(counts(), (1, 1));
}

/// The metadata's state reaches a partition this node leads: an older partition epoch is
/// ignored; a newer partition epoch at the same leader epoch takes the ISR and keeps the
/// followers' state; a new leader epoch resets their caught-up times and starts the epoch at
/// the log end offset; a new leader forgets their log end offsets.
#[test]
fn the_metadata_updates_the_leader_state() {
    let partition = leader(0);
    lead(&partition, 1, &[LOCAL, 2]);
    append(&partition, 6);
    fetch_at(&partition, 2, 6, NOW + 50).unwrap();
    assert!(partition.make_leader(&state(1, 3, &[LOCAL, 2, 3], &[LOCAL, 2]), NOW + 100));
    assert!(!partition.make_leader(&state(1, 2, &[LOCAL], &[LOCAL]), NOW + 100), "older");
    let same_epoch = leader_state(&partition);
    assert_eq!((same_epoch.partition_epoch, same_epoch.isr.clone()), (3, [LOCAL, 2].into()));
    assert_eq!(same_epoch.followers[&2].log_end_offset, Some(6));
    assert_eq!(same_epoch.followers[&2].last_caught_up_time_ms, NOW + 50);
    assert_eq!(same_epoch.followers[&3], FollowerState::EMPTY);
    assert_eq!(same_epoch.leader_epoch_start_offset, 0);

    append(&partition, 2);
    partition.make_leader(&state(2, 4, &[LOCAL, 2, 3], &[LOCAL, 3]), NOW + 200);
    let new_epoch = leader_state(&partition);
    assert_eq!(new_epoch.leader_epoch_start_offset, 8);
    let two = &new_epoch.followers[&2];
    assert_eq!(
        (two.log_end_offset, two.last_caught_up_time_ms, two.last_fetch_time_ms),
        (Some(6), 0, 0)
    );
    assert_eq!(new_epoch.followers[&3].last_caught_up_time_ms, NOW + 200, "in the ISR");
    assert_eq!(partition.read_log(|log| log.end_offset_for_epoch(2)), (2, 8));

    partition.make_follower(3, 3);
    partition.make_leader(&state(4, 5, &[LOCAL, 2, 3], &[LOCAL, 2, 3]), NOW + 300);
    let new_leader = leader_state(&partition);
    assert_eq!(new_leader.followers[&2].log_end_offset, None, "a new leader knows nothing yet");
    assert_eq!(new_leader.followers[&2].last_caught_up_time_ms, NOW + 300);
}

/// A follower's fetch checks its current leader epoch under the partition's lock, as Kafka.
#[test]
fn a_follower_fetch_checks_the_current_leader_epoch() {
    let partition = leader(0);
    lead(&partition, 3, &[LOCAL, 2]);
    let mut request = FollowerFetchRequest {
        replica_id: 2,
        replica_epoch: -1,
        fetch_offset: 0,
        last_fetched_epoch: -1,
        current_leader_epoch: 2,
        max_bytes: 1 << 20,
        now_ms: NOW,
        registration: None,
    };
    let error = |r: &FollowerFetchRequest| partition.fetch_for_follower(r).unwrap_err().error;
    assert_eq!(error(&request), ResponseError::FencedLeaderEpoch);
    request.current_leader_epoch = 4;
    assert_eq!(error(&request), ResponseError::UnknownLeaderEpoch);
    request.current_leader_epoch = 3;
    partition.fetch_for_follower(&request).unwrap();
    request.replica_id = 5;
    assert_eq!(error(&request), ResponseError::UnknownLeaderEpoch, "not an assigned replica");
    request.current_leader_epoch = -1;
    assert_eq!(error(&request), ResponseError::NotLeaderOrFollower);
    // A follower's epoch is checked before its role, as Kafka's `getLocalLog`.
    partition.make_follower(2, 5);
    request.current_leader_epoch = 4;
    assert_eq!(error(&request), ResponseError::FencedLeaderEpoch);
    request.current_leader_epoch = 5;
    assert_eq!(error(&request), ResponseError::NotLeaderOrFollower);
}

/// KIP-497's promise: from the moment a leader proposes a follower into the ISR until it learns
/// the outcome, the follower counts for the high watermark (the controller may already have
/// committed it). The same registration published again meanwhile (another record of a delta
/// touching the partition) must not drop the pending expansion: the high watermark would
/// advance without the follower, and electing it would lose committed records — the
/// simulator's seed 90 on three nodes.
#[test]
fn the_same_registration_again_keeps_a_pending_expansion_counted() {
    let partition = leader(0);
    partition.make_leader(&state(1, 0, &[LOCAL, 2, 3], &[LOCAL, 3]), NOW);
    append(&partition, 10);
    fetch(&partition, 3, 10);
    assert_eq!(partition.high_watermark(), 10);
    fetch(&partition, 2, 10);
    assert!(
        matches!(
            leader_state(&partition).pending,
            Some(PendingIsrChange::Expand { replica_id: 2, .. })
        ),
        "replica 2 proposed into the ISR"
    );
    partition.make_leader(&state(1, 0, &[LOCAL, 2, 3], &[LOCAL, 3]), NOW + 1);
    assert!(
        matches!(
            leader_state(&partition).pending,
            Some(PendingIsrChange::Expand { replica_id: 2, .. })
        ),
        "still pending after the same registration again"
    );
    append(&partition, 5);
    fetch(&partition, 3, 15);
    assert_eq!(partition.high_watermark(), 10, "replica 2 (at 10) still counts: the maximal ISR");
    // A newer registration without it is the controller's word: the proposal is over.
    partition.make_leader(&state(1, 1, &[LOCAL, 2, 3], &[LOCAL, 3]), NOW + 2);
    assert_eq!(leader_state(&partition).pending, None);
}

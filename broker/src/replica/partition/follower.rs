//! The follower side of [`Partition`], after Kafka's `Partition.makeFollower`,
//! `appendRecordsToFollowerOrFutureReplica` and `truncateTo`: what the replica fetcher does to
//! a partition this node follows. Every step checks, under the partition's lock, that this
//! replica still follows at the leader epoch the fetch was sent at, so a response that arrives
//! after a leadership change is dropped instead of written.

use super::{Partition, ReplicaState, Role};
use crate::log::manager::SharedLog;
use crate::log::{AppendInfo, LogError};

/// Where a follower fetches from next ([`Partition::follower_fetch_position`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerPosition {
    /// The leader this replica follows.
    pub leader_id: i32,
    /// The epoch of that leadership (the fetch's `current_leader_epoch`).
    pub leader_epoch: i32,
    /// The log end offset: the fetch offset.
    pub fetch_offset: i64,
    /// The latest epoch in the local leader-epoch cache, -1 with none.
    pub last_fetched_epoch: i32,
    /// The log start offset.
    pub log_start_offset: i64,
}

/// What a follower's step did, when this replica still follows at the epoch asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerUpdate {
    /// The log end offset afterwards.
    pub log_end_offset: i64,
    /// The follower's high watermark afterwards.
    pub high_watermark: i64,
}

/// Why a follower's step wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// This replica no longer follows at that leader epoch (a leadership change overtook the
    /// fetch), or its log moved since the fetch was sent: the response is stale.
    #[error("stale fetch response: {0}")]
    Stale(String),
    /// The log refused the step.
    #[error(transparent)]
    Log(#[from] LogError),
}

impl ReplicaState {
    /// The follower's high watermark after the leader's: `min(leader's, log end offset)`,
    /// never back (a truncation lowers it explicitly).
    fn update_follower_hw(&mut self, leader_high_watermark: i64, log_end_offset: i64) {
        let old = self.high_watermark;
        self.high_watermark = old.max(leader_high_watermark.min(log_end_offset));
        debug_assert!(self.high_watermark >= old, "the follower's high watermark moved back");
    }
}

impl Partition {
    /// This node as a follower of `leader_id` at `leader_epoch`, its high watermark at
    /// `high_watermark` (the checkpointed one) capped to the log.
    #[allow(clippy::too_many_arguments)]
    pub fn new_follower(
        topic: &str,
        partition: i32,
        topic_id: uuid::Uuid,
        local_replica_id: i32,
        leader_id: i32,
        leader_epoch: i32,
        high_watermark: i64,
        log: SharedLog,
        alter_partitions: std::sync::Arc<crate::replica::AlterPartitionManager>,
        isr_changes: std::sync::Arc<crate::replica::IsrChangeCounts>,
    ) -> Self {
        let made = Partition::new(
            topic,
            partition,
            topic_id,
            local_replica_id,
            log,
            alter_partitions,
            isr_changes,
            Some(high_watermark),
        );
        made.lock_state().role = Role::Follower { leader_id, leader_epoch };
        made
    }

    /// Where the fetcher fetches next, if this replica follows a leader; `None` as leader.
    pub fn follower_fetch_position(&self) -> Option<FollowerPosition> {
        let state = self.lock_state();
        let Role::Follower { leader_id, leader_epoch } = state.role else { return None };
        let log = self.lock_log();
        Some(FollowerPosition {
            leader_id,
            leader_epoch,
            fetch_offset: log.log_end_offset(),
            last_fetched_epoch: log.leader_epochs().last().map_or(-1, |e| e.epoch),
            log_start_offset: log.log_start_offset(),
        })
    }

    /// Checks that this replica follows at `leader_epoch` and its log ends at `fetch_offset`.
    fn check_follower(
        &self,
        state: &ReplicaState,
        leader_epoch: i32,
        log_end_offset: i64,
        fetch_offset: i64,
    ) -> Result<(), FollowerError> {
        let stale = |why: String| {
            Err(FollowerError::Stale(format!("{}-{}: {why}", self.topic, self.partition)))
        };
        match state.role {
            Role::Follower { leader_epoch: epoch, .. } if epoch == leader_epoch => {}
            ref role => {
                return stale(format!("fetched at leader epoch {leader_epoch}, now {role:?}"))
            }
        }
        if log_end_offset != fetch_offset {
            return stale(format!(
                "fetched from offset {fetch_offset}, the log now ends at {log_end_offset}"
            ));
        }
        Ok(())
    }

    /// A fetched partition's data on the follower (Kafka's `processPartitionData`): the
    /// leader's batches appended as they are (`PartitionLog::append_as_follower`), then the
    /// high watermark follows the leader's (`min(leader's, log end offset)`, never back) and
    /// the log start offset the leader's when it is higher (not past the high watermark).
    /// `fetch_offset` is the offset the fetch was sent from.
    pub fn append_records_to_follower(
        &self,
        leader_epoch: i32,
        fetch_offset: i64,
        records: &mut [u8],
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
        now_ms: i64,
    ) -> Result<(Option<AppendInfo>, FollowerUpdate), FollowerError> {
        let mut state = self.lock_state();
        let mut log = self.lock_log();
        self.check_follower(&state, leader_epoch, log.log_end_offset(), fetch_offset)?;
        let appended =
            if records.is_empty() { None } else { Some(log.append_as_follower(records, now_ms)?) };
        let log_end_offset = log.log_end_offset();
        state.update_follower_hw(leader_high_watermark, log_end_offset);
        if leader_log_start_offset > log.log_start_offset()
            && leader_log_start_offset <= state.high_watermark
        {
            log.delete_records_before(leader_log_start_offset)?;
        }
        debug_assert!(state.high_watermark <= log_end_offset, "follower HW above its log end");
        Ok((appended, FollowerUpdate { log_end_offset, high_watermark: state.high_watermark }))
    }

    /// The follower's truncation where its log diverged from the leader's (KIP-320): `truncate`
    /// (the log manager's `truncate_to` or `truncate_fully_and_start_at`, which checkpoint the
    /// lowered recovery point) runs under the partition's lock if this replica still follows at
    /// `leader_epoch` from `fetch_offset`; the high watermark comes down to the new log end
    /// offset if it is above.
    pub fn truncate_as_follower(
        &self,
        leader_epoch: i32,
        fetch_offset: i64,
        truncate: impl FnOnce() -> Result<(), LogError>,
    ) -> Result<FollowerUpdate, FollowerError> {
        let mut state = self.lock_state();
        let log_end_offset = self.lock_log().log_end_offset();
        self.check_follower(&state, leader_epoch, log_end_offset, fetch_offset)?;
        // The log's lock is released: the log manager takes it itself.
        truncate()?;
        let log_end_offset = self.lock_log().log_end_offset();
        state.high_watermark = state.high_watermark.min(log_end_offset);
        Ok(FollowerUpdate { log_end_offset, high_watermark: state.high_watermark })
    }

    /// The largest epoch not above `leader_epoch` in this replica's leader-epoch cache and
    /// where it ends (the follower's side of a truncation's `endOffsetForEpoch`).
    pub fn local_end_offset_for_epoch(&self, leader_epoch: i32) -> (i32, i64) {
        self.lock_log().end_offset_for_epoch(leader_epoch)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use bytes::{Bytes, BytesMut};

    use super::*;
    use crate::internal_records::encode_batch;
    use crate::log::{LogConfig, PartitionLog};
    use crate::storage::MemoryStorage;

    const NOW: i64 = 1_700_000_000_000;

    fn new_log(dir: &str) -> SharedLog {
        let storage = Arc::new(MemoryStorage::new());
        let log = PartitionLog::open(storage, PathBuf::from(dir), LogConfig::default(), NOW);
        Arc::new(Mutex::new(log.unwrap()))
    }

    /// A leader at epoch 3 with `batches` one-record batches, and its log's bytes.
    fn leader_with(batches: usize) -> (Partition, Bytes) {
        let log = new_log("/l/t-0");
        let leader = Partition::new(
            "t",
            0,
            uuid::Uuid::from_u128(1),
            1,
            log,
            Default::default(),
            Default::default(),
            None,
        );
        leader.make_leader(&crate::replica::LeaderAndIsr::alone(1, 3), NOW);
        for _ in 0..batches {
            let mut batch = encode_batch(&[(None, Some(Bytes::from_static(b"x")))], NOW);
            leader.append_as_leader(&mut batch, NOW, false).unwrap();
        }
        let bytes = leader.read_log(|log| log.read(0, u32::MAX).unwrap());
        (leader, bytes)
    }

    fn follower(high_watermark: i64) -> (Partition, SharedLog) {
        let log = new_log("/f/t-0");
        (
            Partition::new_follower(
                "t",
                0,
                uuid::Uuid::from_u128(1),
                2,
                1,
                3,
                high_watermark,
                log.clone(),
                Default::default(),
                Default::default(),
            ),
            log,
        )
    }

    fn append(
        follower: &Partition,
        epoch: i32,
        fetch_offset: i64,
        bytes: &[u8],
        leader_hw: i64,
        leader_log_start: i64,
    ) -> Result<FollowerUpdate, FollowerError> {
        let mut records = BytesMut::from(bytes);
        follower
            .append_records_to_follower(
                epoch,
                fetch_offset,
                &mut records,
                leader_hw,
                leader_log_start,
                NOW,
            )
            .map(|(_, update)| update)
    }

    #[test]
    fn a_follower_keeps_the_leaders_batches_and_follows_its_high_watermark() {
        let (_, bytes) = leader_with(3);
        let (follower, _) = follower(0);
        let start = follower.follower_fetch_position().unwrap();
        assert_eq!((start.leader_id, start.leader_epoch, start.fetch_offset), (1, 3, 0));
        assert_eq!(start.last_fetched_epoch, -1, "no epoch yet");
        let update = append(&follower, 3, 0, &bytes, 2, 0).unwrap();
        assert_eq!((update.log_end_offset, update.high_watermark), (3, 2));
        assert_eq!(follower.read_log(|log| log.read(0, u32::MAX).unwrap()), bytes, "as they are");
        assert_eq!(follower.follower_fetch_position().unwrap().last_fetched_epoch, 3);
        assert_eq!(append(&follower, 3, 3, &[], 1, 0).unwrap().high_watermark, 2, "never back");
        assert_eq!(append(&follower, 3, 3, &[], 10, 0).unwrap().high_watermark, 3, "capped");
        append(&follower, 3, 3, &[], 3, 2).unwrap();
        assert_eq!(follower.log_start_offset(), 2, "the log start follows the leader's");
        let refused = follower.leader_log().err().unwrap();
        assert_eq!(refused.error, kafka_protocol::ResponseError::NotLeaderOrFollower);
    }

    #[test]
    fn an_answer_overtaken_by_a_change_is_dropped() {
        let (_, bytes) = leader_with(2);
        let (follower, _) = follower(0);
        let stale =
            |r: Result<FollowerUpdate, FollowerError>| matches!(r, Err(FollowerError::Stale(_)));
        assert!(stale(append(&follower, 2, 0, &bytes, 2, 0)), "an older leader epoch");
        assert!(stale(append(&follower, 3, 1, &bytes, 2, 0)), "the log moved since the fetch");
        follower.make_leader(
            &crate::replica::LeaderAndIsr {
                leader_epoch: 4,
                partition_epoch: 4,
                replicas: vec![1, 2],
                isr: vec![2],
            },
            0,
        );
        assert!(stale(append(&follower, 3, 0, &bytes, 2, 0)), "now the leader");
        assert_eq!(follower.log_end_offset(), 0, "nothing written");
        assert_eq!(follower.follower_fetch_position(), None);
    }

    #[test]
    fn truncation_brings_the_high_watermark_down_and_a_checkpoint_is_capped() {
        let (_, bytes) = leader_with(3);
        let (follower, log) = follower(0);
        append(&follower, 3, 0, &bytes, 3, 0).unwrap();
        assert_eq!(follower.high_watermark(), 3);
        let update = follower
            .truncate_as_follower(3, 3, || log.lock().unwrap().truncate_to(1).map(|_| ()))
            .unwrap();
        assert_eq!((update.log_end_offset, update.high_watermark), (1, 1));
        let truncated = follower.truncate_as_follower(2, 1, || unreachable!("stale: not run"));
        assert!(matches!(truncated, Err(FollowerError::Stale(_))));

        let restarted = Partition::new_follower(
            "t",
            0,
            uuid::Uuid::from_u128(1),
            2,
            1,
            3,
            99,
            log,
            Default::default(),
            Default::default(),
        );
        assert_eq!(restarted.high_watermark(), 1, "a checkpoint above the log end is capped");
    }
}

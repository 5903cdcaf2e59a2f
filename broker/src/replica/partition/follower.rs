//! The follower side of [`Partition`], after Kafka's `Partition.makeFollower`,
//! `appendRecordsToFollowerOrFutureReplica` and `truncateTo`: what the replica fetcher does to
//! a partition this node follows. Every step checks, under the partition's lock, that this
//! replica still follows at the leader epoch the fetch was sent at, so a response that arrives
//! after a leadership change is dropped instead of written.

use std::sync::Mutex;

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
    /// `high_watermark` (the checkpointed one) capped at the log end offset.
    pub fn new_follower(
        topic: &str,
        partition: i32,
        local_replica_id: i32,
        leader_id: i32,
        leader_epoch: i32,
        high_watermark: i64,
        log: SharedLog,
    ) -> Self {
        let (start, end) = {
            let log = log.lock().expect("partition lock poisoned");
            (log.log_start_offset(), log.log_end_offset())
        };
        let high_watermark = high_watermark.clamp(start, end);
        Partition {
            topic: topic.to_owned(),
            partition,
            local_replica_id,
            state: Mutex::new(ReplicaState {
                role: Role::Follower { leader_id, leader_epoch },
                high_watermark,
            }),
            log,
        }
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

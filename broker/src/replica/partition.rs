//! [`Partition`]: one partition's log and its replica state, after Kafka's `Partition`.
//!
//! The replica state (role, leader epoch, ISR, followers' log end offsets, high watermark) sits
//! under one lock, taken before the log's own lock, so a leader-side append checks the role and
//! the ISR, appends with the leader epoch and moves the high watermark as one step, and a read
//! sees a high watermark that matches the log it reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;

use crate::error::ApiError;
use crate::log::manager::SharedLog;
use crate::log::validator::{self, AppendPolicy, RecordError, ValidationError};
use crate::log::{AppendInfo, PartitionLog};

/// What this replica is for its partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The leader: it takes appends and decides the high watermark.
    Leader(LeaderState),
    /// A follower of `leader_id` at `leader_epoch`: it refuses client appends and reads
    /// (NOT_LEADER_OR_FOLLOWER).
    Follower {
        /// The leader's node id.
        leader_id: i32,
        /// The epoch of that leadership.
        leader_epoch: i32,
    },
}

impl Role {
    /// The epoch of the current leadership, as leader or follower.
    pub fn leader_epoch(&self) -> i32 {
        match self {
            Role::Leader(leader) => leader.leader_epoch,
            Role::Follower { leader_epoch, .. } => *leader_epoch,
        }
    }
}

/// The leader's view of its replicas, as Kafka's leader keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderState {
    /// The leader epoch appends are stamped with.
    pub leader_epoch: i32,
    /// The in-sync replicas, this one included.
    pub isr: BTreeSet<i32>,
    /// The log end offset each follower last reported by fetching, by replica id. Empty on a
    /// single node; a member of the ISR missing here holds the high watermark where it is.
    pub follower_log_end_offsets: BTreeMap<i32, i64>,
}

/// The state under the partition's lock.
#[derive(Debug)]
struct ReplicaState {
    role: Role,
    high_watermark: i64,
}

/// One partition on this node: its log and its replica state. Handed out by
/// [`super::ReplicaManager`]; every client append, read, DeleteRecords and high-watermark
/// question goes through it.
pub struct Partition {
    topic: String,
    partition: i32,
    /// This node's replica id (`node.id`).
    local_replica_id: i32,
    /// Taken before `log`.
    state: Mutex<ReplicaState>,
    log: SharedLog,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No lock taken: a Debug print while the state is locked must not deadlock.
        f.debug_struct("Partition")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .finish_non_exhaustive()
    }
}

/// A client's Produce to one partition, as the leader checks and appends it.
#[derive(Debug)]
pub struct LeaderAppend<'a> {
    /// The request's record batches for this partition.
    pub records: Bytes,
    /// The request's `acks`: -1 (all) is refused below `min_insync_replicas`.
    pub required_acks: i16,
    /// The topic's `min.insync.replicas`.
    pub min_insync_replicas: i64,
    /// What the topic asks of its batches (`log::validator`).
    pub policy: &'a AppendPolicy,
    /// Broker time of the append.
    pub now_ms: i64,
    /// How far a compressed records section may inflate (`socket.request.max.bytes`).
    pub inflate_limit: usize,
}

/// Why a client's batches were not appended: an error, and for INVALID_TIMESTAMP the records
/// that caused it (ProduceResponse v8+ `record_errors`).
#[derive(Debug)]
pub struct AppendRejection {
    /// The error for the partition.
    pub error: ApiError,
    /// The records behind an INVALID_TIMESTAMP.
    pub record_errors: Vec<RecordError>,
}

impl From<ApiError> for AppendRejection {
    fn from(error: ApiError) -> Self {
        AppendRejection { error, record_errors: Vec::new() }
    }
}

/// The high watermark the ISR allows: the smallest log end offset among its members, the
/// leader's own (`leader_log_end_offset`) included; `None` while a member's is unknown. This is
/// the one place the high watermark is computed.
fn isr_high_watermark(
    leader: &LeaderState,
    local_replica_id: i32,
    leader_log_end_offset: i64,
) -> Option<i64> {
    leader
        .isr
        .iter()
        .map(|id| {
            if *id == local_replica_id {
                Some(leader_log_end_offset)
            } else {
                leader.follower_log_end_offsets.get(id).copied()
            }
        })
        .try_fold(i64::MAX, |min, leo| leo.map(|leo| min.min(leo)))
}

impl ReplicaState {
    /// Kafka's `maybeIncrementLeaderHW`: moves the high watermark up to what the ISR allows,
    /// never back. Returns whether it moved.
    fn maybe_increment_leader_hw(&mut self, local_replica_id: i32, log_end_offset: i64) -> bool {
        let Role::Leader(leader) = &self.role else { return false };
        let old = self.high_watermark;
        let moved = match isr_high_watermark(leader, local_replica_id, log_end_offset) {
            Some(hw) if hw > old => {
                self.high_watermark = hw;
                true
            }
            _ => false,
        };
        debug_assert!(self.high_watermark >= old, "the high watermark moved back from {old}");
        debug_assert!(
            self.high_watermark <= log_end_offset,
            "high watermark {} above the log end offset {log_end_offset}",
            self.high_watermark
        );
        moved
    }
}

impl Partition {
    /// This node as the partition's leader at `leader_epoch`, alone in the ISR. The high
    /// watermark starts at the log end offset: on a single node every appended offset is on
    /// the whole ISR (replication will start it from a checkpoint instead, as Kafka does).
    pub fn new_leader(
        topic: &str,
        partition: i32,
        local_replica_id: i32,
        leader_epoch: i32,
        log: SharedLog,
    ) -> Self {
        let high_watermark = log.lock().expect("partition lock poisoned").log_end_offset();
        let leader = LeaderState {
            leader_epoch,
            isr: BTreeSet::from([local_replica_id]),
            follower_log_end_offsets: BTreeMap::new(),
        };
        Partition {
            topic: topic.to_owned(),
            partition,
            local_replica_id,
            state: Mutex::new(ReplicaState { role: Role::Leader(leader), high_watermark }),
            log,
        }
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition index.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    fn lock_state(&self) -> MutexGuard<'_, ReplicaState> {
        self.state.lock().expect("partition state lock poisoned")
    }

    fn lock_log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().expect("partition lock poisoned")
    }

    /// This replica's role.
    pub fn role(&self) -> Role {
        self.lock_state().role.clone()
    }

    /// The current leader epoch, as leader or follower.
    pub fn leader_epoch(&self) -> i32 {
        self.lock_state().role.leader_epoch()
    }

    /// The high watermark: every offset below it is on the whole ISR.
    pub fn high_watermark(&self) -> i64 {
        self.lock_state().high_watermark
    }

    /// The log end offset: the offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.lock_log().log_end_offset()
    }

    /// The log start offset: the first offset still readable.
    pub fn log_start_offset(&self) -> i64 {
        self.lock_log().log_start_offset()
    }

    /// Read-only access to the log whatever the role (metrics, the coordinator's replay).
    /// Client reads go through [`Partition::leader_log`], which bounds them at the high
    /// watermark.
    pub fn read_log<T>(&self, read: impl FnOnce(&PartitionLog) -> T) -> T {
        read(&self.lock_log())
    }

    /// Makes this replica the leader at `leader_epoch` with `isr` (this replica is added if
    /// missing). Followers' log end offsets are forgotten until they fetch again, so the high
    /// watermark stays where it is until the ISR catches up.
    pub fn make_leader(&self, leader_epoch: i32, isr: BTreeSet<i32>) {
        let mut isr = isr;
        isr.insert(self.local_replica_id);
        let mut state = self.lock_state();
        debug_assert!(leader_epoch >= state.role.leader_epoch(), "the leader epoch moved back");
        state.role = Role::Leader(LeaderState {
            leader_epoch,
            isr,
            follower_log_end_offsets: BTreeMap::new(),
        });
        let mut log = self.lock_log();
        if let Err(e) = log.assign_epoch_start(leader_epoch) {
            // Derived from the log and rewritten at its next change; leading goes on.
            tracing::warn!(topic = self.topic, partition = self.partition, error = %e, "could not write the leader-epoch checkpoint");
        }
        let log_end_offset = log.log_end_offset();
        drop(log);
        state.maybe_increment_leader_hw(self.local_replica_id, log_end_offset);
    }

    /// Makes this replica a follower of `leader_id` at `leader_epoch`.
    pub fn make_follower(&self, leader_id: i32, leader_epoch: i32) {
        let mut state = self.lock_state();
        debug_assert!(leader_epoch >= state.role.leader_epoch(), "the leader epoch moved back");
        state.role = Role::Follower { leader_id, leader_epoch };
    }

    /// Records the log end offset a follower reported by fetching (Kafka's
    /// `updateFollowerFetchState`) and moves the high watermark if the ISR allows. Returns
    /// whether the high watermark moved; NOT_LEADER_OR_FOLLOWER unless this replica leads.
    pub fn update_follower_fetch_state(
        &self,
        replica_id: i32,
        log_end_offset: i64,
    ) -> Result<bool, ApiError> {
        let mut state = self.lock_state();
        let Role::Leader(leader) = &mut state.role else {
            return Err(self.not_leader(&state.role));
        };
        leader.follower_log_end_offsets.insert(replica_id, log_end_offset);
        let leader_log_end_offset = self.lock_log().log_end_offset();
        Ok(state.maybe_increment_leader_hw(self.local_replica_id, leader_log_end_offset))
    }

    fn not_leader(&self, role: &Role) -> ApiError {
        let why = match role {
            Role::Leader(_) => "it leads".to_owned(),
            Role::Follower { leader_id, leader_epoch } => {
                format!("node {leader_id} leads it at leader epoch {leader_epoch}")
            }
        };
        ApiError::new(
            ResponseError::NotLeaderOrFollower,
            format!(
                "this broker (node {}) is not the leader of {}-{}: {why}",
                self.local_replica_id, self.topic, self.partition
            ),
        )
    }

    /// On the leader only: runs `check` on the leader state, then `append` on the log with the
    /// leader epoch and what `check` gave, then moves the high watermark to what the ISR
    /// allows — also when the append failed, since a storage error can come after bytes
    /// reached the log.
    ///
    /// `check` runs under the partition's lock but before the log's, so what takes only the
    /// log's lock (retention, flushes, metrics) does not wait for validation, which can
    /// recompress; client reads, which take the partition's lock first, do.
    fn append_to_leader_log<C, T, E: From<ApiError>>(
        &self,
        check: impl FnOnce(&LeaderState) -> Result<C, E>,
        append: impl FnOnce(&mut PartitionLog, i32, C) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut state = self.lock_state();
        let Role::Leader(leader) = &state.role else {
            return Err(self.not_leader(&state.role).into());
        };
        let checked = check(leader)?;
        let leader_epoch = leader.leader_epoch;
        let mut log = self.lock_log();
        let result = append(&mut log, leader_epoch, checked);
        let log_end_offset = log.log_end_offset();
        drop(log);
        state.maybe_increment_leader_hw(self.local_replica_id, log_end_offset);
        result
    }

    /// A client's Produce on the leader (Kafka's `appendRecordsToLeader`): NOT_LEADER_OR_FOLLOWER
    /// unless this replica leads, NOT_ENOUGH_REPLICAS for acks=all while the ISR is smaller than
    /// `min.insync.replicas`, then the topic's checks and conversions (`log::validator`), the
    /// append with the leader epoch, and the high watermark.
    pub fn append_records_to_leader(
        &self,
        request: LeaderAppend<'_>,
    ) -> Result<AppendInfo, AppendRejection> {
        let (topic, partition) = (&self.topic, self.partition);
        let check = |leader: &LeaderState| {
            let isr = leader.isr.len() as i64;
            let min_insync = request.min_insync_replicas;
            if request.required_acks == -1 && isr < min_insync {
                return Err(AppendRejection::from(ApiError::new(
                    ResponseError::NotEnoughReplicas,
                    format!(
                        "The size of the current ISR ({isr}) is insufficient to satisfy the \
                         min.isr requirement of {min_insync} for partition {topic}-{partition}"
                    ),
                )));
            }
            let LeaderAppend { records, policy, now_ms, inflate_limit, .. } = &request;
            if records.is_empty() {
                return Err(ApiError::new(
                    ResponseError::InvalidRecord,
                    "produce request carries no record batch",
                )
                .into());
            }
            validator::validate(records, policy, *now_ms, *inflate_limit).map_err(|e| match e {
                ValidationError::Log(e) => AppendRejection::from(ApiError::from(e)),
                ValidationError::InvalidTimestamp(record_errors) => AppendRejection {
                    error: ApiError::new(
                        ResponseError::InvalidTimestamp,
                        "One or more records have been rejected due to invalid timestamp",
                    ),
                    record_errors,
                },
            })
        };
        let append = |log: &mut PartitionLog, leader_epoch, validated: validator::Validated| {
            let mut batches = match validated.records {
                Some(converted) => BytesMut::from(&converted[..]),
                None => BytesMut::from(&request.records[..]),
            };
            let mut info =
                log.append(&mut batches, leader_epoch, request.now_ms).map_err(ApiError::from)?;
            if validated.log_append_time_ms != -1 {
                // A duplicate reports the time its original was appended at, as in Kafka.
                info.log_append_time_ms =
                    if info.duplicate { info.max_timestamp } else { validated.log_append_time_ms };
            }
            Ok(info)
        };
        self.append_to_leader_log(check, append)
    }

    /// Appends batches the broker wrote itself (the group coordinator's `__consumer_offsets`
    /// records) on the leader, with the leader epoch; with `flush`, they are on disk before
    /// this returns. No client checks: the coordinator's records are valid by construction.
    pub fn append_as_leader(
        &self,
        records: &mut [u8],
        now_ms: i64,
        flush: bool,
    ) -> Result<AppendInfo, ApiError> {
        self.append_to_leader_log(
            |_| Ok(()),
            |log, leader_epoch, ()| {
                let info = log.append(records, leader_epoch, now_ms)?;
                if flush {
                    log.flush()?;
                }
                Ok(info)
            },
        )
    }

    /// The leader's log for a client read, with the high watermark and leader epoch of this
    /// moment; NOT_LEADER_OR_FOLLOWER unless this replica leads. Holds the log's lock until
    /// dropped, so nothing is appended or deleted while it is read.
    pub fn leader_log(&self) -> Result<LeaderLog<'_>, ApiError> {
        let state = self.lock_state();
        let Role::Leader(leader) = &state.role else {
            return Err(self.not_leader(&state.role));
        };
        let leader_epoch = leader.leader_epoch;
        let high_watermark = state.high_watermark;
        // The log's lock is taken before the state's is released: no append or DeleteRecords
        // can slip in between, so the two agree.
        let log = self.lock_log();
        drop(state);
        debug_assert!(
            high_watermark <= log.log_end_offset(),
            "{}-{}: high watermark {high_watermark} above the log end offset",
            self.topic,
            self.partition
        );
        // Invariant: the high watermark never falls below the log start offset.
        debug_assert!(
            high_watermark >= log.log_start_offset(),
            "{}-{}: high watermark {high_watermark} below the log start offset",
            self.topic,
            self.partition
        );
        Ok(LeaderLog { log, leader_epoch, high_watermark })
    }

    /// A follower's fetch on the leader (Kafka's `Partition.fetchRecords` for a replica): first
    /// the KIP-320 check — a `last_fetched_epoch` the leader's log does not end the same way
    /// at `fetch_offset` answers the diverging epoch and its end offset, which the follower
    /// truncates to, and nothing else —, then OFFSET_OUT_OF_RANGE outside the log, then the
    /// follower's log end offset (its fetch offset) is recorded, which may advance the high
    /// watermark, and batches are read up to the log end offset (followers read past the high
    /// watermark). NOT_LEADER_OR_FOLLOWER unless this replica leads.
    pub fn fetch_for_follower(
        &self,
        replica_id: i32,
        fetch_offset: i64,
        last_fetched_epoch: i32,
        max_bytes: u32,
    ) -> Result<FollowerFetch, ApiError> {
        let mut state = self.lock_state();
        let Role::Leader(leader) = &mut state.role else {
            return Err(self.not_leader(&state.role));
        };
        let log = self.lock_log();
        if last_fetched_epoch >= 0 {
            let (epoch, end_offset) = log.end_offset_for_epoch(last_fetched_epoch);
            if epoch < last_fetched_epoch || end_offset < fetch_offset {
                return Ok(FollowerFetch {
                    records: Bytes::new(),
                    high_watermark: state.high_watermark,
                    high_watermark_moved: false,
                    log_start_offset: log.log_start_offset(),
                    diverging_epoch: Some((epoch, end_offset)),
                });
            }
        }
        let (start, end) = (log.log_start_offset(), log.log_end_offset());
        if fetch_offset < start || fetch_offset > end {
            return Err(ApiError::new(
                ResponseError::OffsetOutOfRange,
                format!(
                    "{}-{}: replica {replica_id} fetches offset {fetch_offset}, outside the log \
                     [{start}, {end})",
                    self.topic, self.partition
                ),
            ));
        }
        leader.follower_log_end_offsets.insert(replica_id, fetch_offset);
        let high_watermark_moved = state.maybe_increment_leader_hw(self.local_replica_id, end);
        let records = log.read(fetch_offset, max_bytes)?;
        Ok(FollowerFetch {
            records,
            high_watermark: state.high_watermark,
            high_watermark_moved,
            log_start_offset: start,
            diverging_epoch: None,
        })
    }

    /// DeleteRecords on the leader: moves the log start offset to `offset`, which may not
    /// pass the high watermark (OFFSET_OUT_OF_RANGE); returns the new log start offset.
    pub fn delete_records_on_leader(&self, offset: i64) -> Result<i64, ApiError> {
        let state = self.lock_state();
        if !matches!(state.role, Role::Leader(_)) {
            return Err(self.not_leader(&state.role));
        }
        let high_watermark = state.high_watermark;
        if offset > high_watermark {
            return Err(ApiError::new(
                ResponseError::OffsetOutOfRange,
                format!(
                    "{}-{}: cannot delete records before offset {offset}: it is above the high \
                     watermark {high_watermark}",
                    self.topic, self.partition
                ),
            ));
        }
        let log_start_offset = self.lock_log().delete_records_before(offset)?;
        debug_assert!(log_start_offset <= high_watermark, "log start passed the high watermark");
        Ok(log_start_offset)
    }
}

/// What a follower's fetch returns ([`Partition::fetch_for_follower`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerFetch {
    /// Whole batches from the fetch offset, up to the log end offset.
    pub records: Bytes,
    /// The leader's high watermark after recording the follower's position.
    pub high_watermark: i64,
    /// Whether recording the follower's position advanced the high watermark.
    pub high_watermark_moved: bool,
    /// The leader's log start offset.
    pub log_start_offset: i64,
    /// `(epoch, end offset)` to truncate to when the follower's log diverged (KIP-320).
    pub diverging_epoch: Option<(i32, i64)>,
}

/// The leader's log locked for a client read (Fetch, ListOffsets, OffsetForLeaderEpoch), with
/// the high watermark and leader epoch read with it.
pub struct LeaderLog<'a> {
    log: MutexGuard<'a, PartitionLog>,
    leader_epoch: i32,
    high_watermark: i64,
}

impl LeaderLog<'_> {
    /// The leader epoch.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The log start offset.
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// The log end offset.
    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// A consumer's read: whole batches from the one holding `fetch_offset`, up to `max_bytes`
    /// (at least one batch, KIP-74), none starting at or above the high watermark.
    pub fn read(&self, fetch_offset: i64, max_bytes: u32) -> Result<Bytes, ApiError> {
        Ok(self.log.read_until(fetch_offset, max_bytes, self.high_watermark)?)
    }

    /// OffsetForLeaderEpoch: the largest epoch not above `leader_epoch` and where it ends, from
    /// the log's leader-epoch cache; `(-1, -1)` for an epoch above every known one.
    pub fn end_offset_for_epoch(&self, leader_epoch: i32) -> (i32, i64) {
        self.log.end_offset_for_epoch(leader_epoch)
    }

    /// The log itself, for lookups by timestamp.
    pub fn log(&self) -> &PartitionLog {
        &self.log
    }
}

mod follower;
pub use follower::{FollowerError, FollowerPosition, FollowerUpdate};

#[cfg(test)]
mod tests;

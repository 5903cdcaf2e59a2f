//! [`Partition`]: one partition's log and its replica state, after Kafka's `Partition`.
//!
//! The replica state (role, leader and partition epochs, the ISR and a pending change of it,
//! the followers' fetch state, the high watermark) sits under one lock, taken before the log's
//! own lock, so a leader-side append checks the role and the ISR, appends with the leader epoch
//! and moves the high watermark as one step, and a read sees a high watermark that matches the
//! log it reads. Every change a producer waiting for acks=all could care about (the high
//! watermark, the ISR, the role) bumps the partition's change counter (`changes`), which
//! `delayed_produce` waits on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::alter_partition::{
    AlterPartitionItem, AlterPartitionManager, CommittedIsr, IsrProposal,
};
use super::IsrChangeCounts;
use crate::error::ApiError;
use crate::log::manager::SharedLog;
use crate::log::validator::{self, AppendPolicy, RecordError, ValidationError};
use crate::log::{AppendInfo, PartitionLog};
use crate::metadata::PartitionImage;

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
    /// The replica's log dir failed (Kafka's `HostedPartition.Offline`): every request for it
    /// gets KAFKA_STORAGE_ERROR and no metadata change gives it a role again until the broker
    /// restarts, as Kafka does.
    Offline {
        /// The leader epoch it had when its log dir failed.
        leader_epoch: i32,
    },
}

impl Role {
    /// The epoch of the current leadership, as leader or follower (or when the log dir failed).
    pub fn leader_epoch(&self) -> i32 {
        match self {
            Role::Leader(leader) => leader.leader_epoch,
            Role::Follower { leader_epoch, .. } | Role::Offline { leader_epoch } => *leader_epoch,
        }
    }
}

/// The partition's state as the metadata gives it to its leader (Kafka's
/// `LeaderAndIsrPartitionState`, from the `PartitionImage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAndIsr {
    /// The leader epoch.
    pub leader_epoch: i32,
    /// The partition epoch: bumped by every change of the partition.
    pub partition_epoch: i32,
    /// The assigned replicas.
    pub replicas: Vec<i32>,
    /// The committed ISR.
    pub isr: Vec<i32>,
}

impl LeaderAndIsr {
    /// The state a partition's metadata records.
    pub fn from_image(partition: &PartitionImage) -> Self {
        LeaderAndIsr {
            leader_epoch: partition.leader_epoch,
            partition_epoch: partition.partition_epoch,
            replicas: partition.replicas.clone(),
            isr: partition.isr.clone(),
        }
    }

    /// This replica alone: a single node's partition at `leader_epoch`.
    pub fn alone(local_replica_id: i32, leader_epoch: i32) -> Self {
        LeaderAndIsr {
            leader_epoch,
            partition_epoch: 0,
            replicas: vec![local_replica_id],
            isr: vec![local_replica_id],
        }
    }
}

/// A follower as its leader tracks it (Kafka's `Replica` and `ReplicaState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerState {
    /// Its log end offset: the offset of its last fetch; `None` until it fetches under this
    /// leader.
    pub log_end_offset: Option<i64>,
    /// The leader's log end offset when it fetched last (-1 unknown): a fetch reaching it
    /// means the follower was caught up at that earlier fetch.
    pub last_fetch_leader_log_end_offset: i64,
    /// When it fetched last (broker time, ms; 0 never).
    pub last_fetch_time_ms: i64,
    /// The latest time it was known to have the leader's whole log (0 never): what the ISR
    /// shrink checks against `replica.lag.time.max.ms`.
    pub last_caught_up_time_ms: i64,
    /// The broker epoch its last fetch carried (`ReplicaState.replica_epoch`, -1 unknown).
    pub broker_epoch: Option<i64>,
}

impl FollowerState {
    const EMPTY: FollowerState = FollowerState {
        log_end_offset: None,
        last_fetch_leader_log_end_offset: 0,
        last_fetch_time_ms: 0,
        last_caught_up_time_ms: 0,
        broker_epoch: None,
    };

    /// Kafka's `isCaughtUp`: it has the leader's log end offset, or had it within `max_lag_ms`.
    pub fn is_caught_up(&self, leader_log_end_offset: i64, now_ms: i64, max_lag_ms: i64) -> bool {
        self.log_end_offset == Some(leader_log_end_offset)
            || now_ms - self.last_caught_up_time_ms <= max_lag_ms
    }

    /// Kafka's `updateFetchStateOrThrow` (the broker-epoch fencing is the caller's): a fetch at
    /// `fetch_offset` reaching the leader's log end offset of this fetch makes it caught up now,
    /// one reaching that of its previous fetch makes it caught up as of that fetch.
    fn record_fetch(
        &mut self,
        fetch_offset: i64,
        now_ms: i64,
        leader_log_end_offset: i64,
        broker_epoch: i64,
    ) {
        let caught_up_at = if fetch_offset >= leader_log_end_offset {
            now_ms
        } else if fetch_offset >= self.last_fetch_leader_log_end_offset {
            self.last_fetch_time_ms
        } else {
            self.last_caught_up_time_ms
        };
        self.last_caught_up_time_ms = self.last_caught_up_time_ms.max(caught_up_at);
        self.log_end_offset = Some(fetch_offset);
        self.last_fetch_leader_log_end_offset =
            self.last_fetch_leader_log_end_offset.max(leader_log_end_offset);
        self.last_fetch_time_ms = now_ms;
        self.broker_epoch = Some(broker_epoch);
    }

    /// Kafka's `resetReplicaState` at a new leader epoch: an ISR member counts as caught up
    /// now, any other as never; a new leader knows nothing of the followers' logs yet.
    fn reset(&mut self, now_ms: i64, leader_log_end_offset: i64, new_leader: bool, in_isr: bool) {
        let caught_up = if in_isr { now_ms } else { 0 };
        *self = if new_leader {
            FollowerState {
                last_fetch_leader_log_end_offset: -1,
                last_caught_up_time_ms: caught_up,
                ..FollowerState::EMPTY
            }
        } else {
            FollowerState {
                last_fetch_leader_log_end_offset: leader_log_end_offset,
                // Not brought back into the ISR before it fetches again.
                last_fetch_time_ms: caught_up,
                last_caught_up_time_ms: caught_up,
                ..self.clone()
            }
        };
    }
}

/// An ISR change sent to the controller and not answered yet (Kafka's `PendingExpandIsr` and
/// `PendingShrinkIsr`); one at a time per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingIsrChange {
    /// `replica_id` proposed into the ISR: it counts for the high watermark at once (a larger
    /// ISR is only stricter).
    Expand {
        /// The follower added.
        replica_id: i32,
        /// What was sent.
        proposal: IsrProposal,
    },
    /// `out_of_sync` proposed out of the ISR: they still count until the controller commits it
    /// (counting them less could advance the high watermark wrongly if it refuses).
    Shrink {
        /// The followers removed.
        out_of_sync: BTreeSet<i32>,
        /// What was sent.
        proposal: IsrProposal,
    },
}

impl PendingIsrChange {
    /// What was sent to the controller.
    pub fn proposal(&self) -> &IsrProposal {
        match self {
            PendingIsrChange::Expand { proposal, .. }
            | PendingIsrChange::Shrink { proposal, .. } => proposal,
        }
    }
}

/// The leader's view of its replicas, as Kafka's leader keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderState {
    /// The leader epoch appends are stamped with.
    pub leader_epoch: i32,
    /// The partition epoch of the committed state (AlterPartition's compare-and-set).
    pub partition_epoch: i32,
    /// The log end offset when this leader epoch began: a follower joins the ISR only once it
    /// has everything before it.
    pub leader_epoch_start_offset: i64,
    /// The assigned replicas, this one included.
    pub replicas: Vec<i32>,
    /// The committed in-sync replicas, this one included.
    pub isr: BTreeSet<i32>,
    /// The leader recovery state (0 recovered).
    pub leader_recovery_state: i8,
    /// The ISR change waiting for the controller, if any.
    pub pending: Option<PendingIsrChange>,
    /// Each other assigned replica's fetch state, by replica id.
    pub followers: BTreeMap<i32, FollowerState>,
}

impl LeaderState {
    /// Kafka's maximal ISR: the committed ISR plus a pending addition (a pending removal still
    /// counts its replicas). The high watermark and acks=all wait for all of it.
    pub fn maximal_isr(&self) -> BTreeSet<i32> {
        let mut isr = self.isr.clone();
        if let Some(PendingIsrChange::Expand { replica_id, .. }) = &self.pending {
            isr.insert(*replica_id);
        }
        isr
    }
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
    topic_id: Uuid,
    /// This node's replica id (`node.id`).
    local_replica_id: i32,
    /// Taken before `log`.
    state: Mutex<ReplicaState>,
    log: SharedLog,
    /// Where ISR proposals go.
    alter_partitions: Arc<AlterPartitionManager>,
    /// Where committed proposals are counted (the node's `IsrExpandsPerSec`/`IsrShrinksPerSec`).
    isr_changes: Arc<IsrChangeCounts>,
    /// Notified at every change of the high watermark, the ISR or the role. A `Notify`, not a
    /// `watch`: tokio's watch spreads its waiters over slots chosen by an unseeded RNG, so the
    /// order in which waiting Produces complete would differ between simulated runs.
    changes: tokio::sync::Notify,
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

/// A follower's Fetch of one partition, as the leader serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerFetchRequest {
    /// The follower's replica id.
    pub replica_id: i32,
    /// The broker epoch the fetch carries (`ReplicaState.replica_epoch`, -1 unknown).
    pub replica_epoch: i64,
    /// The follower's log end offset.
    pub fetch_offset: i64,
    /// The epoch of the follower's last batch (-1 none: no divergence check).
    pub last_fetched_epoch: i32,
    /// The leader epoch the follower knows (-1 unchecked).
    pub current_leader_epoch: i32,
    /// Most bytes to return (the first batch comes whole).
    pub max_bytes: u32,
    /// Broker time of the fetch.
    pub now_ms: i64,
    /// The follower's broker registration in the metadata, if it is registered.
    pub registration: Option<FollowerRegistration>,
}

/// What the metadata says of a follower's broker, for fencing its fetches and ISR eligibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerRegistration {
    /// The broker epoch of its registration.
    pub broker_epoch: i64,
    /// Fenced: it may not join an ISR.
    pub fenced: bool,
    /// In controlled shutdown: it may not join an ISR.
    pub in_controlled_shutdown: bool,
}

/// Kafka's check of a request's current leader epoch against the partition's: -1 is unchecked,
/// an older one is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
pub fn check_leader_epoch(requested: i32, current: i32) -> Result<(), ApiError> {
    match requested {
        -1 => Ok(()),
        r if r > current => Err(ApiError::new(
            ResponseError::UnknownLeaderEpoch,
            format!("leader epoch {r} is newer than the current {current}"),
        )),
        r if r < current => Err(ApiError::new(
            ResponseError::FencedLeaderEpoch,
            format!("leader epoch {r} is older than the current {current}"),
        )),
        _ => Ok(()),
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

/// The high watermark the ISR allows: the smallest log end offset among the maximal ISR's
/// members, the leader's own (`leader_log_end_offset`) included; `None` while a member's is
/// unknown. This is the one place the high watermark is computed.
fn isr_high_watermark(
    leader: &LeaderState,
    local_replica_id: i32,
    leader_log_end_offset: i64,
) -> Option<i64> {
    leader
        .maximal_isr()
        .iter()
        .map(|id| {
            if *id == local_replica_id {
                Some(leader_log_end_offset)
            } else {
                leader.followers.get(id).and_then(|f| f.log_end_offset)
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
    /// The partition's replica on this node, not leading yet ([`Partition::make_leader`] or
    /// [`Partition::make_follower`] gives it its role). The high watermark starts at the log
    /// end offset: on a single node every appended offset is on the whole ISR (replication
    /// will start it from a checkpoint instead, as Kafka does).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        topic: &str,
        partition: i32,
        topic_id: Uuid,
        local_replica_id: i32,
        log: SharedLog,
        alter_partitions: Arc<AlterPartitionManager>,
        isr_changes: Arc<IsrChangeCounts>,
        checkpointed_high_watermark: Option<i64>,
    ) -> Self {
        // The checkpointed high watermark (`replication-offset-checkpoint`), capped to the log;
        // without one, the log end offset, as the single node has always started. A leader
        // alone in its ISR moves it to its log end offset at once; one with followers holds it
        // until they have fetched, so a restart never exposes unreplicated records.
        let high_watermark = {
            let log = log.lock().expect("partition lock poisoned");
            let (start, end) = (log.log_start_offset(), log.log_end_offset());
            checkpointed_high_watermark.map_or(end, |hw| hw.clamp(start, end))
        };
        Partition {
            topic: topic.to_owned(),
            partition,
            topic_id,
            local_replica_id,
            state: Mutex::new(ReplicaState {
                role: Role::Follower { leader_id: -1, leader_epoch: -1 },
                high_watermark,
            }),
            log,
            alter_partitions,
            isr_changes,
            changes: tokio::sync::Notify::new(),
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

    /// The topic's id.
    pub fn topic_id(&self) -> Uuid {
        self.topic_id
    }

    fn lock_state(&self) -> MutexGuard<'_, ReplicaState> {
        self.state.lock().expect("partition state lock poisoned")
    }

    fn lock_log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().expect("partition lock poisoned")
    }

    /// Wakes whoever waits on [`Partition::changed_notified`], in the order they began.
    fn changed(&self) {
        self.changes.notify_waiters();
    }

    /// Completes at the next change of the high watermark, the ISR or the role. Pin and
    /// `enable` it before checking, so no change between the check and the wait is missed.
    pub fn changed_notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.changes.notified()
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

    /// Kafka's `makeLeader` from the metadata's `state`: ignored (false) when it is older than
    /// the partition epoch this leader already has; otherwise the assignment and the committed
    /// ISR are taken (this replica added if missing) and a pending ISR change is dropped —
    /// unless `state` is the registration this leader already has. At a
    /// new leader epoch the epoch starts at the log end offset and the followers' state is
    /// reset (an ISR member counts as caught up now; a new leader forgets their log end
    /// offsets, so the high watermark stays where it is until they fetch).
    pub fn make_leader(&self, state: &LeaderAndIsr, now_ms: i64) -> bool {
        let mut replica_state = self.lock_state();
        let previous = match &replica_state.role {
            Role::Leader(leader) if state.partition_epoch < leader.partition_epoch => {
                tracing::info!(
                    topic = self.topic,
                    partition = self.partition,
                    "skipped the become-leader change to partition epoch {}: already at {}",
                    state.partition_epoch,
                    leader.partition_epoch
                );
                return false;
            }
            Role::Leader(leader) => Some(leader),
            Role::Follower { .. } => None,
            Role::Offline { .. } => return false,
        };
        debug_assert!(
            state.leader_epoch >= replica_state.role.leader_epoch(),
            "the leader epoch moved back"
        );
        debug_assert!(
            state.replicas.contains(&self.local_replica_id),
            "{}-{}: the leader {} is not among the replicas {:?}",
            self.topic,
            self.partition,
            self.local_replica_id,
            state.replicas
        );
        let new_leader = previous.is_none();
        let new_leader_epoch = new_leader || state.leader_epoch > replica_state.role.leader_epoch();
        let mut isr: BTreeSet<i32> = state.isr.iter().copied().collect();
        isr.insert(self.local_replica_id);
        let mut kept_pending = None;
        if let Some(pending) = previous.and_then(|l| l.pending.as_ref()) {
            // The metadata may bring this leader's own proposal before the controller's answer
            // does (on a combined node it always does: the commit publishes first), and the
            // answer is then ignored: the proposal is counted here instead.
            let proposed: BTreeSet<i32> =
                pending.proposal().new_isr_with_epochs.iter().map(|(id, _)| *id).collect();
            if !new_leader_epoch && proposed == isr {
                self.isr_change_committed(pending);
            } else if !new_leader_epoch
                && previous.is_some_and(|l| l.partition_epoch == state.partition_epoch)
            {
                // The registration this leader already has, published again: the proposal in
                // flight stays pending. Dropping it would take its follower out of the maximal
                // ISR while the controller may already have committed it — the high watermark
                // would then advance without a replica the controller counts in sync, and
                // electing that replica loses committed records (found by the simulator, seed
                // 90 of a three-node sweep).
                kept_pending = Some(pending.clone());
            }
        }
        let mut followers = previous.map(|l| l.followers.clone()).unwrap_or_default();
        followers.retain(|id, _| state.replicas.contains(id));
        for id in state.replicas.iter().filter(|id| **id != self.local_replica_id) {
            followers.entry(*id).or_insert(FollowerState::EMPTY);
        }
        let mut log = self.lock_log();
        let log_end_offset = log.log_end_offset();
        let leader_epoch_start_offset = match previous {
            Some(leader) if !new_leader_epoch => leader.leader_epoch_start_offset,
            _ => {
                if let Err(e) = log.assign_epoch_start(state.leader_epoch) {
                    // Derived from the log and rewritten at its next change; leading goes on.
                    tracing::warn!(topic = self.topic, partition = self.partition, error = %e, "could not write the leader-epoch checkpoint");
                }
                for (id, follower) in &mut followers {
                    follower.reset(now_ms, log_end_offset, new_leader, isr.contains(id));
                }
                log_end_offset
            }
        };
        drop(log);
        replica_state.role = Role::Leader(LeaderState {
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            leader_epoch_start_offset,
            replicas: state.replicas.clone(),
            isr,
            leader_recovery_state: 0,
            pending: kept_pending,
            followers,
        });
        replica_state.maybe_increment_leader_hw(self.local_replica_id, log_end_offset);
        self.changed();
        true
    }

    /// Makes this replica a follower of `leader_id` at `leader_epoch`.
    pub fn make_follower(&self, leader_id: i32, leader_epoch: i32) {
        let mut state = self.lock_state();
        if let Role::Offline { .. } = state.role {
            return;
        }
        debug_assert!(leader_epoch >= state.role.leader_epoch(), "the leader epoch moved back");
        state.role = Role::Follower { leader_id, leader_epoch };
        self.changed();
    }

    /// Why this replica refuses a leader's work: NOT_LEADER_OR_FOLLOWER naming the leader, or
    /// KAFKA_STORAGE_ERROR once its log dir failed (clients refresh metadata on both).
    fn not_leader(&self, role: &Role) -> ApiError {
        let (error, why) = match role {
            Role::Offline { .. } => (
                ResponseError::KafkaStorageError,
                "its log dir failed, so it serves the partition no more".to_owned(),
            ),
            Role::Leader(_) => (ResponseError::NotLeaderOrFollower, "it leads".to_owned()),
            Role::Follower { leader_id: -1, .. } => {
                (ResponseError::NotLeaderOrFollower, "it has no leader yet".to_owned())
            }
            Role::Follower { leader_id, leader_epoch } => (
                ResponseError::NotLeaderOrFollower,
                format!("node {leader_id} leads it at leader epoch {leader_epoch}"),
            ),
        };
        ApiError::new(
            error,
            format!(
                "this broker (node {}) is not the leader of {}-{}: {why}",
                self.local_replica_id, self.topic, self.partition
            ),
        )
    }

    /// Takes this replica offline for good (its log dir failed): whatever it led or followed,
    /// it refuses every request with KAFKA_STORAGE_ERROR and ignores later roles; waiters
    /// (acks=all produces, long polls) are woken to see it. False if it was offline already.
    pub fn mark_offline(&self) -> bool {
        let mut state = self.lock_state();
        if let Role::Offline { .. } = state.role {
            return false;
        }
        state.role = Role::Offline { leader_epoch: state.role.leader_epoch() };
        drop(state);
        self.changed();
        true
    }

    /// An AlterPartition item for `new_isr` at the leader's epochs, with each member's broker
    /// epoch as its last fetch carried it (-1 unknown, and for the leader, whose own epoch the
    /// request fills in).
    fn propose(
        self: &Arc<Self>,
        leader: &LeaderState,
        new_isr: &BTreeSet<i32>,
    ) -> AlterPartitionItem {
        let new_isr_with_epochs = new_isr
            .iter()
            .map(|id| {
                let epoch = leader.followers.get(id).and_then(|f| f.broker_epoch).unwrap_or(-1);
                (*id, epoch)
            })
            .collect();
        AlterPartitionItem {
            topic_id: self.topic_id,
            topic: self.topic.clone(),
            partition: self.partition,
            proposal: IsrProposal {
                leader_epoch: leader.leader_epoch,
                partition_epoch: leader.partition_epoch,
                new_isr_with_epochs,
                leader_recovery_state: leader.leader_recovery_state,
            },
            target: Arc::downgrade(self),
        }
    }

    /// Queues `item` for the controller; refused (another proposal of this partition is still
    /// queued), the pending change is dropped, as Kafka resets on OPERATION_NOT_ATTEMPTED.
    fn submit(&self, leader: &mut LeaderState, item: AlterPartitionItem) {
        if !self.alter_partitions.submit(item) {
            tracing::info!(
                topic = self.topic,
                partition = self.partition,
                "ISR change not queued: another is still in flight"
            );
            leader.pending = None;
        }
    }

    /// Kafka's `maybeExpandIsr` after a follower's fetch: a follower outside the ISR, eligible
    /// (registered, unfenced, not shutting down, fetching at its registered broker epoch) and
    /// in sync (its log end offset at least the high watermark and the leader epoch's start
    /// offset) is proposed into the ISR, unless a change is already pending.
    fn maybe_expand_isr(
        self: &Arc<Self>,
        leader: &mut LeaderState,
        replica_id: i32,
        high_watermark: i64,
        registration: Option<FollowerRegistration>,
    ) -> bool {
        if leader.pending.is_some() || leader.isr.contains(&replica_id) {
            return false;
        }
        let Some(follower) = leader.followers.get(&replica_id) else { return false };
        let eligible = registration.is_some_and(|r| {
            !r.fenced
                && !r.in_controlled_shutdown
                && follower.broker_epoch.is_some_and(|e| e == -1 || e == r.broker_epoch)
        });
        let in_sync = follower
            .log_end_offset
            .is_some_and(|leo| leo >= high_watermark && leo >= leader.leader_epoch_start_offset);
        if !eligible || !in_sync {
            return false;
        }
        let mut new_isr = leader.isr.clone();
        new_isr.insert(replica_id);
        tracing::info!(
            topic = self.topic,
            partition = self.partition,
            "expanding ISR from {:?} to {new_isr:?}",
            leader.isr
        );
        let item = self.propose(leader, &new_isr);
        leader.pending =
            Some(PendingIsrChange::Expand { replica_id, proposal: item.proposal.clone() });
        self.submit(leader, item);
        true
    }

    /// Kafka's `maybeShrinkIsr`, run periodically: the ISR members other than this leader not
    /// caught up within `max_lag_ms` (`replica.lag.time.max.ms`; never fetched counts as not
    /// caught up) are proposed out of the ISR, unless a change is already pending. Returns
    /// whether a shrink was proposed.
    pub fn maybe_shrink_isr(self: &Arc<Self>, now_ms: i64, max_lag_ms: i64) -> bool {
        let mut state = self.lock_state();
        let high_watermark = state.high_watermark;
        let Role::Leader(leader) = &mut state.role else { return false };
        if leader.pending.is_some() {
            return false;
        }
        let log_end_offset = self.lock_log().log_end_offset();
        let out_of_sync: BTreeSet<i32> = leader
            .isr
            .iter()
            .filter(|id| **id != self.local_replica_id)
            .filter(|id| {
                leader
                    .followers
                    .get(id)
                    .is_none_or(|f| !f.is_caught_up(log_end_offset, now_ms, max_lag_ms))
            })
            .copied()
            .collect();
        if out_of_sync.is_empty() {
            return false;
        }
        let new_isr: BTreeSet<i32> = leader.isr.difference(&out_of_sync).copied().collect();
        tracing::info!(
            topic = self.topic,
            partition = self.partition,
            "shrinking ISR from {:?} to {new_isr:?}; leader high watermark {high_watermark}, end offset {log_end_offset}; out of sync: {:?}",
            leader.isr,
            out_of_sync
                .iter()
                .map(|id| (id, leader.followers.get(id).map(|f| (f.log_end_offset, f.last_caught_up_time_ms))))
                .collect::<Vec<_>>()
        );
        let item = self.propose(leader, &new_isr);
        leader.pending =
            Some(PendingIsrChange::Shrink { out_of_sync, proposal: item.proposal.clone() });
        self.submit(leader, item);
        self.changed();
        true
    }

    /// The controller's answer to `proposal` (Kafka's `handleAlterPartitionUpdate` and
    /// `handleAlterPartitionError`); ignored unless `proposal` is still this partition's pending
    /// change. Committed at this leader epoch and no older partition epoch: the ISR and
    /// partition epoch are taken and the high watermark may move. OPERATION_NOT_ATTEMPTED and
    /// INELIGIBLE_REPLICA drop the pending change (the controller says it applied nothing);
    /// UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID, FENCED_LEADER_EPOCH,
    /// INVALID_UPDATE_VERSION, INVALID_REQUEST and NEW_LEADER_ELECTED keep it until the metadata
    /// says what happened. Returns true for any other error: the proposal is to be sent again.
    pub fn handle_alter_partition_result(
        &self,
        proposal: &IsrProposal,
        result: Result<CommittedIsr, ResponseError>,
    ) -> bool {
        let mut state = self.lock_state();
        let Role::Leader(leader) = &mut state.role else { return false };
        if leader.pending.as_ref().map(PendingIsrChange::proposal) != Some(proposal) {
            tracing::debug!(
                topic = self.topic,
                partition = self.partition,
                "ignoring the answer to an ISR change no longer pending"
            );
            return false;
        }
        match result {
            Ok(committed) => {
                if committed.leader_epoch != leader.leader_epoch
                    || committed.partition_epoch < leader.partition_epoch
                {
                    tracing::debug!(
                        topic = self.topic,
                        partition = self.partition,
                        ?committed,
                        "ignoring a committed ISR of another leader or partition epoch"
                    );
                    return false;
                }
                leader.isr = committed.isr.iter().copied().collect();
                leader.partition_epoch = committed.partition_epoch;
                leader.leader_recovery_state = committed.leader_recovery_state;
                if let Some(pending) = leader.pending.take() {
                    self.isr_change_committed(&pending);
                }
                tracing::info!(
                    topic = self.topic,
                    partition = self.partition,
                    "ISR updated to {:?} and partition epoch to {}",
                    leader.isr,
                    leader.partition_epoch
                );
                let log_end_offset = self.lock_log().log_end_offset();
                state.maybe_increment_leader_hw(self.local_replica_id, log_end_offset);
                self.changed();
                false
            }
            Err(ResponseError::OperationNotAttempted | ResponseError::IneligibleReplica) => {
                leader.pending = None;
                self.changed();
                false
            }
            Err(
                ResponseError::UnknownTopicOrPartition
                | ResponseError::UnknownTopicId
                | ResponseError::FencedLeaderEpoch
                | ResponseError::InvalidUpdateVersion
                | ResponseError::InvalidRequest
                | ResponseError::NewLeaderElected,
            ) => false,
            Err(error) => {
                tracing::warn!(topic = self.topic, partition = self.partition, %error, "ISR change failed; retrying");
                true
            }
        }
    }

    /// Counts this leader's `change` as committed (Kafka's `markExpand`/`markShrink` on
    /// `handleAlterPartitionUpdate`). The one place both ways a commit reaches the leader pass:
    /// the controller's answer ([`Partition::handle_alter_partition_result`]) and the metadata
    /// ([`Partition::make_leader`] at the same leader epoch with the proposed ISR), whichever
    /// comes first; the other then finds nothing pending.
    fn isr_change_committed(&self, change: &PendingIsrChange) {
        match change {
            PendingIsrChange::Expand { .. } => self.isr_changes.mark_expand(),
            PendingIsrChange::Shrink { .. } => self.isr_changes.mark_shrink(),
        }
    }

    /// Kafka's `checkEnoughReplicasReachOffset` for an acks=all append ending before
    /// `required_offset`: `Ok(false)` while the high watermark is below it, `Ok(true)` once it
    /// passed with the maximal ISR at least `min_insync_replicas`,
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND when it passed with fewer, NOT_LEADER_OR_FOLLOWER once
    /// this replica no longer leads.
    pub fn check_enough_replicas_reach_offset(
        &self,
        required_offset: i64,
        min_insync_replicas: i64,
    ) -> Result<bool, ApiError> {
        let state = self.lock_state();
        let Role::Leader(leader) = &state.role else {
            return Err(self.not_leader(&state.role));
        };
        if state.high_watermark < required_offset {
            return Ok(false);
        }
        let isr = leader.maximal_isr();
        if (isr.len() as i64) < min_insync_replicas {
            return Err(ApiError::new(
                ResponseError::NotEnoughReplicasAfterAppend,
                format!(
                    "the records of {}-{} up to offset {required_offset} are written, but the ISR \
                     {isr:?} is now smaller than min.insync.replicas {min_insync_replicas}",
                    self.topic, self.partition
                ),
            ));
        }
        Ok(true)
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
        if state.maybe_increment_leader_hw(self.local_replica_id, log_end_offset) {
            self.changed();
        }
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

    /// A follower's fetch on the leader (Kafka's `Partition.fetchRecords` for a replica, with
    /// `updateFollowerFetchState`), under one lock: the current leader epoch check
    /// (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH), NOT_LEADER_OR_FOLLOWER unless this replica
    /// leads, a replica not assigned refused (UNKNOWN_LEADER_EPOCH when the fetch names the
    /// epoch, NOT_LEADER_OR_FOLLOWER otherwise); then the KIP-320 check — a `last_fetched_epoch` the
    /// leader's log does not end the same way at `fetch_offset` answers the diverging epoch and
    /// its end offset, which the follower truncates to, and nothing else —, OFFSET_OUT_OF_RANGE
    /// outside the log, and batches up to the log end offset (followers read past the high
    /// watermark). Last, the follower's fetch state is recorded (a broker epoch older than its
    /// registration is refused as stale): its log end offset (the fetch offset), when it was
    /// last caught up, the ISR expansion it may allow, and the high watermark it may move.
    pub fn fetch_for_follower(
        self: &Arc<Self>,
        request: &FollowerFetchRequest,
    ) -> Result<FollowerFetch, ApiError> {
        let replica_id = request.replica_id;
        let mut guard = self.lock_state();
        let state = &mut *guard;
        // The epoch first, whatever the role, as Kafka's `getLocalLog`.
        check_leader_epoch(request.current_leader_epoch, state.role.leader_epoch())?;
        let Role::Leader(leader) = &mut state.role else {
            return Err(self.not_leader(&state.role));
        };
        if !leader.followers.contains_key(&replica_id) {
            let error = if request.current_leader_epoch == -1 {
                ResponseError::NotLeaderOrFollower
            } else {
                ResponseError::UnknownLeaderEpoch
            };
            return Err(ApiError::new(
                error,
                format!(
                    "replica {replica_id} is not recognized as a valid replica of {}-{} in \
                     leader epoch {} with partition epoch {} (replicas {:?})",
                    self.topic,
                    self.partition,
                    leader.leader_epoch,
                    leader.partition_epoch,
                    leader.replicas
                ),
            ));
        }
        let log = self.lock_log();
        if request.last_fetched_epoch >= 0 {
            let (epoch, end_offset) = log.end_offset_for_epoch(request.last_fetched_epoch);
            if epoch < request.last_fetched_epoch || end_offset < request.fetch_offset {
                return Ok(FollowerFetch {
                    records: Bytes::new(),
                    high_watermark: state.high_watermark,
                    high_watermark_moved: false,
                    log_start_offset: log.log_start_offset(),
                    diverging_epoch: Some((epoch, end_offset)),
                });
            }
        }
        let fetch_offset = request.fetch_offset;
        // The log end offset before the read, as Kafka: appends after it do not keep the
        // follower from counting as caught up.
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
        let records = log.read(fetch_offset, request.max_bytes)?;
        drop(log);
        if let Some(registered) = request.registration.map(|r| r.broker_epoch) {
            if request.replica_epoch != -1 && registered > request.replica_epoch {
                return Err(ApiError::new(
                    ResponseError::NotLeaderOrFollower,
                    format!(
                        "received stale fetch state update from replica {replica_id}: broker \
                         epoch {} vs expected {registered}",
                        request.replica_epoch
                    ),
                ));
            }
        }
        let follower = leader.followers.get_mut(&replica_id).expect("checked above");
        follower.record_fetch(fetch_offset, request.now_ms, end, request.replica_epoch);
        let expanded =
            self.maybe_expand_isr(leader, replica_id, state.high_watermark, request.registration);
        let high_watermark_moved = state.maybe_increment_leader_hw(self.local_replica_id, end);
        if expanded || high_watermark_moved {
            self.changed();
        }
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

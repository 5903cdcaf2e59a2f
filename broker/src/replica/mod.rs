//! The partition layer between the handlers and the log, after Kafka's `ReplicaManager` and
//! `Partition`: [`ReplicaManager`] owns this node's [`Partition`]s; each holds one partition's
//! log (owned by the `LogManager`, which keeps doing retention, flushes and checkpoints) and its
//! replica state — the role, the leader epoch, the ISR, the followers' log end offsets and the
//! high watermark, computed in one place (`Partition`'s `maybe_increment_leader_hw`).
//!
//! The leader side of replication, after Kafka: the ISR grows on followers' fetches and
//! shrinks from [`ReplicaManager::maybe_shrink_isr`], each change proposed to the controller
//! through the [`AlterPartitionManager`] and committed when the metadata (or the controller's
//! answer) brings it; an acks=all Produce waits in `delayed_produce` until the high watermark
//! passes its records.
//!
//! On a single node every partition is led here at the epoch its metadata records, with this
//! node alone in the ISR, so the high watermark is the log end offset and nothing waits.

pub mod alter_partition;
pub mod delayed_produce;
pub mod fetcher;
mod partition;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::error::ApiError;
use crate::log::manager::PartitionKey;
use crate::log::{LogConfig, LogError, LogManager};

pub use alter_partition::AlterPartitionManager;
pub use fetcher::ReplicaFetcherManager;
pub use partition::{
    check_leader_epoch, AppendRejection, FollowerError, FollowerFetch, FollowerFetchRequest,
    FollowerPosition, FollowerRegistration, FollowerState, FollowerUpdate, LeaderAndIsr,
    LeaderAppend, LeaderLog, LeaderState, Partition, PendingIsrChange, Role,
};

/// DeleteRecords' offset -1: "up to the high watermark".
pub const HIGH_WATERMARK_OFFSET: i64 = -1;

/// Kafka's ReplicaManager `IsrExpandsPerSec` and `IsrShrinksPerSec` meters (its
/// `AlterPartitionListener`'s `markExpand`/`markShrink`): ISR changes this node proposed as
/// leader and saw committed. A change the controller made on its own (a fenced broker taken out
/// of every ISR) is not one, as in Kafka.
#[derive(Debug, Default)]
pub struct IsrChangeCounts {
    expands: AtomicU64,
    shrinks: AtomicU64,
}

impl IsrChangeCounts {
    /// An expansion proposed here was committed.
    pub fn mark_expand(&self) {
        self.expands.fetch_add(1, Ordering::Relaxed);
    }

    /// A shrink proposed here was committed.
    pub fn mark_shrink(&self) {
        self.shrinks.fetch_add(1, Ordering::Relaxed);
    }

    /// Committed expansions since start.
    pub fn expands(&self) -> u64 {
        self.expands.load(Ordering::Relaxed)
    }

    /// Committed shrinks since start.
    pub fn shrinks(&self) -> u64 {
        self.shrinks.load(Ordering::Relaxed)
    }
}

/// This node's partitions, in (topic, partition) order.
pub struct ReplicaManager {
    /// This node's replica id (`node.id`).
    local_replica_id: i32,
    logs: Arc<Mutex<LogManager>>,
    partitions: Mutex<BTreeMap<PartitionKey, Arc<Partition>>>,
    /// The ISR changes this node's partitions propose to the controller.
    alter_partitions: Arc<AlterPartitionManager>,
    /// The ISR changes this node's partitions proposed and saw committed.
    isr_changes: Arc<IsrChangeCounts>,
    /// The fetchers of the partitions this node follows.
    fetchers: ReplicaFetcherManager,
    /// Why this node's log dir failed, once it has: every partition is offline from then on.
    log_dir_failure: Mutex<Option<String>>,
}

impl ReplicaManager {
    /// No partitions yet; they are made as the metadata names them.
    pub fn new(local_replica_id: i32, logs: Arc<Mutex<LogManager>>) -> Self {
        ReplicaManager {
            local_replica_id,
            logs,
            partitions: Mutex::new(BTreeMap::new()),
            alter_partitions: Arc::new(AlterPartitionManager::new()),
            isr_changes: Arc::default(),
            fetchers: ReplicaFetcherManager::default(),
            log_dir_failure: Mutex::new(None),
        }
    }

    fn lock_partitions(&self) -> MutexGuard<'_, BTreeMap<PartitionKey, Arc<Partition>>> {
        self.partitions.lock().expect("replica manager lock poisoned")
    }

    /// This node's replica id.
    pub fn local_replica_id(&self) -> i32 {
        self.local_replica_id
    }

    /// One partition, if this node has it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.lock_partitions().get(&(topic.to_owned(), partition)).cloned()
    }

    /// Every partition this node has (internal topics included), in (topic, partition) order.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.lock_partitions().values().cloned().collect()
    }

    /// The queue of ISR changes for the controller: whoever talks to the controller takes
    /// requests from it and hands the responses back.
    pub fn alter_partition_manager(&self) -> &AlterPartitionManager {
        &self.alter_partitions
    }

    /// The committed ISR expansions and shrinks of this node's partitions as leader (the
    /// `IsrExpandsPerSec`/`IsrShrinksPerSec` counters).
    pub fn isr_changes(&self) -> &IsrChangeCounts {
        &self.isr_changes
    }

    /// Opens (recovering) or creates the log of `topic`-`partition`, records its topic id in
    /// `partition.metadata`, and makes this node its leader as the metadata's `state` says
    /// ([`Partition::make_leader`]: a partition this node already leads takes a newer leader or
    /// partition epoch, its ISR and assignment, and ignores an older one).
    pub fn make_leader(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Uuid,
        state: &LeaderAndIsr,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<Partition>, LogError> {
        let (log, checkpointed_hw) = self.open_log(topic, partition, topic_id, config, now_ms)?;
        let made = self
            .lock_partitions()
            .entry((topic.to_owned(), partition))
            .or_insert_with(|| {
                Arc::new(Partition::new(
                    topic,
                    partition,
                    topic_id,
                    self.local_replica_id,
                    log,
                    self.alter_partitions.clone(),
                    self.isr_changes.clone(),
                    checkpointed_hw,
                ))
            })
            .clone();
        made.make_leader(state, now_ms);
        Ok(made)
    }

    /// Opens (recovering) or creates the log of `topic`-`partition` with its topic id in
    /// `partition.metadata`; with its checkpointed high watermark, if any.
    fn open_log(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Uuid,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<(crate::log::manager::SharedLog, Option<i64>), LogError> {
        if let Some(why) = self.log_dir_failure() {
            return Err(LogError::Storage {
                context: format!("{topic}-{partition}: the log dir is offline"),
                source: std::io::Error::other(why),
            });
        }
        let mut logs = self.logs.lock().expect("log manager lock poisoned");
        let log = logs.get_or_create(topic, partition, config, now_ms)?;
        logs.write_partition_topic_id(topic, partition, topic_id)?;
        Ok((log, logs.high_watermark(topic, partition)))
    }

    /// Kafka's `handleLogDirFailure` for this node's one log dir: every partition goes
    /// offline ([`Partition::mark_offline`]) and no log is opened any more, until the broker
    /// restarts. Returns how many partitions went offline now (0 when the dir had failed).
    pub fn handle_log_dir_failure(&self, why: &str) -> usize {
        {
            let mut failure = self.log_dir_failure.lock().expect("log dir failure lock poisoned");
            if failure.is_some() {
                return 0;
            }
            *failure = Some(why.to_owned());
        }
        self.partitions().iter().filter(|p| p.mark_offline()).count()
    }

    /// Why the log dir failed, if it has.
    pub fn log_dir_failure(&self) -> Option<String> {
        self.log_dir_failure.lock().expect("log dir failure lock poisoned").clone()
    }

    /// Kafka's periodic ISR expiration: every partition this node leads proposes removing the
    /// followers not caught up within `max_lag_ms` (`replica.lag.time.max.ms`). Returns how
    /// many partitions proposed a shrink.
    pub fn maybe_shrink_isr(&self, now_ms: i64, max_lag_ms: i64) -> usize {
        let partitions = self.partitions();
        partitions.iter().filter(|p| p.maybe_shrink_isr(now_ms, max_lag_ms)).count()
    }

    /// Stops `topic`-`partition` of the removed topic `topic_id` and deletes its log directory
    /// (the `-delete` rename names the id). Only data of that topic is deleted: a directory
    /// whose `partition.metadata` names another topic id (a topic of the same name created
    /// since) is left alone, and one without it only if this node had the partition open.
    pub fn delete_partition(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Uuid,
    ) -> Result<(), LogError> {
        let key = (topic.to_owned(), partition);
        let open = self.lock_partitions().contains_key(&key);
        let mut logs = self.logs.lock().expect("log manager lock poisoned");
        let recorded = logs.partition_topic_id(topic, partition)?;
        if recorded != Some(topic_id) && !(recorded.is_none() && open) {
            return Ok(());
        }
        self.lock_partitions().remove(&key);
        logs.remove(topic, partition, &topic_id.simple().to_string())
    }

    /// Gives the log of `topic`-`partition`, if this node has it, a changed topic config.
    pub fn set_log_config(&self, topic: &str, partition: i32, config: LogConfig) {
        let logs = self.logs.lock().expect("log manager lock poisoned");
        if let Some(log) = logs.get(topic, partition) {
            log.lock().expect("partition lock poisoned").set_config(config);
        }
    }

    /// DeleteRecords on one partition: [`HIGH_WATERMARK_OFFSET`] means the high watermark, as in
    /// Kafka's `deleteRecordsOnLocalLog`. Returns the new log start offset (the low watermark).
    pub fn delete_records(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64, ApiError> {
        let target = self.partition(topic, partition).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("{topic}-{partition} does not exist"),
            )
        })?;
        let offset = if offset == HIGH_WATERMARK_OFFSET { target.high_watermark() } else { offset };
        target.delete_records_on_leader(offset)
    }
}

/// The follower side, after Kafka's `ReplicaManager.makeFollowers` and its fetcher manager.
impl ReplicaManager {
    /// Opens (recovering) or creates the log of `topic`-`partition`, records its topic id in
    /// `partition.metadata`, and makes this node a follower of `leader_id` (-1: no leader yet)
    /// at `leader_epoch`: client appends and reads get NOT_LEADER_OR_FOLLOWER. A new partition's
    /// high watermark starts from `replication-offset-checkpoint`, capped at its log end
    /// offset; a partition this node had (a leader stepping down) keeps its own. The caller
    /// hands it to [`ReplicaManager::replica_fetchers`] once its leader is known.
    #[allow(clippy::too_many_arguments)]
    pub fn make_follower(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Uuid,
        leader_id: i32,
        leader_epoch: i32,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<Partition>, LogError> {
        let (log, checkpointed_hw) = self.open_log(topic, partition, topic_id, config, now_ms)?;
        // Not under the partitions' lock: the fetcher takes a partition's lock, then the log
        // manager's, and `delete_partition` the log manager's, then the partitions'.
        if let Some(existing) = self.partition(topic, partition) {
            existing.make_follower(leader_id, leader_epoch);
            return Ok(existing);
        }
        let made = Arc::new(Partition::new_follower(
            topic,
            partition,
            topic_id,
            self.local_replica_id,
            leader_id,
            leader_epoch,
            checkpointed_hw.unwrap_or(0),
            log,
            self.alter_partitions.clone(),
            self.isr_changes.clone(),
        ));
        let mut partitions = self.lock_partitions();
        Ok(partitions.entry((topic.to_owned(), partition)).or_insert(made).clone())
    }

    /// Kafka's `checkpointHighWatermarks`: every partition's high watermark to
    /// `replication-offset-checkpoint`.
    pub fn checkpoint_high_watermarks(&self) -> Result<(), LogError> {
        let high_watermarks: Vec<(PartitionKey, i64)> = self
            .partitions()
            .iter()
            .map(|p| ((p.topic().to_owned(), p.partition()), p.high_watermark()))
            .collect();
        let logs = self.logs.lock().expect("log manager lock poisoned");
        logs.checkpoint_high_watermarks(high_watermarks)
    }

    /// The fetchers of the partitions this node follows.
    pub fn replica_fetchers(&self) -> &ReplicaFetcherManager {
        &self.fetchers
    }

    /// Starts the replica fetchers over `connector` (partitions handed over before are
    /// fetched from now on); `spawn` runs each fetcher task.
    pub fn start_fetchers(
        self: &Arc<Self>,
        connector: Arc<dyn crate::network::Connector>,
        spawn: fetcher::SpawnFetcher,
        config: fetcher::FetcherConfig,
        clock: crate::clock::SharedClock,
    ) {
        self.fetchers.start(Arc::downgrade(self), connector, spawn, config, clock);
    }

    /// A follower's truncation through the log manager (which checkpoints the lowered
    /// recovery point); run under the partition's lock by `Partition::truncate_as_follower`.
    pub(crate) fn truncate_log(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<bool, LogError> {
        self.logs.lock().expect("log manager lock poisoned").truncate_to(topic, partition, offset)
    }

    /// [`LogManager::truncate_fully_and_start_at`] for a follower, as [`Self::truncate_log`].
    pub(crate) fn truncate_log_fully_and_start_at(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), LogError> {
        let logs = self.logs.lock().expect("log manager lock poisoned");
        logs.truncate_fully_and_start_at(topic, partition, offset)
    }
}

#[cfg(test)]
mod tests;

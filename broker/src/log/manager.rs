//! [`LogManager`]: the partition logs of one log directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::checkpoint::{self, HighWatermarks, RecoveryPoints};
use super::{storage_err, LogConfig, LogError, PartitionLog, RetentionOutcome};
use crate::storage::Storage;

/// A shared, lockable partition log.
pub type SharedLog = Arc<Mutex<PartitionLog>>;

/// A partition: (topic, partition index).
pub type PartitionKey = (String, i32);

/// Kafka's file naming the topic id a partition directory belongs to.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// Suffix of a partition directory whose deletion is under way (Kafka's `-delete`).
pub const DELETE_SUFFIX: &str = "-delete";

/// Suffix of a partition directory the metadata does not explain, kept aside (Kafka's `-stray`).
pub const STRAY_SUFFIX: &str = "-stray";

/// Owns the open partition logs under one log directory. The broker decides which partitions
/// exist (from its metadata); the manager only opens what it is asked for.
pub struct LogManager {
    storage: Arc<dyn Storage>,
    log_dir: PathBuf,
    logs: BTreeMap<PartitionKey, SharedLog>,
    recovery_points: Arc<RecoveryPoints>,
    high_watermarks: Arc<HighWatermarks>,
    clean_shutdown: bool,
}

fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, PartitionLog> {
    // A panic mid-operation leaves the files recoverable; keep serving.
    log.lock().unwrap_or_else(|e| e.into_inner())
}

impl LogManager {
    /// Open the log directory, creating it if missing, and read its recovery point and high
    /// watermark checkpoints and clean-shutdown marker. No partition is opened yet.
    pub fn open(storage: Arc<dyn Storage>, log_dir: PathBuf) -> Result<Self, LogError> {
        storage
            .create_dir_all(&log_dir)
            .map_err(storage_err(format!("creating log dir {}", log_dir.display())))?;
        let recovery_points = Arc::new(RecoveryPoints::read(storage.clone(), &log_dir)?);
        let high_watermarks = Arc::new(HighWatermarks::read(storage.clone(), &log_dir)?);
        let clean_shutdown = checkpoint::had_clean_shutdown(storage.as_ref(), &log_dir);
        Ok(LogManager {
            storage,
            log_dir,
            logs: BTreeMap::new(),
            recovery_points,
            high_watermarks,
            clean_shutdown,
        })
    }

    /// Whether the previous run shut down cleanly (flushed and checkpointed everything); a
    /// start without it followed a crash, and logs recover above their recovery points.
    pub fn had_clean_shutdown(&self) -> bool {
        self.clean_shutdown
    }

    /// The recovery point checkpoint, shared with the metadata log.
    pub fn recovery_points(&self) -> &Arc<RecoveryPoints> {
        &self.recovery_points
    }

    /// The high watermark checkpoint, shared with the metadata log of a node that is not its
    /// quorum's sole voter (`MetadataStore::open`).
    pub fn high_watermarks(&self) -> &Arc<HighWatermarks> {
        &self.high_watermarks
    }

    /// Removes the clean-shutdown marker once start-up succeeded, so that a crash of this run
    /// is not taken for a clean shutdown (a refused start leaves it in place).
    pub fn clear_clean_shutdown_marker(&self) -> Result<(), LogError> {
        checkpoint::remove_clean_shutdown_marker(self.storage.as_ref(), &self.log_dir)
    }

    /// Writes every open log's recovery point to `recovery-point-offset-checkpoint`.
    pub fn checkpoint_recovery_points(&self) -> Result<(), LogError> {
        let points: Vec<(PartitionKey, i64)> =
            self.logs.iter().map(|(key, log)| (key.clone(), lock(log).recovery_point())).collect();
        self.recovery_points.update(points, &[])
    }

    /// A partition's high watermark as last checkpointed to `replication-offset-checkpoint`
    /// (read when the log directory was opened, then as this manager last wrote it).
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.high_watermarks.get(topic, partition)
    }

    /// Writes high watermarks to `replication-offset-checkpoint` (synced temporary file and
    /// rename, as the recovery points); partitions not given keep their last entry until they
    /// are removed.
    pub fn checkpoint_high_watermarks(
        &self,
        hws: impl IntoIterator<Item = (PartitionKey, i64)>,
    ) -> Result<(), LogError> {
        self.high_watermarks.update(hws)
    }

    /// Kafka's `LogManager.truncateTo` for one partition: [`PartitionLog::truncate_to`], then
    /// its lowered recovery point checkpointed, so that recovery after a crash does not trust
    /// the offsets appended again above the new end. A partition not open is skipped (false).
    pub fn truncate_to(&self, topic: &str, partition: i32, offset: i64) -> Result<bool, LogError> {
        let Some(log) = self.get(topic, partition) else { return Ok(false) };
        let mut log = lock(&log);
        if !log.truncate_to(offset)? {
            return Ok(false);
        }
        let point = log.recovery_point();
        self.recovery_points.update([((topic.to_owned(), partition), point)], &[])?;
        Ok(true)
    }

    /// Kafka's `LogManager.truncateFullyAndStartAt` for one partition:
    /// [`PartitionLog::truncate_fully_and_start_at`], then its recovery point checkpointed. A
    /// partition not open is skipped.
    pub fn truncate_fully_and_start_at(
        &self,
        topic: &str,
        partition: i32,
        new_offset: i64,
    ) -> Result<(), LogError> {
        let Some(log) = self.get(topic, partition) else { return Ok(()) };
        let mut log = lock(&log);
        log.truncate_fully_and_start_at(new_offset)?;
        let point = log.recovery_point();
        self.recovery_points.update([((topic.to_owned(), partition), point)], &[])
    }

    /// The log directory.
    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
    }

    /// Whether the file `name` is (still) at the top of the log dir: the probe for a log dir
    /// removed or unmounted under a running broker, which no write into open files notices.
    pub fn has_file(&self, name: &str) -> bool {
        self.storage.exists(&self.log_dir.join(name))
    }

    /// Directory of a partition: `<log_dir>/<topic>-<partition>`.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.log_dir.join(format!("{topic}-{partition}"))
    }

    /// The open log of a partition, opening (and recovering) or creating it if needed.
    pub fn get_or_create(
        &mut self,
        topic: &str,
        partition: i32,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<SharedLog, LogError> {
        let key = (topic.to_string(), partition);
        if let Some(log) = self.logs.get(&key) {
            return Ok(Arc::clone(log));
        }
        let dir = self.partition_dir(topic, partition);
        let log = Arc::new(Mutex::new(PartitionLog::open_at_recovery_point(
            Arc::clone(&self.storage),
            dir,
            config,
            now_ms,
            self.recovery_points.get(topic, partition),
        )?));
        self.logs.insert(key, Arc::clone(&log));
        Ok(log)
    }

    /// The open log of a partition.
    pub fn get(&self, topic: &str, partition: i32) -> Option<SharedLog> {
        self.logs.get(&(topic.to_string(), partition)).cloned()
    }

    /// Every open partition log, in (topic, partition) order.
    pub fn logs(&self) -> impl Iterator<Item = (&PartitionKey, &SharedLog)> {
        self.logs.iter()
    }

    /// Open partitions, in (topic, partition) order.
    pub fn open_partitions(&self) -> Vec<PartitionKey> {
        self.logs.keys().cloned().collect()
    }

    /// Close a partition and delete its directory (also if it was never opened). The
    /// directory is first renamed to `<topic>-<partition>.<id>-delete`, as Kafka does, so a
    /// deletion interrupted by a crash is finished on the next start instead of leaving a
    /// partition that looks alive.
    pub fn remove(&mut self, topic: &str, partition: i32, tag: &str) -> Result<(), LogError> {
        let key = (topic.to_string(), partition);
        self.logs.remove(&key);
        let dir = self.partition_dir(topic, partition);
        if self.storage.exists(&dir) {
            let doomed = self.log_dir.join(format!("{topic}-{partition}.{tag}{DELETE_SUFFIX}"));
            self.storage
                .rename(&dir, &doomed)
                .map_err(storage_err(format!("renaming {} for deletion", dir.display())))?;
            self.storage
                .remove_dir_all(&doomed)
                .map_err(storage_err(format!("deleting {}", doomed.display())))?;
        }
        self.recovery_points.update([], std::slice::from_ref(&key))?;
        self.high_watermarks.forget(&[key])
    }

    /// Sets a partition directory aside as `<topic>-<partition>.<id>-stray` (Kafka's name for
    /// a log the metadata does not explain): it is never opened or deleted by the broker.
    pub fn set_aside_as_stray(
        &mut self,
        topic: &str,
        partition: i32,
        tag: &str,
    ) -> Result<PathBuf, LogError> {
        let dir = self.partition_dir(topic, partition);
        let stray = self.log_dir.join(format!("{topic}-{partition}.{tag}{STRAY_SUFFIX}"));
        self.storage.rename(&dir, &stray).map_err(storage_err(format!(
            "renaming {} to {}",
            dir.display(),
            stray.display()
        )))?;
        let key = (topic.to_owned(), partition);
        self.recovery_points.update([], std::slice::from_ref(&key))?;
        self.high_watermarks.forget(&[key])?;
        Ok(stray)
    }

    /// Directories of deletions a crash interrupted (`…-delete`): their deletion record was
    /// committed before they were renamed, so they are removed.
    pub fn remove_interrupted_deletions(&self) -> Result<Vec<String>, LogError> {
        let doomed: Vec<String> =
            self.list_log_dir()?.into_iter().filter(|n| n.ends_with(DELETE_SUFFIX)).collect();
        for name in &doomed {
            let path = self.log_dir.join(name);
            self.storage
                .remove_dir_all(&path)
                .map_err(storage_err(format!("deleting {}", path.display())))?;
        }
        Ok(doomed)
    }

    /// Names of directories set aside as stray, in this or an earlier start.
    pub fn stray_directories(&self) -> Result<Vec<String>, LogError> {
        Ok(self.list_log_dir()?.into_iter().filter(|n| n.ends_with(STRAY_SUFFIX)).collect())
    }

    /// The names of the log directory's entries.
    fn list_log_dir(&self) -> Result<Vec<String>, LogError> {
        self.storage
            .list_dir(&self.log_dir)
            .map_err(storage_err(format!("listing {}", self.log_dir.display())))
    }

    /// Partition directories found in the log directory, parsed as `<topic>-<partition>`
    /// at the last '-'; other entries are ignored.
    pub fn partitions_on_disk(&self) -> Result<Vec<PartitionKey>, LogError> {
        Ok(self
            .list_log_dir()?
            .iter()
            .filter_map(|n| {
                let (topic, p) = n.rsplit_once('-')?;
                let partition: i32 = p.parse().ok()?;
                (!topic.is_empty() && partition >= 0 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| (topic.to_string(), partition))
            })
            .collect())
    }

    /// The topic id recorded in a partition directory's `partition.metadata` (Kafka's
    /// `PartitionMetadataFile`), if the file exists. A file that does not parse is an error
    /// naming it: the broker cannot tell whose data the directory holds.
    pub fn partition_topic_id(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<Uuid>, LogError> {
        let path = self.partition_dir(topic, partition).join(PARTITION_METADATA_FILE);
        if !self.storage.exists(&path) {
            return Ok(None);
        }
        let ctx = || format!("reading {}", path.display());
        let file = self.storage.open(&path, false).map_err(storage_err(ctx()))?;
        let mut buf = vec![0u8; file.len().map_err(storage_err(ctx()))? as usize];
        file.read_exact_at(0, &mut buf).map_err(storage_err(ctx()))?;
        let text = String::from_utf8_lossy(&buf);
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("topic_id:"))
            .and_then(|v| crate::kafka_uuid::decode(v.trim()));
        id.map(Some).ok_or_else(|| {
            LogError::InvalidRecord(format!(
                "{} does not hold a topic id (expected `version: 0` and `topic_id: <22 characters>`)",
                path.display()
            ))
        })
    }

    /// Records the topic id in the partition directory's `partition.metadata`, unless it is
    /// there already.
    pub fn write_partition_topic_id(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Uuid,
    ) -> Result<(), LogError> {
        if self.partition_topic_id(topic, partition).ok().flatten() == Some(topic_id) {
            return Ok(());
        }
        let path = self.partition_dir(topic, partition).join(PARTITION_METADATA_FILE);
        let text = format!("version: 0\ntopic_id: {}\n", crate::kafka_uuid::encode(topic_id));
        checkpoint::write_atomically(self.storage.as_ref(), &path, text.as_bytes())
    }

    /// Apply retention to every open partition; the first error is returned after all ran.
    pub fn enforce_retention_all(
        &self,
        now_ms: i64,
    ) -> Result<Vec<(PartitionKey, RetentionOutcome)>, LogError> {
        let mut outcomes = Vec::new();
        let mut first_err = None;
        for (key, log) in &self.logs {
            match lock(log).enforce_retention(now_ms) {
                Ok(o) => outcomes.push((key.clone(), o)),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(outcomes), Err)
    }

    /// fsync every open partition and checkpoint their recovery points.
    pub fn flush_all(&self) -> Result<(), LogError> {
        for log in self.logs.values() {
            lock(log).flush()?;
        }
        self.checkpoint_recovery_points()
    }

    /// A clean shutdown: flush and checkpoint everything, then leave the clean-shutdown marker.
    pub fn shut_down_cleanly(&self) -> Result<(), LogError> {
        self.flush_all()?;
        checkpoint::write_clean_shutdown_marker(self.storage.as_ref(), &self.log_dir)
    }

    /// Apply the time-based flush policy to every open partition.
    pub fn maybe_flush_all(&self, now_ms: i64) -> Result<(), LogError> {
        for log in self.logs.values() {
            lock(log).maybe_flush(now_ms)?;
        }
        Ok(())
    }
}

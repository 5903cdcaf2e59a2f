//! [`LogManager`]: the partition logs of one log directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{storage_err, LogConfig, LogError, PartitionLog, RetentionOutcome};
use crate::storage::Storage;

/// A shared, lockable partition log.
pub type SharedLog = Arc<Mutex<PartitionLog>>;

/// A partition: (topic, partition index).
pub type PartitionKey = (String, i32);

/// Owns the open partition logs under one log directory. The broker decides which partitions
/// exist (from its metadata); the manager only opens what it is asked for.
pub struct LogManager {
    storage: Arc<dyn Storage>,
    log_dir: PathBuf,
    logs: BTreeMap<PartitionKey, SharedLog>,
}

fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, PartitionLog> {
    // A panic mid-operation leaves the files recoverable; keep serving.
    log.lock().unwrap_or_else(|e| e.into_inner())
}

impl LogManager {
    /// Open the log directory, creating it if missing. No partition is opened yet.
    pub fn open(storage: Arc<dyn Storage>, log_dir: PathBuf) -> Result<Self, LogError> {
        storage
            .create_dir_all(&log_dir)
            .map_err(storage_err(format!("creating log dir {}", log_dir.display())))?;
        Ok(LogManager { storage, log_dir, logs: BTreeMap::new() })
    }

    /// The log directory.
    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
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
        let log = Arc::new(Mutex::new(PartitionLog::open(
            Arc::clone(&self.storage),
            dir,
            config,
            now_ms,
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

    /// Close a partition and delete its directory (also if it was never opened).
    pub fn remove(&mut self, topic: &str, partition: i32) -> Result<(), LogError> {
        self.logs.remove(&(topic.to_string(), partition));
        let dir = self.partition_dir(topic, partition);
        if self.storage.exists(&dir) {
            self.storage
                .remove_dir_all(&dir)
                .map_err(storage_err(format!("deleting {}", dir.display())))?;
        }
        Ok(())
    }

    /// Partition directories found in the log directory, parsed as `<topic>-<partition>`
    /// at the last '-'; other entries are ignored.
    pub fn partitions_on_disk(&self) -> Result<Vec<PartitionKey>, LogError> {
        let names = self
            .storage
            .list_dir(&self.log_dir)
            .map_err(storage_err(format!("listing {}", self.log_dir.display())))?;
        Ok(names
            .iter()
            .filter_map(|n| {
                let (topic, p) = n.rsplit_once('-')?;
                let partition: i32 = p.parse().ok()?;
                (!topic.is_empty() && partition >= 0 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| (topic.to_string(), partition))
            })
            .collect())
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

    /// fsync every open partition.
    pub fn flush_all(&self) -> Result<(), LogError> {
        for log in self.logs.values() {
            lock(log).flush()?;
        }
        Ok(())
    }

    /// Apply the time-based flush policy to every open partition.
    pub fn maybe_flush_all(&self, now_ms: i64) -> Result<(), LogError> {
        for log in self.logs.values() {
            lock(log).maybe_flush(now_ms)?;
        }
        Ok(())
    }
}

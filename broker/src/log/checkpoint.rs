//! The log directory's checkpoint files, as Kafka names and lays them out:
//!
//! - `recovery-point-offset-checkpoint`: per partition, the offset below which everything is
//!   durable. Recovery after a crash starts there; below it, bytes that do not parse are
//!   corruption, never a torn write, and are never truncated.
//! - `replication-offset-checkpoint`: per partition, the high watermark, so that a restarted
//!   replica knows which of its records were committed (Kafka's `highWatermarkCheckpoints`).
//! - `.kafka_cleanshutdown`: written after the last flush of a clean shutdown and removed on
//!   start, so a start without it followed a crash.
//!
//! The two offset files share Kafka's `OffsetCheckpointFile` format ([`OffsetCheckpointFile`]):
//! a version line `0`, a count line, then one `topic partition offset` line per partition.
//! Every file is written to a temporary file, synced and renamed, so a crash leaves the old or
//! the new content, never a mix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::manager::PartitionKey;
use super::{storage_err, LogError};
use crate::storage::Storage;

/// Kafka's name for the recovery point checkpoint in each log directory.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";

/// Kafka's name for the high watermark checkpoint in each log directory.
pub const HIGH_WATERMARK_CHECKPOINT: &str = "replication-offset-checkpoint";

/// Kafka's clean-shutdown marker in each log directory.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// One `OffsetCheckpointFile` of a log directory: an offset per partition, as last
/// checkpointed, behind one lock that orders the file's writes.
pub struct OffsetCheckpointFile {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    offsets: Mutex<BTreeMap<PartitionKey, i64>>,
}

impl OffsetCheckpointFile {
    /// Reads `log_dir/name`; a missing file is an empty checkpoint. A malformed one is
    /// reported (with `consequence`, what an empty checkpoint means for this file) and read
    /// as empty.
    pub fn read(
        storage: Arc<dyn Storage>,
        log_dir: &Path,
        name: &str,
        consequence: &str,
    ) -> Result<Self, LogError> {
        let path = log_dir.join(name);
        let mut offsets = BTreeMap::new();
        if storage.exists(&path) {
            let text = read_text(storage.as_ref(), &path)?;
            match parse(&text) {
                Ok(parsed) => offsets = parsed,
                Err(why) => tracing::warn!(
                    path = %path.display(),
                    "ignoring a malformed offset checkpoint ({why}): {consequence}"
                ),
            }
        }
        Ok(Self { storage, path, offsets: Mutex::new(offsets) })
    }

    /// The checkpointed offset of a partition.
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.lock().get(&(topic.to_owned(), partition)).copied()
    }

    /// Records new offsets and forgets `removed` partitions, then rewrites the file (unless it
    /// exists and nothing changed).
    pub fn update(
        &self,
        offsets: impl IntoIterator<Item = (PartitionKey, i64)>,
        removed: &[PartitionKey],
    ) -> Result<(), LogError> {
        let mut current = self.lock();
        let mut changed = false;
        for (key, offset) in offsets {
            changed |= current.insert(key, offset) != Some(offset);
        }
        for key in removed {
            changed |= current.remove(key).is_some();
        }
        if !changed && self.storage.exists(&self.path) {
            return Ok(());
        }
        let mut text = format!("0\n{}\n", current.len());
        for ((topic, partition), offset) in current.iter() {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        write_atomically(self.storage.as_ref(), &self.path, text.as_bytes())
    }

    /// Forgets `removed` partitions, rewriting the file only if one of them had an entry.
    pub fn forget(&self, removed: &[PartitionKey]) -> Result<(), LogError> {
        if removed.iter().any(|key| self.lock().contains_key(key)) {
            self.update([], removed)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<PartitionKey, i64>> {
        self.offsets.lock().expect("offset checkpoint lock poisoned")
    }
}

/// The recovery points of one log directory's partitions (`recovery-point-offset-checkpoint`).
/// Shared by the log manager (which checkpoints every partition periodically and on shutdown)
/// and the metadata store (which checkpoints the metadata log after every commit).
pub struct RecoveryPoints(OffsetCheckpointFile);

impl RecoveryPoints {
    /// Reads the checkpoint of `log_dir`; a missing file is an empty checkpoint (a new log
    /// directory, or one written before checkpoints existed: recovery then starts at each
    /// log's active segment). A malformed file is reported and ignored the same way.
    pub fn read(storage: Arc<dyn Storage>, log_dir: &Path) -> Result<Self, LogError> {
        OffsetCheckpointFile::read(
            storage,
            log_dir,
            RECOVERY_POINT_CHECKPOINT,
            "every log recovers from its active segment",
        )
        .map(Self)
    }

    /// The checkpointed recovery point of a partition.
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.get(topic, partition)
    }

    /// Records new recovery points and forgets `removed` partitions, then rewrites the file.
    /// A recovery point moves back only with a truncation of its log.
    pub fn update(
        &self,
        points: impl IntoIterator<Item = (PartitionKey, i64)>,
        removed: &[PartitionKey],
    ) -> Result<(), LogError> {
        self.0.update(points, removed)
    }
}

/// The high watermarks of one log directory's partitions (`replication-offset-checkpoint`).
pub struct HighWatermarks(OffsetCheckpointFile);

impl HighWatermarks {
    /// Reads the checkpoint of `log_dir`; missing or malformed, no partition has a
    /// checkpointed high watermark.
    pub fn read(storage: Arc<dyn Storage>, log_dir: &Path) -> Result<Self, LogError> {
        OffsetCheckpointFile::read(
            storage,
            log_dir,
            HIGH_WATERMARK_CHECKPOINT,
            "no partition has a checkpointed high watermark",
        )
        .map(Self)
    }

    /// The checkpointed high watermark of a partition.
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.get(topic, partition)
    }

    /// Records new high watermarks, then rewrites the file.
    pub fn update(
        &self,
        hws: impl IntoIterator<Item = (PartitionKey, i64)>,
    ) -> Result<(), LogError> {
        self.0.update(hws, &[])
    }

    /// Drops the entries of removed partitions.
    pub fn forget(&self, removed: &[PartitionKey]) -> Result<(), LogError> {
        self.0.forget(removed)
    }
}

/// Whether the last run of the broker on `log_dir` shut down cleanly.
pub fn had_clean_shutdown(storage: &dyn Storage, log_dir: &Path) -> bool {
    storage.exists(&log_dir.join(CLEAN_SHUTDOWN_FILE))
}

/// Removes the clean-shutdown marker (once a start succeeded), so that a crash of the new run
/// is not mistaken for a clean shutdown on the next start.
pub fn remove_clean_shutdown_marker(storage: &dyn Storage, log_dir: &Path) -> Result<(), LogError> {
    let path = log_dir.join(CLEAN_SHUTDOWN_FILE);
    if !storage.exists(&path) {
        return Ok(());
    }
    storage.remove_file(&path).map_err(storage_err(format!("removing {}", path.display())))
}

/// Marks a clean shutdown of `log_dir`: called after every log was flushed and checkpointed.
pub fn write_clean_shutdown_marker(storage: &dyn Storage, log_dir: &Path) -> Result<(), LogError> {
    // Kafka's content; a single node has no broker epoch to record.
    write_atomically(
        storage,
        &log_dir.join(CLEAN_SHUTDOWN_FILE),
        b"{\"version\":0,\"brokerEpoch\":-1}",
    )
}

fn parse(text: &str) -> Result<BTreeMap<PartitionKey, i64>, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some("0") => {}
        other => return Err(format!("version line {other:?}, expected 0")),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| "missing entry count".to_owned())?;
    let mut points = BTreeMap::new();
    for line in lines.by_ref().take(count) {
        let mut fields = line.split(' ');
        let (Some(topic), Some(partition), Some(offset), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(format!("malformed line {line:?}"));
        };
        let partition = partition.parse().map_err(|_| format!("malformed line {line:?}"))?;
        let offset = offset.parse().map_err(|_| format!("malformed line {line:?}"))?;
        points.insert((topic.to_owned(), partition), offset);
    }
    if points.len() != count || lines.next().is_some() {
        return Err(format!("{} entries where the header says {count}", points.len()));
    }
    Ok(points)
}

pub(crate) fn read_text(storage: &dyn Storage, path: &Path) -> Result<String, LogError> {
    let ctx = || format!("reading {}", path.display());
    let file = storage.open(path, false).map_err(storage_err(ctx()))?;
    let mut buf = vec![0u8; file.len().map_err(storage_err(ctx()))? as usize];
    file.read_exact_at(0, &mut buf).map_err(storage_err(ctx()))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Writes `path` through a synced temporary file and a rename.
pub(crate) fn write_atomically(
    storage: &dyn Storage,
    path: &Path,
    data: &[u8],
) -> Result<(), LogError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let ctx = || format!("writing {}", path.display());
    let mut f = storage.open(&tmp, true).map_err(storage_err(ctx()))?;
    f.truncate(0).map_err(storage_err(ctx()))?;
    f.append(data).map_err(storage_err(ctx()))?;
    f.sync().map_err(storage_err(ctx()))?;
    drop(f);
    storage.rename(&tmp, path).map_err(storage_err(ctx()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    #[test]
    fn recovery_points_round_trip_in_kafkas_format() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let dir = Path::new("/data");
        storage.create_dir_all(dir).unwrap();
        let points = RecoveryPoints::read(storage.clone(), dir).unwrap();
        points.update([(("orders".to_owned(), 3), 120), (("a-b".to_owned(), 0), 7)], &[]).unwrap();
        let text = read_text(storage.as_ref(), &dir.join(RECOVERY_POINT_CHECKPOINT)).unwrap();
        assert_eq!(text, "0\n2\na-b 0 7\norders 3 120\n");
        points.update([], &[("a-b".to_owned(), 0)]).unwrap();
        let again = RecoveryPoints::read(storage, dir).unwrap();
        assert_eq!(again.get("orders", 3), Some(120));
        assert_eq!(again.get("a-b", 0), None);
    }

    #[test]
    fn a_malformed_checkpoint_is_ignored() {
        for bad in ["1\n0\n", "0\n2\nx 0 1\n", "0\n1\nx zero 1\n", "0\n1\nx 0 1\ny 0 2\n"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_clean_shutdown_marker_is_written_and_removed() {
        let storage = MemoryStorage::new();
        let dir = Path::new("/data");
        storage.create_dir_all(dir).unwrap();
        assert!(!had_clean_shutdown(&storage, dir));
        write_clean_shutdown_marker(&storage, dir).unwrap();
        assert!(had_clean_shutdown(&storage, dir));
        remove_clean_shutdown_marker(&storage, dir).unwrap();
        assert!(!had_clean_shutdown(&storage, dir));
        remove_clean_shutdown_marker(&storage, dir).unwrap();
    }
}

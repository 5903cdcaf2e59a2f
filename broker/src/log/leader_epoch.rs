//! The leader-epoch cache of a partition's log, after Kafka's `LeaderEpochFileCache`: for each
//! leader epoch, the first offset written in it, persisted as `leader-epoch-checkpoint` in the
//! partition directory in Kafka's checkpoint format (version 0, the entry count, then one
//! `epoch start_offset` line per entry). OffsetForLeaderEpoch answers from it, and a follower
//! uses those answers to find where its log diverged from the leader's (KIP-101, KIP-279).
//!
//! Invariant: epochs and start offsets both increase strictly from entry to entry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checkpoint::write_atomically;
use super::{storage_err, LogError};
use crate::storage::Storage;

/// The file's name inside the partition directory, as Kafka names it.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
/// Kafka's `UNDEFINED_EPOCH` and `UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One epoch and the first offset its leader wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The first offset of that epoch.
    pub start_offset: i64,
}

/// The cache and its file.
pub struct LeaderEpochCache {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// Reads the cache of the partition in `dir`; empty when the file does not exist (a log
    /// written before the cache was kept: epochs are learnt again as leaders assign them). A
    /// file that cannot be parsed is derived data: it is logged and rewritten from nothing,
    /// as Kafka rebuilds what it can from the log.
    pub fn open(storage: Arc<dyn Storage>, dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let mut cache = Self { storage, path, entries: Vec::new() };
        if !cache.storage.exists(&cache.path) {
            return Ok(cache);
        }
        let ctx = || format!("reading {}", cache.path.display());
        let file = cache.storage.open(&cache.path, false).map_err(storage_err(ctx()))?;
        let mut bytes = vec![0u8; file.len().map_err(storage_err(ctx()))? as usize];
        file.read_exact_at(0, &mut bytes).map_err(storage_err(ctx()))?;
        match parse(&String::from_utf8_lossy(&bytes)) {
            Ok(entries) => cache.entries = entries,
            Err(why) => {
                tracing::warn!(
                    file = %cache.path.display(),
                    "{why}: the leader-epoch cache is rebuilt from the epochs leaders assign from now on (OffsetForLeaderEpoch answers UNDEFINED for older epochs, and followers truncate to the high watermark instead)"
                );
                cache.write()?;
            }
        }
        Ok(cache)
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The latest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`, as Kafka's `assign`: an epoch not newer
    /// than the latest, or starting before the latest one's start, changes nothing.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        if epoch < 0 {
            return Ok(());
        }
        if let Some(latest) = self.entries.last() {
            if epoch <= latest.epoch || start_offset < latest.start_offset {
                return Ok(());
            }
            if start_offset == latest.start_offset {
                // The previous epoch wrote nothing: the new one replaces it.
                self.entries.pop();
            }
        }
        self.entries.push(EpochEntry { epoch, start_offset });
        self.write()
    }

    /// Kafka's `endOffsetFor`: the largest epoch not above `requested` and the offset where the
    /// next epoch starts (`log_end_offset` for the latest epoch); `(UNDEFINED_EPOCH, -1)` for
    /// an epoch above every known one, or with no epochs at all.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested == UNDEFINED_EPOCH {
            return undefined;
        }
        match self.latest_epoch() {
            None => undefined,
            Some(latest) if latest == requested => (latest, log_end_offset),
            Some(_) => {
                let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
                    return undefined;
                };
                match self.entries.iter().rev().find(|e| e.epoch <= requested) {
                    // Older than every epoch kept: its end is where the first kept one starts.
                    None => (requested, higher.start_offset),
                    Some(floor) => (floor.epoch, higher.start_offset),
                }
            }
        }
    }

    /// Drops the epochs starting at or after `end_offset`, when the log is truncated to it
    /// (Kafka's `truncateFromEndAsyncFlush`).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> Result<(), LogError> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        if self.entries.len() != before {
            self.write()?;
        }
        Ok(())
    }

    /// Moves the start of the epochs to `start_offset` when the log start moves (retention,
    /// DeleteRecords): epochs that ended before it are dropped, the one it falls in starts
    /// there (Kafka's `truncateFromStartAsyncFlush`).
    pub fn truncate_from_start(&mut self, start_offset: i64) -> Result<(), LogError> {
        let covering = self.entries.iter().rposition(|e| e.start_offset <= start_offset);
        let Some(covering) = covering else { return Ok(()) };
        if covering == 0 && self.entries[0].start_offset == start_offset {
            return Ok(());
        }
        self.entries.drain(..covering);
        self.entries[0].start_offset = start_offset;
        self.write()
    }

    fn write(&self) -> Result<(), LogError> {
        debug_assert!(
            self.entries
                .windows(2)
                .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset < w[1].start_offset),
            "epochs and their start offsets increase: {:?}",
            self.entries
        );
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        write_atomically(self.storage.as_ref(), &self.path, text.as_bytes())
    }
}

/// Kafka's checkpoint text: version 0, the count, that many `epoch offset` lines.
fn parse(text: &str) -> Result<Vec<EpochEntry>, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some("0") => {}
        other => return Err(format!("unknown checkpoint version {other:?}")),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| "no entry count".to_owned())?;
    let mut entries = Vec::new();
    for line in lines.by_ref().take(count) {
        let mut fields = line.split_whitespace();
        let (Some(epoch), Some(offset), None) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!("malformed entry `{line}`"));
        };
        let (Ok(epoch), Ok(start_offset)) = (epoch.parse(), offset.parse()) else {
            return Err(format!("malformed entry `{line}`"));
        };
        let entry = EpochEntry { epoch, start_offset };
        if entries.last().is_some_and(|last: &EpochEntry| {
            last.epoch >= entry.epoch || last.start_offset >= entry.start_offset
        }) {
            return Err(format!("entry `{line}` does not follow the one before it"));
        }
        entries.push(entry);
    }
    if entries.len() != count {
        return Err(format!("{count} entries announced, {} found", entries.len()));
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err("lines after the announced entries".into());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn cache() -> (Arc<MemoryStorage>, LeaderEpochCache) {
        let storage = Arc::new(MemoryStorage::new());
        storage.create_dir_all(Path::new("/p")).unwrap();
        let cache = LeaderEpochCache::open(storage.clone(), Path::new("/p")).unwrap();
        (storage, cache)
    }

    fn file(storage: &MemoryStorage) -> String {
        let path = Path::new("/p").join(LEADER_EPOCH_CHECKPOINT);
        let file = storage.open(&path, false).unwrap();
        let mut bytes = vec![0; file.len().unwrap() as usize];
        file.read_exact_at(0, &mut bytes).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn pairs(cache: &LeaderEpochCache) -> Vec<(i32, i64)> {
        cache.entries().iter().map(|e| (e.epoch, e.start_offset)).collect()
    }

    #[test]
    fn assigned_epochs_are_kept_in_kafkas_checkpoint_format() {
        let (storage, mut cache) = cache();
        cache.assign(0, 0).unwrap();
        cache.assign(0, 5).unwrap(); // same epoch: its start stays
        cache.assign(2, 10).unwrap();
        cache.assign(1, 12).unwrap(); // older epoch: ignored
        cache.assign(3, 10).unwrap(); // epoch 2 wrote nothing: replaced
        cache.assign(5, 20).unwrap();
        assert_eq!(pairs(&cache), [(0, 0), (3, 10), (5, 20)]);
        assert_eq!(file(&storage), "0\n3\n0 0\n3 10\n5 20\n");
        let reopened = LeaderEpochCache::open(storage.clone(), Path::new("/p")).unwrap();
        assert_eq!(pairs(&reopened), pairs(&cache));
    }

    /// Kafka's `endOffsetFor` cases (LeaderEpochFileCacheTest).
    #[test]
    fn end_offsets_for_epochs_answer_as_kafka_does() {
        let (_, mut cache) = cache();
        assert_eq!(cache.end_offset_for(0, 0), (UNDEFINED_EPOCH, -1), "no epochs yet");
        cache.assign(2, 6).unwrap();
        cache.assign(4, 11).unwrap();
        cache.assign(7, 20).unwrap();
        let leo = 25;
        assert_eq!(cache.end_offset_for(7, leo), (7, 25), "the latest ends at the log end");
        assert_eq!(cache.end_offset_for(4, leo), (4, 20));
        assert_eq!(cache.end_offset_for(5, leo), (4, 20), "an unknown epoch: the floor's end");
        assert_eq!(cache.end_offset_for(1, leo), (1, 6), "older than all: the first start");
        assert_eq!(cache.end_offset_for(8, leo), (UNDEFINED_EPOCH, -1), "newer than all");
        assert_eq!(cache.end_offset_for(UNDEFINED_EPOCH, leo), (UNDEFINED_EPOCH, -1));
    }

    #[test]
    fn truncation_drops_or_moves_epochs() {
        let (storage, mut cache) = cache();
        for (epoch, start) in [(1, 0), (2, 10), (3, 20)] {
            cache.assign(epoch, start).unwrap();
        }
        cache.truncate_from_end(20).unwrap();
        assert_eq!(pairs(&cache), [(1, 0), (2, 10)]);
        cache.truncate_from_end(15).unwrap();
        assert_eq!(pairs(&cache), [(1, 0), (2, 10)], "an offset inside epoch 2 keeps it");
        cache.truncate_from_start(12).unwrap();
        assert_eq!(pairs(&cache), [(2, 12)]);
        cache.truncate_from_start(5).unwrap();
        assert_eq!(pairs(&cache), [(2, 12)], "a start below every epoch changes nothing");
        assert_eq!(file(&storage), "0\n1\n2 12\n");
    }

    #[test]
    fn a_garbled_checkpoint_is_reported_and_rewritten() {
        let (storage, _) = cache();
        let path = Path::new("/p").join(LEADER_EPOCH_CHECKPOINT);
        for garbage in ["1\n0\n", "0\n2\n0 0\n", "0\n2\n3 5\n1 9\n", "0\n1\nx 1\n"] {
            write_atomically(storage.as_ref(), &path, garbage.as_bytes()).unwrap();
            let cache = LeaderEpochCache::open(storage.clone(), Path::new("/p")).unwrap();
            assert!(cache.entries().is_empty(), "{garbage:?}");
            assert_eq!(file(&storage), "0\n0\n");
        }
    }
}

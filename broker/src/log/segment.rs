//! One log segment: `<base offset>.log` plus its sparse `.index` and `.timeindex`.

use std::io;
use std::path::{Path, PathBuf};

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::producer::ProducerStateTable;
use crate::storage::{Storage, StorageFile};

/// Size of an `.index` entry: relative offset u32 BE + physical position u32 BE.
pub const INDEX_ENTRY_LEN: usize = 8;
/// Size of a `.timeindex` entry: timestamp i64 BE + relative offset u32 BE.
pub const TIME_INDEX_ENTRY_LEN: usize = 12;

/// Kafka's file name for a segment file: the base offset zero-padded to 20 digits.
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// The parsed header fields the segment needs while scanning, copied out of a header.
#[derive(Debug, Clone, Copy)]
pub struct ScannedBatch {
    /// Position of the batch in the `.log` file.
    pub position: u64,
    /// Total size in bytes.
    pub size: u64,
    /// First offset.
    pub base_offset: i64,
    /// Last offset.
    pub last_offset: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
}

impl ScannedBatch {
    fn of(h: &BatchHeader<'_>, position: u64) -> Self {
        ScannedBatch {
            position,
            size: h.total_size().unwrap_or(0) as u64,
            base_offset: h.base_offset(),
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp(),
        }
    }
}

/// Where a segment stops being readable: a batch header below the recovery point that does not
/// parse. Those bytes were durable, so they are corruption, not a torn write: they are kept on
/// disk and reads of the offsets they hold answer CORRUPT_MESSAGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptRegion {
    /// Position of the first unreadable byte in the `.log` file.
    pub position: u64,
    /// The first offset that cannot be read.
    pub first_offset: i64,
}

/// What [`Segment::recover`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentRecovery {
    /// Bytes truncated from a torn tail above the recovery point.
    pub truncated_bytes: u64,
    /// Corruption below the recovery point, kept as it is.
    pub corrupt: Option<CorruptRegion>,
    /// The `.index`/`.timeindex` files did not match the log and were rewritten.
    pub rebuilt_indexes: bool,
}

/// An open segment and its in-memory index state.
///
/// Only the `.log` file stays open. The sparse indexes live in memory (they are rebuilt from the
/// log on recovery anyway) and reach their files on [`Segment::sync`]: one open file per
/// partition instead of three, so 10,000 partitions fit a 20,000 open-file limit.
pub struct Segment {
    /// Offset of the first record this segment may hold; names its files.
    pub base_offset: i64,
    log_path: PathBuf,
    index_path: PathBuf,
    time_index_path: PathBuf,
    log: Box<dyn StorageFile>,
    /// Bytes in the `.log` file.
    pub size: u64,
    /// Last offset + 1, or the base offset while empty.
    pub next_offset: i64,
    /// Largest record timestamp, -1 while empty.
    pub max_timestamp: i64,
    /// Position and base offset of the first batch carrying `max_timestamp`.
    pub max_timestamp_batch: Option<(u64, i64)>,
    /// Offset (batch last offset, as Kafka's time index stores) of the max timestamp so far.
    offset_of_max_timestamp: i64,
    offset_entries: Vec<(u32, u32)>,
    time_entries: Vec<(i64, u32)>,
    /// How many of `offset_entries` / `time_entries` are in the index files.
    index_entries_written: usize,
    time_entries_written: usize,
    bytes_since_last_index: u64,
    /// When the first batch was appended (or the segment was recovered); drives `segment_ms`.
    pub rolling_base_ms: Option<i64>,
    /// Whether bytes were written since the last sync.
    pub dirty: bool,
    /// Unreadable bytes found by recovery below the recovery point, if any.
    pub corrupt: Option<CorruptRegion>,
}

impl Segment {
    /// Open (creating if needed) the three files of the segment at `base_offset` in `dir`.
    /// A fresh segment (`truncate`) starts with empty files.
    pub fn open(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
        truncate: bool,
    ) -> io::Result<Self> {
        let log_path = dir.join(file_name(base_offset, ".log"));
        let index_path = dir.join(file_name(base_offset, ".index"));
        let time_index_path = dir.join(file_name(base_offset, ".timeindex"));
        let mut log = storage.open(&log_path, true)?;
        if truncate {
            log.truncate(0)?;
            // Stale indexes of an earlier segment at this offset must not survive.
            for path in [&index_path, &time_index_path] {
                storage.open(path, true)?.truncate(0)?;
            }
        }
        let size = log.len()?;
        Ok(Segment {
            base_offset,
            log_path,
            index_path,
            time_index_path,
            log,
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            max_timestamp_batch: None,
            offset_of_max_timestamp: base_offset,
            offset_entries: Vec::new(),
            time_entries: Vec::new(),
            index_entries_written: 0,
            time_entries_written: 0,
            bytes_since_last_index: 0,
            rolling_base_ms: None,
            dirty: truncate,
            corrupt: None,
        })
    }

    /// Path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Whether the segment holds no batch.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Bytes of the `.log` file that can be read batch by batch: all of them, or those before a
    /// corrupt region.
    pub fn readable_size(&self) -> u64 {
        self.corrupt.map_or(self.size, |c| c.position)
    }

    /// Account for a batch at `position` in the in-memory state, adding index entries by
    /// Kafka's rule: an entry once more than `index_interval_bytes` accumulated.
    fn track(&mut self, b: &ScannedBatch, index_interval: u32) {
        if b.max_timestamp > self.max_timestamp {
            self.max_timestamp = b.max_timestamp;
            self.offset_of_max_timestamp = b.last_offset;
            self.max_timestamp_batch = Some((b.position, b.base_offset));
        }
        if self.bytes_since_last_index > u64::from(index_interval) {
            let rel = (b.last_offset - self.base_offset) as u32;
            self.offset_entries.push((rel, b.position as u32));
            self.add_time_entry_if_newer();
            self.bytes_since_last_index = 0;
        }
        self.bytes_since_last_index += b.size;
        self.next_offset = b.last_offset + 1;
    }

    /// Adds a time index entry for the max timestamp so far, if it is larger than the last.
    fn add_time_entry_if_newer(&mut self) {
        if self.max_timestamp < 0
            || self.time_entries.last().is_some_and(|e| e.0 >= self.max_timestamp)
        {
            return;
        }
        let rel = (self.offset_of_max_timestamp - self.base_offset) as u32;
        self.time_entries.push((self.max_timestamp, rel));
    }

    /// Append already validated and patched batches (`data`, described by `batches` with
    /// positions relative to `data`). The log write is all-or-nothing.
    pub fn append(
        &mut self,
        data: &[u8],
        batches: &[ScannedBatch],
        index_interval: u32,
        now_ms: i64,
    ) -> io::Result<()> {
        let start = self.size;
        if let Err(e) = self.log.append(data) {
            // Keep the file ending on a batch boundary whatever the storage left behind.
            let _ = self.log.truncate(start);
            return Err(e);
        }
        self.size += data.len() as u64;
        self.dirty = true;
        self.rolling_base_ms.get_or_insert(now_ms);
        for b in batches {
            let b = ScannedBatch { position: start + b.position, ..*b };
            self.track(&b, index_interval);
        }
        Ok(())
    }

    /// Read the header of the batch at `position`, if a whole header lies before the end of
    /// the readable bytes.
    pub fn header_at(&self, position: u64) -> io::Result<Option<[u8; HEADER_LEN]>> {
        if position + HEADER_LEN as u64 > self.readable_size() {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        self.log.read_exact_at(position, &mut buf)?;
        Ok(Some(buf))
    }

    /// Read `len` bytes of the `.log` file at `position`.
    pub fn read(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.log.read_exact_at(position, &mut buf)?;
        Ok(buf)
    }

    /// Position of a batch at or before the batch containing `offset` (sparse index lookup).
    pub fn lookup_position(&self, offset: i64) -> u64 {
        let rel = offset - self.base_offset;
        if rel < 0 {
            return 0;
        }
        let idx = self.offset_entries.partition_point(|e| i64::from(e.0) <= rel);
        if idx == 0 {
            0
        } else {
            u64::from(self.offset_entries[idx - 1].1)
        }
    }

    /// Position to start scanning for the first record with timestamp >= `timestamp`: every
    /// record before the batch holding the last time index entry below it is older.
    pub fn lookup_time_position(&self, timestamp: i64) -> u64 {
        let idx = self.time_entries.partition_point(|e| e.0 < timestamp);
        if idx == 0 {
            0
        } else {
            self.lookup_position(self.base_offset + i64::from(self.time_entries[idx - 1].1))
        }
    }

    /// Scan the `.log` file from the start, rebuilding in-memory state and indexes and
    /// feeding idempotent batches to `producers`. `sealed` marks a segment that is no longer
    /// active.
    ///
    /// Batches below `recovery_point` were made durable before the last checkpoint, so only
    /// their headers are checked, and a header that does not parse there is corruption: it is
    /// kept, and reported as [`SegmentRecovery::corrupt`]. From the recovery point on, where a
    /// crash can leave a torn write, every batch's CRC-32C is verified and the file is
    /// truncated at the first one that fails.
    pub fn recover(
        &mut self,
        storage: &dyn Storage,
        recovery_point: i64,
        sealed: bool,
        index_interval: u32,
        producers: &mut ProducerStateTable,
    ) -> io::Result<SegmentRecovery> {
        let file_len = self.log.len()?;
        self.size = file_len;
        self.corrupt = None;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.max_timestamp_batch = None;
        self.offset_of_max_timestamp = self.base_offset;
        self.offset_entries.clear();
        self.time_entries.clear();
        self.bytes_since_last_index = 0;
        let mut pos = 0u64;
        while let Some(hbuf) = self.header_at(pos)? {
            let h = BatchHeader::parse(&hbuf).expect("a full header was read");
            let size = match h.total_size() {
                Some(n) if n >= HEADER_LEN && pos + n as u64 <= file_len => n,
                _ => break,
            };
            let plausible = h.magic() == 2
                && h.last_offset_delta() >= 0
                && h.base_offset() >= self.next_offset
                && h.last_offset() - self.base_offset <= i64::from(u32::MAX);
            if !plausible {
                break;
            }
            let above_recovery_point = self.next_offset >= recovery_point;
            if above_recovery_point && batch::validate(&self.read(pos, size)?).is_err() {
                break;
            }
            self.track(&ScannedBatch::of(&h, pos), index_interval);
            if h.is_idempotent() {
                producers.update(&h);
            }
            pos += size as u64;
        }
        let mut outcome = SegmentRecovery::default();
        if pos < file_len {
            if self.next_offset < recovery_point {
                // Durable bytes that do not parse: never cut what a crash cannot have torn.
                let region = CorruptRegion { position: pos, first_offset: self.next_offset };
                self.corrupt = Some(region);
                outcome.corrupt = Some(region);
            } else {
                self.log.truncate(pos)?;
                self.log.sync()?;
                self.size = pos;
                outcome.truncated_bytes = file_len - pos;
            }
        }
        if sealed {
            // A sealed segment's time index ends with its final max timestamp (see `seal`).
            self.add_time_entry_if_newer();
        }
        let (index_bytes, time_bytes) = (self.index_bytes(0), self.time_index_bytes(0));
        outcome.rebuilt_indexes = rewrite_if_different(storage, &self.index_path, &index_bytes)?
            | rewrite_if_different(storage, &self.time_index_path, &time_bytes)?;
        self.index_entries_written = self.offset_entries.len();
        self.time_entries_written = self.time_entries.len();
        Ok(outcome)
    }

    /// Cut every batch whose last offset is `offset` or more (Kafka's `LogSegment.truncateTo`,
    /// by whole batches), sync the file, and rebuild the in-memory state and the index files
    /// from what is left. Returns the bytes cut.
    pub fn truncate_to(
        &mut self,
        storage: &dyn Storage,
        offset: i64,
        index_interval: u32,
    ) -> io::Result<u64> {
        let mut pos = self.lookup_position(offset);
        while let Some(hbuf) = self.header_at(pos)? {
            let h = BatchHeader::parse(&hbuf).expect("a full header was read");
            match h.total_size() {
                Some(n) if n >= HEADER_LEN && h.last_offset() < offset => pos += n as u64,
                _ => break,
            }
        }
        // `pos` is the first batch to go, or the start of a corrupt region holding `offset`.
        if pos >= self.size {
            return Ok(0);
        }
        let cut = self.size - pos;
        self.log.truncate(pos)?;
        // A truncation that a crash could undo would bring back the records it removed.
        self.log.sync()?;
        // What is left was appended or recovered before: only headers are read (no CRC), and
        // corruption kept by recovery below `pos` stays kept.
        let rescan = self.recover(
            storage,
            i64::MAX,
            false,
            index_interval,
            &mut ProducerStateTable::default(),
        )?;
        debug_assert_eq!(rescan.truncated_bytes, 0, "a rescan below the cut truncates nothing");
        self.dirty = false;
        if self.is_empty() {
            self.rolling_base_ms = None;
        }
        Ok(cut)
    }

    /// Called when the segment stops being the active one: record its final max timestamp in
    /// the time index (so it is known without scanning) and make everything durable.
    pub fn seal(&mut self, storage: &dyn Storage) -> io::Result<()> {
        self.add_time_entry_if_newer();
        self.dirty = true;
        self.sync(storage)
    }

    /// fsync the log and write the index entries added since the last sync, if anything was
    /// written. Index files are opened only for this, then closed again.
    pub fn sync(&mut self, storage: &dyn Storage) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.log.sync()?;
        let pending = self.index_bytes(self.index_entries_written);
        append_and_sync(storage, &self.index_path, &pending)?;
        self.index_entries_written = self.offset_entries.len();
        let pending = self.time_index_bytes(self.time_entries_written);
        append_and_sync(storage, &self.time_index_path, &pending)?;
        self.time_entries_written = self.time_entries.len();
        self.dirty = false;
        Ok(())
    }

    /// `.index` file bytes of the entries from `from` on.
    fn index_bytes(&self, from: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.offset_entries.len() - from) * INDEX_ENTRY_LEN);
        for (rel, position) in &self.offset_entries[from..] {
            out.extend_from_slice(&rel.to_be_bytes());
            out.extend_from_slice(&position.to_be_bytes());
        }
        out
    }

    /// `.timeindex` file bytes of the entries from `from` on.
    fn time_index_bytes(&self, from: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.time_entries.len() - from) * TIME_INDEX_ENTRY_LEN);
        for (timestamp, rel) in &self.time_entries[from..] {
            out.extend_from_slice(&timestamp.to_be_bytes());
            out.extend_from_slice(&rel.to_be_bytes());
        }
        out
    }

    /// Remove the segment's files.
    pub fn delete_files(self, storage: &dyn Storage) -> io::Result<()> {
        for path in [&self.log_path, &self.index_path, &self.time_index_path] {
            match storage.remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Number of `.index` entries.
    #[cfg(test)]
    pub fn index_entries(&self) -> usize {
        self.offset_entries.len()
    }
}

/// Append `data` to the file at `path` (created if missing) and sync it; nothing if empty.
fn append_and_sync(storage: &dyn Storage, path: &Path, data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut file = storage.open(path, true)?;
    file.append(data)?;
    file.sync()
}

/// Replace a file's content with `expected` unless it already matches, then sync it; whether
/// it was rewritten.
fn rewrite_if_different(storage: &dyn Storage, path: &Path, expected: &[u8]) -> io::Result<bool> {
    let mut file = storage.open(path, true)?;
    let file = file.as_mut();
    let len = file.len()?;
    if len == expected.len() as u64 {
        let mut cur = vec![0u8; expected.len()];
        file.read_exact_at(0, &mut cur)?;
        if cur == expected {
            return Ok(false);
        }
    }
    file.truncate(0)?;
    file.append(expected)?;
    file.sync()?;
    Ok(true)
}

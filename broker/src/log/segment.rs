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

/// An open segment and its in-memory index state.
pub struct Segment {
    /// Offset of the first record this segment may hold; names its files.
    pub base_offset: i64,
    log_path: PathBuf,
    index_path: PathBuf,
    time_index_path: PathBuf,
    log: Box<dyn StorageFile>,
    index: Box<dyn StorageFile>,
    time_index: Box<dyn StorageFile>,
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
    bytes_since_last_index: u64,
    /// When the first batch was appended (or the segment was recovered); drives `segment_ms`.
    pub rolling_base_ms: Option<i64>,
    /// Whether bytes were written since the last sync.
    pub dirty: bool,
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
        let mut index = storage.open(&index_path, true)?;
        let mut time_index = storage.open(&time_index_path, true)?;
        if truncate {
            log.truncate(0)?;
            index.truncate(0)?;
            time_index.truncate(0)?;
        }
        let size = log.len()?;
        Ok(Segment {
            base_offset,
            log_path,
            index_path,
            time_index_path,
            log,
            index,
            time_index,
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            max_timestamp_batch: None,
            offset_of_max_timestamp: base_offset,
            offset_entries: Vec::new(),
            time_entries: Vec::new(),
            bytes_since_last_index: 0,
            rolling_base_ms: None,
            dirty: truncate,
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

    /// Account for a batch at `position` in the in-memory state and return the index entries
    /// it produces (Kafka's rule: an entry once more than `index_interval_bytes` accumulated).
    fn track(
        &mut self,
        b: &ScannedBatch,
        index_interval: u32,
    ) -> (Option<[u8; 8]>, Option<[u8; 12]>) {
        if b.max_timestamp > self.max_timestamp {
            self.max_timestamp = b.max_timestamp;
            self.offset_of_max_timestamp = b.last_offset;
            self.max_timestamp_batch = Some((b.position, b.base_offset));
        }
        let mut entries = (None, None);
        if self.bytes_since_last_index > u64::from(index_interval) {
            let rel = (b.last_offset - self.base_offset) as u32;
            self.offset_entries.push((rel, b.position as u32));
            let mut e = [0u8; INDEX_ENTRY_LEN];
            e[..4].copy_from_slice(&rel.to_be_bytes());
            e[4..].copy_from_slice(&(b.position as u32).to_be_bytes());
            entries.0 = Some(e);
            entries.1 = self.time_entry_if_newer();
            self.bytes_since_last_index = 0;
        }
        self.bytes_since_last_index += b.size;
        self.next_offset = b.last_offset + 1;
        entries
    }

    /// A time index entry for the max timestamp so far, if it is larger than the last entry.
    fn time_entry_if_newer(&mut self) -> Option<[u8; 12]> {
        if self.max_timestamp < 0
            || self.time_entries.last().is_some_and(|e| e.0 >= self.max_timestamp)
        {
            return None;
        }
        let rel = (self.offset_of_max_timestamp - self.base_offset) as u32;
        self.time_entries.push((self.max_timestamp, rel));
        let mut e = [0u8; TIME_INDEX_ENTRY_LEN];
        e[..8].copy_from_slice(&self.max_timestamp.to_be_bytes());
        e[8..].copy_from_slice(&rel.to_be_bytes());
        Some(e)
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
        let mut index_bytes = Vec::new();
        let mut time_bytes = Vec::new();
        for b in batches {
            let b = ScannedBatch { position: start + b.position, ..*b };
            let (oi, ti) = self.track(&b, index_interval);
            index_bytes.extend(oi.iter().flatten());
            time_bytes.extend(ti.iter().flatten());
        }
        if !index_bytes.is_empty() {
            self.index.append(&index_bytes)?;
        }
        if !time_bytes.is_empty() {
            self.time_index.append(&time_bytes)?;
        }
        Ok(())
    }

    /// Read the header of the batch at `position`, if a whole header lies before the end.
    pub fn header_at(&self, position: u64) -> io::Result<Option<[u8; HEADER_LEN]>> {
        if position + HEADER_LEN as u64 > self.size {
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
    /// feeding idempotent batches to `producers`. With `verify_crc`, every batch is fully
    /// read and checked; otherwise only headers are checked. `sealed` marks a segment that is
    /// no longer active. Returns the number of bytes
    /// truncated from a torn or corrupt tail.
    pub fn recover(
        &mut self,
        verify_crc: bool,
        sealed: bool,
        index_interval: u32,
        producers: &mut ProducerStateTable,
    ) -> io::Result<u64> {
        let file_len = self.log.len()?;
        self.size = file_len;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.max_timestamp_batch = None;
        self.offset_of_max_timestamp = self.base_offset;
        self.offset_entries.clear();
        self.time_entries.clear();
        self.bytes_since_last_index = 0;
        let mut index_bytes = Vec::new();
        let mut time_bytes = Vec::new();
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
            if verify_crc && batch::validate(&self.read(pos, size)?).is_err() {
                break;
            }
            let b = ScannedBatch::of(&h, pos);
            let (oi, ti) = self.track(&b, index_interval);
            index_bytes.extend(oi.iter().flatten());
            time_bytes.extend(ti.iter().flatten());
            if h.is_idempotent() {
                producers.update(&h);
            }
            pos += size as u64;
        }
        if sealed {
            // A sealed segment's time index ends with its final max timestamp (see `seal`).
            time_bytes.extend(self.time_entry_if_newer().iter().flatten());
        }
        let cut = file_len - pos;
        if cut > 0 {
            self.log.truncate(pos)?;
            self.log.sync()?;
            self.size = pos;
        }
        rewrite_if_different(self.index.as_mut(), &index_bytes)?;
        rewrite_if_different(self.time_index.as_mut(), &time_bytes)?;
        Ok(cut)
    }

    /// Called when the segment stops being the active one: record its final max timestamp in
    /// the time index (so it is known without scanning) and make everything durable.
    pub fn seal(&mut self) -> io::Result<()> {
        if let Some(e) = self.time_entry_if_newer() {
            self.time_index.append(&e)?;
        }
        self.sync()
    }

    /// fsync the three files if anything was written since the last sync.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.log.sync()?;
            self.index.sync()?;
            self.time_index.sync()?;
            self.dirty = false;
        }
        Ok(())
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

/// Replace a file's content with `expected` unless it already matches, then sync it.
fn rewrite_if_different(file: &mut dyn StorageFile, expected: &[u8]) -> io::Result<()> {
    let len = file.len()?;
    if len == expected.len() as u64 {
        let mut cur = vec![0u8; expected.len()];
        file.read_exact_at(0, &mut cur)?;
        if cur == expected {
            return Ok(());
        }
    }
    file.truncate(0)?;
    file.append(expected)?;
    file.sync()
}

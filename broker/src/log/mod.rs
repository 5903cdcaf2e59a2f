//! Kafka's on-disk partition log.
//!
//! A partition directory `<log_dir>/<topic>-<partition>/` holds segments named by their base
//! offset (`00000000000000000000.log`, `.index`, `.timeindex`), exactly as Kafka lays them out.
//! Record batches are stored byte-for-byte as the producer sent them; only the base offset and
//! the partition leader epoch (both outside the CRC) are patched.
//!
//! Durability and recovery:
//! - Appends reach the OS immediately; `fsync` happens per the flush policy
//!   (`flush_interval_messages` / `flush_interval_ms`, by default left to the OS, as in Kafka)
//!   and always when a segment is rolled (the sealed segment is synced before the new one is
//!   created), so only the active segment can have a torn tail.
//! - Each log has a recovery point: every offset below it is known to be durable (fsynced).
//!   It moves on every flush and roll, and the broker checkpoints it to
//!   `recovery-point-offset-checkpoint` in the log directory (see [`checkpoint`]). Sealed
//!   segments are synced when they roll, so the recovery point is never below the active
//!   segment's base offset.
//! - On open, batches below the recovery point are scanned header by header; a header that does
//!   not parse there is corruption, not a torn write, so nothing is truncated: the bytes stay on
//!   disk, the start-up log names the file and position, and reads of those offsets answer
//!   CORRUPT_MESSAGE. From the recovery point on, every batch's CRC-32C is verified and a torn
//!   tail is truncated (logged with the bytes and offsets cut). Indexes are rebuilt from the
//!   scan and rewritten only when they differ from the files.
//! - The idempotent producer state is rebuilt on open from the batch headers of the whole log
//!   (no producer snapshots yet), so producers whose batches were all deleted by retention are
//!   forgotten on restart and get `UNKNOWN_PRODUCER_ID`.
//! - A follower truncates its log where it diverged from the leader's
//!   ([`PartitionLog::truncate_to`]): the cut is synced at once, so a crash never brings back
//!   records a truncation removed, and the recovery point comes down with the log end.
//! - The log start offset is the base offset of the first segment, unless `DeleteRecords`
//!   moved it further: then it is persisted in the partition directory's
//!   `log-start-offset.checkpoint` file (written to a temporary file, synced, renamed).

pub(crate) mod batch;
pub mod checkpoint;
pub mod compression;
pub mod leader_epoch;
pub mod manager;
mod producer;
mod segment;
pub mod validator;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;

pub use batch::{BatchHeader, HEADER_LEN};
pub use manager::LogManager;
use producer::{check_sequence, BatchMetadata, ProducerEntry, ProducerStateTable, SequenceCheck};
pub use segment::CorruptRegion;
use segment::{ScannedBatch, Segment};

use crate::error::ApiError;
use crate::storage::Storage;

/// File (inside the partition directory) persisting a log start offset set by DeleteRecords.
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset.checkpoint";

/// Errors of the log; each maps to one Kafka error code ([`LogError::error_code`]).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// OFFSET_OUT_OF_RANGE (1).
    #[error("offset out of range: {0}")]
    OffsetOutOfRange(String),
    /// CORRUPT_MESSAGE (2): bad CRC or framing.
    #[error("corrupt record: {0}")]
    CorruptRecord(String),
    /// INVALID_RECORD (87): well-framed but semantically unacceptable.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// MESSAGE_TOO_LARGE (10): the batches cannot fit in one segment.
    #[error("record too large: {0}")]
    RecordTooLarge(String),
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    /// UNKNOWN_PRODUCER_ID (59).
    #[error("unknown producer id: {0}")]
    UnknownProducerId(String),
    /// INVALID_PRODUCER_EPOCH (47).
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// A follower's append does not continue its log (Kafka's
    /// `UnexpectedAppendOffsetException`, which reaches no client: UNKNOWN_SERVER_ERROR, -1).
    #[error("unexpected append offset: {message}")]
    UnexpectedAppendOffset {
        /// What was expected and what came.
        message: String,
        /// Base offset of the append's first batch.
        first_offset: i64,
        /// Last offset of the append's last batch.
        last_offset: i64,
    },
    /// KAFKA_STORAGE_ERROR (56).
    #[error("storage error ({context}): {source}")]
    Storage {
        /// What was being done, and where.
        context: String,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
}

impl LogError {
    /// The Kafka protocol error code to answer with.
    pub fn error_code(&self) -> i16 {
        match self {
            LogError::OffsetOutOfRange(_) => 1,
            LogError::CorruptRecord(_) => 2,
            LogError::RecordTooLarge(_) => 10,
            LogError::OutOfOrderSequence(_) => 45,
            LogError::InvalidProducerEpoch(_) => 47,
            LogError::Storage { .. } => 56,
            LogError::UnknownProducerId(_) => 59,
            LogError::InvalidRecord(_) => 87,
            LogError::UnexpectedAppendOffset { .. } => -1,
        }
    }

    fn prefixed(self, dir: &Path) -> Self {
        let p = |m: String| format!("partition dir {}: {m}", dir.display());
        match self {
            LogError::OffsetOutOfRange(m) => LogError::OffsetOutOfRange(p(m)),
            LogError::CorruptRecord(m) => LogError::CorruptRecord(p(m)),
            LogError::InvalidRecord(m) => LogError::InvalidRecord(p(m)),
            LogError::RecordTooLarge(m) => LogError::RecordTooLarge(p(m)),
            LogError::OutOfOrderSequence(m) => LogError::OutOfOrderSequence(p(m)),
            LogError::UnknownProducerId(m) => LogError::UnknownProducerId(p(m)),
            LogError::InvalidProducerEpoch(m) => LogError::InvalidProducerEpoch(p(m)),
            LogError::UnexpectedAppendOffset { message, first_offset, last_offset } => {
                LogError::UnexpectedAppendOffset { message: p(message), first_offset, last_offset }
            }
            e @ LogError::Storage { .. } => e,
        }
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        let error = ResponseError::try_from_code(e.error_code())
            .unwrap_or(ResponseError::UnknownServerError);
        ApiError::new(error, e.to_string())
    }
}

/// Wrap an I/O error with what was being done.
pub(crate) fn storage_err(context: impl std::fmt::Display) -> impl FnOnce(io::Error) -> LogError {
    move |source| LogError::Storage { context: context.to_string(), source }
}

/// Per-partition log configuration (Kafka topic configs of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when a segment would grow beyond this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a non-empty segment this long after its first append.
    pub segment_ms: i64,
    /// `retention.ms`: delete sealed segments whose newest record is older; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest sealed segments while the log is larger; -1 = no limit.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes between sparse index entries.
    pub index_interval_bytes: u32,
    /// `flush.messages`: fsync after this many unflushed records; `u64::MAX` leaves it to the OS.
    pub flush_interval_messages: u64,
    /// `flush.ms`: fsync when unflushed data is this old; `i64::MAX` leaves it to the OS.
    pub flush_interval_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            flush_interval_messages: u64::MAX,
            flush_interval_ms: i64::MAX,
        }
    }
}

/// Result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset assigned to the last record.
    pub last_offset: i64,
    /// LogAppendTime if the broker stamped the batches; always -1 (CreateTime only).
    pub log_append_time_ms: i64,
    /// Largest record timestamp appended.
    pub max_timestamp: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// The batch was a retry of an already appended one; nothing was written and the
    /// offsets are those of the original.
    pub duplicate: bool,
}

/// Where an append comes from, after Kafka's `AppendOrigin`: what the log assigns and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppendOrigin {
    /// The leader's own append (a producer's or a coordinator's batches): offsets assigned
    /// from the log end offset, `leader_epoch` stamped, idempotent sequences checked.
    Client { leader_epoch: i32 },
    /// A follower copying the leader's batches as they are.
    Replication,
}

/// What [`PartitionLog::enforce_retention`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub deleted_segments: usize,
    /// Whether the active segment was rolled because `segment_ms` elapsed.
    pub rolled: bool,
    /// Log start offset afterwards.
    pub log_start_offset: i64,
}

/// The log of one partition: an ordered set of segments, the last one active.
pub struct PartitionLog {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    config: LogConfig,
    /// Segments by base offset; never empty, the last one is the active segment.
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    producers: ProducerStateTable,
    unflushed_messages: u64,
    last_flush_ms: i64,
    /// The latest time passed in, for `flush()` which takes none.
    last_now_ms: i64,
    /// Every offset below this is durable; recovery after a crash starts here.
    recovery_point: i64,
    /// The last append failed on storage (logged once until an append succeeds again).
    storage_failing: bool,
    /// The first offset of each leader epoch, persisted as `leader-epoch-checkpoint`.
    epochs: leader_epoch::LeaderEpochCache,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog")
            .field("dir", &self.dir)
            .field("log_start_offset", &self.log_start_offset)
            .field("log_end_offset", &self.log_end_offset())
            .field("segments", &self.segments.len())
            .finish()
    }
}

/// Parse `<20 digits>.<suffix>` into the base offset.
fn parse_segment_name(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
        stem.parse().ok()
    } else {
        None
    }
}

impl PartitionLog {
    /// Open (or create) the log in `dir` with no checkpointed recovery point: recovery starts
    /// at the active segment (sealed segments were synced when they rolled).
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        Self::open_at_recovery_point(storage, dir, config, now_ms, None)
    }

    /// Open (or create) the log in `dir`, recovering it above `recovery_point` (the
    /// checkpointed one, if any): see the module docs.
    pub fn open_at_recovery_point(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        config: LogConfig,
        now_ms: i64,
        recovery_point: Option<i64>,
    ) -> Result<Self, LogError> {
        let d = dir.display().to_string();
        storage.create_dir_all(&dir).map_err(storage_err(format!("creating {d}")))?;
        let names = storage.list_dir(&dir).map_err(storage_err(format!("listing {d}")))?;
        let bases: Vec<i64> = names.iter().filter_map(|n| parse_segment_name(n, ".log")).collect();
        for name in &names {
            let orphan_index = parse_segment_name(name, ".index")
                .or_else(|| parse_segment_name(name, ".timeindex"))
                .is_some_and(|b| !bases.contains(&b));
            // `.deleted`/`.tmp` are leftovers of an interrupted deletion or checkpoint write.
            if orphan_index || name.ends_with(".deleted") || name.ends_with(".tmp") {
                storage
                    .remove_file(&dir.join(name))
                    .map_err(storage_err(format!("removing {d}/{name}")))?;
            }
        }
        let checkpoint = read_checkpoint(storage.as_ref(), &dir)?;
        // Sealed segments were synced when they rolled: recovery never starts below the
        // active segment, whatever the checkpoint says.
        let floor = bases.last().copied().unwrap_or(0);
        let recovery_point = recovery_point.unwrap_or(floor).max(floor);

        let mut producers = ProducerStateTable::default();
        let mut segments = BTreeMap::new();
        for (i, &base) in bases.iter().enumerate() {
            let active = i + 1 == bases.len();
            let mut seg = Segment::open(storage.as_ref(), &dir, base, false)
                .map_err(storage_err(format!("opening segment {base} in {d}")))?;
            let recovered = seg
                .recover(
                    storage.as_ref(),
                    recovery_point,
                    !active,
                    config.index_interval_bytes,
                    &mut producers,
                )
                .map_err(storage_err(format!("recovering segment {base} in {d}")))?;
            if recovered.truncated_bytes > 0 {
                tracing::warn!(
                    dir = %d,
                    segment = base,
                    truncated_bytes = recovered.truncated_bytes,
                    recovery_point,
                    log_end_offset = seg.next_offset,
                    "recovery truncated a torn tail of {} bytes from {}: it lay above the recovery point {recovery_point}, where a crash can cut a write short",
                    recovered.truncated_bytes,
                    seg.log_path().display()
                );
            }
            if recovered.rebuilt_indexes {
                tracing::info!(
                    dir = %d,
                    segment = base,
                    "rebuilt the offset and time indexes of {} from the log",
                    seg.log_path().display()
                );
            }
            if let Some(corrupt) = recovered.corrupt {
                // The corrupt bytes hold offsets up to the next segment (or, in the active
                // segment, up to the recovery point): they stay addressed, and unreadable.
                let end = bases.get(i + 1).copied().unwrap_or(recovery_point);
                debug_assert!(end >= seg.next_offset, "a corrupt region ends after its start");
                seg.next_offset = end;
                tracing::error!(
                    dir = %d,
                    file = %seg.log_path().display(),
                    position = corrupt.position,
                    first_offset = corrupt.first_offset,
                    end_offset = end,
                    recovery_point,
                    "corrupt record batch at position {} of {}, below the recovery point {recovery_point}: kept as it is (nothing truncated); fetches of offsets {}..{end} answer CORRUPT_MESSAGE. Restore the file from a backup or a replica to read them again",
                    corrupt.position,
                    seg.log_path().display(),
                    corrupt.first_offset,
                );
            }
            if active && !seg.is_empty() {
                // The first-append time is not persisted: restart the `segment_ms` clock.
                seg.rolling_base_ms = Some(now_ms);
            }
            segments.insert(base, seg);
        }

        let epochs = leader_epoch::LeaderEpochCache::open(storage.clone(), &dir)?;
        let mut log = PartitionLog {
            storage,
            dir,
            config,
            segments,
            log_start_offset: 0,
            producers,
            unflushed_messages: 0,
            last_flush_ms: now_ms,
            last_now_ms: now_ms,
            recovery_point,
            storage_failing: false,
            epochs,
        };
        if log.segments.is_empty() {
            log.roll_to(checkpoint.unwrap_or(0))?;
        }
        let first_base = *log.segments.keys().next().expect("at least one segment");
        log.log_start_offset = checkpoint.unwrap_or(first_base).max(first_base);
        if log.log_start_offset > log.log_end_offset() {
            // Unflushed records below a persisted log start offset were lost in a crash: the
            // log restarts empty at the log start offset, as Kafka does.
            tracing::warn!(
                dir = %d,
                log_start_offset = log.log_start_offset,
                log_end_offset = log.log_end_offset(),
                "log end offset is below the checkpointed log start offset; truncating fully"
            );
            let start = log.log_start_offset;
            log.truncate_fully_and_start_at(start)?;
        }
        if log.log_end_offset() < log.recovery_point {
            // Bytes below the recovery point were durable: something outside the broker removed
            // or shortened a segment file.
            tracing::error!(
                dir = %d,
                log_end_offset = log.log_end_offset(),
                recovery_point = log.recovery_point,
                "the log ends at offset {} below its recovery point {}: records that were on disk are missing (a segment file was removed or shortened outside the broker)",
                log.log_end_offset(),
                log.recovery_point
            );
            log.recovery_point = log.log_end_offset();
        }
        log.delete_segments_below_log_start()?;
        // Epochs that started beyond what recovery kept are gone with their records.
        let (start, end) = (log.log_start_offset, log.log_end_offset());
        log.epochs.truncate_from_end(end)?;
        log.epochs.truncate_from_start(start)?;
        Ok(log)
    }

    /// Whether the last append failed on storage (a full disk, say).
    pub fn is_storage_failing(&self) -> bool {
        self.storage_failing
    }

    /// Every offset below this is durable (fsynced); recovery after a crash starts here.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Regions recovery found corrupt below the recovery point, kept on disk: (segment base
    /// offset, region). Empty for a healthy log.
    pub fn corrupt_regions(&self) -> Vec<(i64, CorruptRegion)> {
        self.segments.iter().filter_map(|(b, s)| s.corrupt.map(|c| (*b, c))).collect()
    }

    /// The largest producer id found in the log's batches, if any batch is idempotent.
    pub fn max_producer_id(&self) -> Option<i64> {
        self.producers.max_producer_id()
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replace the configuration; takes effect on the next append or retention pass.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// First offset still readable.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Total bytes of all `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    /// Number of segments (including the active one).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of all segments, ascending.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    fn active(&self) -> &Segment {
        self.segments.values().next_back().expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments.values_mut().next_back().expect("a log always has an active segment")
    }

    fn ctx(&self, what: impl std::fmt::Display) -> String {
        format!("partition dir {}: {what}", self.dir.display())
    }

    /// Append one or more concatenated v2 record batches (a Produce request's records for
    /// this partition). Everything is validated before anything is written; offsets are
    /// assigned from the log end offset and `leader_epoch` is stamped into each batch.
    ///
    /// If any batch is a retry of one of an idempotent producer's last five batches, nothing
    /// is written and the original offsets come back with `duplicate: true` (as Kafka does).
    /// On a storage error nothing is acknowledged; the log stays usable.
    pub fn append(
        &mut self,
        records: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.append_with_origin(records, AppendOrigin::Client { leader_epoch }, now_ms)
    }

    /// A follower's append of batches fetched from the leader (Kafka's `appendAsFollower`):
    /// they are kept as the leader wrote them — base offsets, partition leader epochs and
    /// timestamps included. The first batch must start at the log end offset and each next one
    /// right after the one before, or nothing is appended
    /// ([`LogError::UnexpectedAppendOffset`]). CRCs are checked; each batch's epoch enters the
    /// leader-epoch cache at its base offset; idempotent producers' state follows the batches
    /// without checking their sequences (the leader did), so that this replica, once leader,
    /// answers retries as duplicates and continues sequences. Flush policy and recovery point
    /// as [`PartitionLog::append`].
    pub fn append_as_follower(
        &mut self,
        records: &mut [u8],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.append_with_origin(records, AppendOrigin::Replication, now_ms)
    }

    fn append_with_origin(
        &mut self,
        records: &mut [u8],
        origin: AppendOrigin,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let result = self.append_batches(records, origin, now_ms);
        // One log line per change of the partition's storage state, not one per request: a
        // full disk fails every produce until it is freed.
        match (&result, self.storage_failing) {
            (Err(e @ LogError::Storage { .. }), false) => {
                self.storage_failing = true;
                tracing::error!(dir = %self.dir.display(), error = %e, "appends to this partition fail; producers get KAFKA_STORAGE_ERROR until the storage recovers (is the disk full?)");
            }
            (Ok(_), true) => {
                self.storage_failing = false;
                tracing::info!(dir = %self.dir.display(), "appends to this partition succeed again");
            }
            _ => {}
        }
        result
    }

    fn append_batches(
        &mut self,
        records: &mut [u8],
        origin: AppendOrigin,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.last_now_ms = now_ms;
        // Test-only fault for the chaos simulator: the count-based flush is deferred to the
        // next append, so this append is acknowledged before it is durable.
        #[cfg(feature = "fault-ack-before-flush")]
        if self.unflushed_messages >= self.config.flush_interval_messages {
            self.flush()?;
        }
        let ranges = batch::split_and_validate(records).map_err(|e| e.prefixed(&self.dir))?;
        let total = records.len() as u64;
        // Index entries store positions as u32 and Kafka caps segment.bytes at i32::MAX.
        let segment_bytes = self.config.segment_bytes.min(i32::MAX as u64);
        if total > segment_bytes {
            return Err(LogError::RecordTooLarge(self.ctx(format!(
                "{total} bytes of record batches exceed segment.bytes {segment_bytes}"
            ))));
        }

        // Assign offsets (a follower checks the leader's instead) and check idempotent
        // producers' sequences against staged state, so several batches of one producer in one
        // request are checked in order.
        let leo = self.log_end_offset();
        let mut next = leo;
        let mut staged: BTreeMap<i64, ProducerEntry> = BTreeMap::new();
        let mut scanned = Vec::with_capacity(ranges.len());
        let mut max_timestamp = -1;
        let mut record_count = 0u64;
        for r in &ranges {
            let h = BatchHeader::parse(&records[r.clone()])?;
            if origin == AppendOrigin::Replication && h.base_offset() != next {
                return Err(self.unexpected_append_offset(records, &ranges, h.base_offset(), next));
            }
            if h.is_idempotent() {
                let pid = h.producer_id();
                let entry = staged.get(&pid).or_else(|| self.producers.get(pid));
                match origin {
                    // Only the leader checks sequences (Kafka's `ProducerAppendInfo` validates
                    // appends of origin CLIENT alone): a follower takes what the leader wrote.
                    AppendOrigin::Client { .. } => {
                        match check_sequence(entry, &h).map_err(|e| e.prefixed(&self.dir))? {
                            SequenceCheck::Duplicate(meta) => return Ok(self.duplicate_info(meta)),
                            SequenceCheck::Accept => {}
                        }
                    }
                    AppendOrigin::Replication => {
                        if let Some(e) = entry.filter(|e| h.producer_epoch() < e.epoch) {
                            tracing::warn!(
                                dir = %self.dir.display(),
                                producer_id = pid,
                                "the leader's batch at offset {} has producer {pid}'s epoch {}, older than the epoch {} seen before",
                                h.base_offset(),
                                h.producer_epoch(),
                                e.epoch
                            );
                        }
                    }
                }
                let mut e = entry.cloned().unwrap_or_default();
                e.record(h.producer_epoch(), BatchMetadata::of(&h, next));
                staged.insert(pid, e);
            }
            scanned.push(ScannedBatch {
                position: r.start as u64,
                size: r.len() as u64,
                base_offset: next,
                last_offset: next + i64::from(h.last_offset_delta()),
                max_timestamp: h.max_timestamp(),
            });
            max_timestamp = max_timestamp.max(h.max_timestamp());
            record_count += h.record_count() as u64;
            next += i64::from(h.last_offset_delta()) + 1;
        }
        let last_offset = next - 1;

        let active = self.active();
        let elapsed = active.rolling_base_ms.map_or(0, |t| now_ms.saturating_sub(t));
        // An active segment with corrupt bytes (kept by recovery) takes no appends after them:
        // they continue in a new segment.
        if !active.is_empty()
            && (active.size + total > segment_bytes
                || active.corrupt.is_some()
                || elapsed >= self.config.segment_ms
                || last_offset - active.base_offset > i64::from(i32::MAX))
        {
            self.roll_to(leo)?;
        }

        if let AppendOrigin::Client { leader_epoch } = origin {
            for (r, b) in ranges.iter().zip(&scanned) {
                batch::patch(&mut records[r.clone()], b.base_offset, leader_epoch);
            }
        }
        let interval = self.config.index_interval_bytes;
        let ctx = self.ctx(format!("appending offsets {leo}..={last_offset}"));
        let written = self.active_mut().append(records, &scanned, interval, now_ms);
        if let Err(e) = &written {
            if self.active().next_offset == leo {
                // Nothing reached the log: the producer state must not move either.
                return Err(storage_err(ctx)(io::Error::new(e.kind(), e.to_string())));
            }
        }
        for (pid, entry) in staged {
            self.producers.insert(pid, entry);
        }
        written.map_err(storage_err(ctx))?;

        // Invariants: offsets are contiguous and only grow.
        debug_assert!(last_offset >= leo, "an append must add at least one offset");
        debug_assert_eq!(
            self.log_end_offset(),
            last_offset + 1,
            "{}: log end offset after appending {leo}..={last_offset}",
            self.dir.display()
        );
        self.unflushed_messages += record_count;
        // Each batch's epoch starts at its base offset unless an equal or newer one is known
        // (Kafka's `maybeAssignEpochStartOffset`); a leader's batches all carry its epoch.
        for r in &ranges {
            let h = BatchHeader::parse(&records[r.clone()])?;
            if let Err(e) = self.epochs.assign(h.partition_leader_epoch(), h.base_offset()) {
                // The records are in the log; the cache is derived from them and is rewritten
                // at the next change, so the append stands.
                tracing::warn!(dir = %self.dir.display(), error = %e, "could not write the leader-epoch checkpoint");
                break;
            }
        }
        let flush_now = !cfg!(feature = "fault-ack-before-flush")
            && self.unflushed_messages >= self.config.flush_interval_messages;
        if flush_now {
            self.flush()?;
        } else {
            self.maybe_flush(now_ms)?;
        }
        Ok(AppendInfo {
            base_offset: leo,
            last_offset,
            log_append_time_ms: -1,
            max_timestamp,
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// The refusal of a follower append whose batch at `found` is not at `expected`.
    fn unexpected_append_offset(
        &self,
        records: &[u8],
        ranges: &[std::ops::Range<usize>],
        found: i64,
        expected: i64,
    ) -> LogError {
        let batch_offsets = |r: &std::ops::Range<usize>| {
            BatchHeader::parse(&records[r.clone()])
                .map_or((-1, -1), |h| (h.base_offset(), h.last_offset()))
        };
        let first_offset = ranges.first().map_or(-1, |r| batch_offsets(r).0);
        let last_offset = ranges.last().map_or(-1, |r| batch_offsets(r).1);
        let leo = self.log_end_offset();
        let what = if expected == leo {
            format!("first offset {found} is not the log end offset {leo}")
        } else {
            format!(
                "a batch at offset {found} follows one ending at {}, expected {expected}",
                expected - 1
            )
        };
        LogError::UnexpectedAppendOffset {
            message: self.ctx(format!(
                "follower append of offsets {first_offset}..={last_offset}: {what}; nothing appended (log start offset {})",
                self.log_start_offset
            )),
            first_offset,
            last_offset,
        }
    }

    fn duplicate_info(&self, meta: BatchMetadata) -> AppendInfo {
        AppendInfo {
            base_offset: meta.first_offset,
            last_offset: meta.last_offset,
            log_append_time_ms: -1,
            max_timestamp: meta.max_timestamp,
            log_start_offset: self.log_start_offset,
            duplicate: true,
        }
    }

    /// Seal the active segment (sync it) and start a new empty one at `base_offset`.
    fn roll_to(&mut self, base_offset: i64) -> Result<(), LogError> {
        let ctx = self.ctx(format!("rolling to a new segment at {base_offset}"));
        if let Some(active) = self.segments.values_mut().next_back() {
            active.seal(self.storage.as_ref()).map_err(storage_err(&ctx))?;
        }
        let seg = Segment::open(self.storage.as_ref(), &self.dir, base_offset, true)
            .map_err(storage_err(&ctx))?;
        self.segments.insert(base_offset, seg);
        // Everything before the new segment is synced now.
        self.recovery_point = self.recovery_point.max(base_offset);
        Ok(())
    }

    /// Kafka's `truncateTo`: removes every record at or above `offset`, as a follower does
    /// where its log diverged from the leader's. Whole batches go (one whose last offset is
    /// `offset` or more), so the log may end a little below `offset`: segments starting above
    /// it are deleted, the one holding it cut (log and indexes), the leader-epoch cache and the
    /// producer state follow the new end, the recovery point comes down to at most it, and the
    /// log start offset too (as Kafka). An `offset` below the first segment empties the log and
    /// starts it there ([`PartitionLog::truncate_fully_and_start_at`]). Returns false, changing
    /// no record, when `offset` is at or past the log end offset.
    pub fn truncate_to(&mut self, offset: i64) -> Result<bool, LogError> {
        if offset < 0 {
            return Err(LogError::OffsetOutOfRange(
                self.ctx(format!("cannot truncate to the negative offset {offset}")),
            ));
        }
        let old_leo = self.log_end_offset();
        if offset >= old_leo {
            // An epoch this replica assigned as leader before it wrote anything starts at the
            // log end: it goes, as in Kafka, since the new leader's epoch follows.
            self.epochs.truncate_from_end(old_leo)?;
            return Ok(false);
        }
        let first_base = *self.segments.keys().next().expect("a log always has a segment");
        if offset < first_base {
            self.truncate_fully_and_start_at(offset)?;
            return Ok(true);
        }
        let above: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
        for base in above {
            let seg = self.segments.remove(&base).expect("listed");
            seg.delete_files(self.storage.as_ref())
                .map_err(storage_err(self.ctx(format!("deleting segment {base}"))))?;
        }
        let interval = self.config.index_interval_bytes;
        let ctx = self.ctx(format!("truncating to offset {offset}"));
        let storage = Arc::clone(&self.storage);
        let cut = self.active_mut().truncate_to(storage.as_ref(), offset, interval);
        cut.map_err(storage_err(&ctx))?;
        let new_leo = self.log_end_offset();
        debug_assert!(new_leo <= offset, "truncation leaves nothing at or above {offset}");
        self.epochs.truncate_from_end(new_leo)?;
        if new_leo < self.log_start_offset {
            self.log_start_offset = new_leo;
            if self.storage.exists(&self.dir.join(LOG_START_OFFSET_CHECKPOINT)) {
                write_checkpoint(self.storage.as_ref(), &self.dir, new_leo)?;
            }
        }
        self.recovery_point = self.recovery_point.min(new_leo);
        self.rebuild_producer_state()?;
        tracing::info!(
            dir = %self.dir.display(),
            old_log_end_offset = old_leo,
            new_log_end_offset = new_leo,
            "truncated the log to offset {offset}: log end offset {old_leo} -> {new_leo}"
        );
        Ok(true)
    }

    /// Kafka's `truncateFullyAndStartAt`: deletes every segment and starts an empty log at
    /// `new_offset` (log start = log end = recovery point = `new_offset`), with no leader
    /// epochs and no producer state. A follower does this when the leader's log starts past
    /// its own end.
    pub fn truncate_fully_and_start_at(&mut self, new_offset: i64) -> Result<(), LogError> {
        if new_offset < 0 {
            return Err(LogError::OffsetOutOfRange(
                self.ctx(format!("cannot start the log at the negative offset {new_offset}")),
            ));
        }
        let (old_start, old_leo) = (self.log_start_offset, self.log_end_offset());
        // A persisted log start above `new_offset` would otherwise empty the log on reopen.
        if self.storage.exists(&self.dir.join(LOG_START_OFFSET_CHECKPOINT)) {
            write_checkpoint(self.storage.as_ref(), &self.dir, new_offset)?;
        }
        let old = std::mem::take(&mut self.segments);
        for (base, seg) in old {
            seg.delete_files(self.storage.as_ref())
                .map_err(storage_err(self.ctx(format!("deleting segment {base}"))))?;
        }
        self.recovery_point = new_offset;
        self.roll_to(new_offset)?;
        self.log_start_offset = new_offset;
        self.producers = ProducerStateTable::default();
        self.unflushed_messages = 0;
        tracing::info!(
            dir = %self.dir.display(),
            old_log_start_offset = old_start,
            old_log_end_offset = old_leo,
            new_offset,
            "truncated the log fully: it starts empty at offset {new_offset}"
        );
        // Nothing is left of any epoch (Kafka's `truncateFullyAndStartAt` clears the cache).
        self.epochs.truncate_from_end(i64::MIN)
    }

    /// The idempotent producer state rebuilt from the batch headers of the whole log, as on
    /// open (there are no producer snapshots): after a truncation it is what the remaining
    /// batches say.
    fn rebuild_producer_state(&mut self) -> Result<(), LogError> {
        let mut producers = ProducerStateTable::default();
        for (base, seg) in &self.segments {
            let read_err = || storage_err(self.ctx(format!("reading segment {base}")));
            let mut pos = 0u64;
            while let Some(hbuf) = seg.header_at(pos).map_err(read_err())? {
                let h = BatchHeader::parse(&hbuf)?;
                let Some(size) = h.total_size().filter(|&n| n >= HEADER_LEN) else { break };
                if h.is_idempotent() {
                    producers.update(&h);
                }
                pos += size as u64;
            }
        }
        self.producers = producers;
        Ok(())
    }

    /// Delete sealed segments that lie wholly below the log start offset (Kafka's rule: the
    /// next segment's base offset is <= the log start offset).
    fn delete_segments_below_log_start(&mut self) -> Result<usize, LogError> {
        let mut deleted = 0;
        loop {
            let mut bases = self.segments.keys();
            let (Some(&first), Some(&second)) = (bases.next(), bases.next()) else { break };
            if second > self.log_start_offset {
                break;
            }
            self.delete_oldest_segment(first)?;
            deleted += 1;
        }
        Ok(deleted)
    }

    fn delete_oldest_segment(&mut self, base: i64) -> Result<(), LogError> {
        let seg = self.segments.remove(&base).expect("segment exists");
        seg.delete_files(self.storage.as_ref())
            .map_err(storage_err(self.ctx(format!("deleting segment {base}"))))?;
        let first = *self.segments.keys().next().expect("the active segment remains");
        self.log_start_offset = self.log_start_offset.max(first);
        self.epochs.truncate_from_start(self.log_start_offset)
    }

    /// Read whole batches starting with the one containing `fetch_offset`, up to `max_bytes`
    /// but at least one batch if any exists (KIP-74). Empty at the log end offset.
    pub fn read(&self, fetch_offset: i64, max_bytes: u32) -> Result<Bytes, LogError> {
        self.read_until(fetch_offset, max_bytes, self.log_end_offset())
    }

    /// Like [`PartitionLog::read`] but never returns a batch starting at or beyond
    /// `max_offset` (e.g. the high watermark for consumers).
    pub fn read_until(
        &self,
        fetch_offset: i64,
        max_bytes: u32,
        max_offset: i64,
    ) -> Result<Bytes, LogError> {
        let leo = self.log_end_offset();
        if fetch_offset < self.log_start_offset || fetch_offset > leo {
            return Err(LogError::OffsetOutOfRange(self.ctx(format!(
                "offset {fetch_offset} is outside [log start offset {}, log end offset {leo}]",
                self.log_start_offset
            ))));
        }
        // Nothing at or past the bound: answered without touching the disk, as Kafka's
        // `LocalLog.read` does. A caught-up follower or consumer asks this on every long-poll
        // wake-up, and the sparse index would otherwise send the read back to the start of the
        // last batch — up to a whole batch read from the file and thrown away, per partition.
        if fetch_offset >= max_offset.min(leo) {
            return Ok(Bytes::new());
        }
        // Reads typically come from one segment: hand out a slice of the read-ahead window
        // then, and concatenate only when a read spans segments.
        let mut parts: Vec<Bytes> = Vec::new();
        let mut taken = 0u64;
        let start_base =
            self.segments.range(..=fetch_offset).next_back().map_or(i64::MIN, |(b, _)| *b);
        let max_bytes = u64::from(max_bytes);
        // Enough to cover the budget plus the sparse index's slack in one read.
        let window = (max_bytes + u64::from(self.config.index_interval_bytes) + HEADER_LEN as u64)
            .clamp(64 << 10, 8 << 20);
        'segments: for (base, seg) in self.segments.range(start_base..) {
            let read_err = || storage_err(self.ctx(format!("reading segment {base}")));
            let mut ahead = ReadAhead::new(seg, window);
            let mut pos = seg.lookup_position(fetch_offset);
            let mut first_pos = None;
            let mut done = false;
            loop {
                // Until the first batch to return, only headers are read (Kafka's
                // `translateOffset`): the sparse index points at or before the batch holding
                // `fetch_offset`, often a whole batch before it, which is skipped unread.
                let header = if first_pos.is_none() {
                    ahead.header_only_at(pos)
                } else {
                    ahead.header_at(pos)
                };
                let Some(hbuf) = header.map_err(read_err())? else { break };
                let h = BatchHeader::parse(&hbuf)?;
                let size = h.total_size().unwrap_or(0) as u64;
                if size < HEADER_LEN as u64 {
                    return Err(LogError::CorruptRecord(
                        self.ctx(format!("bad batch length at position {pos} of segment {base}")),
                    ));
                }
                if h.last_offset() < fetch_offset {
                    pos += size;
                    continue;
                }
                let in_segment = first_pos.map_or(0, |f| pos - f);
                let first_batch = taken == 0 && first_pos.is_none();
                if h.base_offset() >= max_offset
                    || (!first_batch && taken + in_segment + size > max_bytes)
                {
                    done = true;
                    break;
                }
                if first_pos.is_none() {
                    // The window starts at the first batch returned: it and the batches after
                    // it, up to the budget, come from one read.
                    ahead.fill_from(pos).map_err(read_err())?;
                    first_pos = Some(pos);
                }
                pos += size;
            }
            if let Some(f) = first_pos {
                let bytes = ahead.bytes(f, pos - f).map_err(read_err())?;
                taken += bytes.len() as u64;
                parts.push(bytes);
            }
            if let (false, Some(corrupt)) = (done, seg.corrupt) {
                // The read reached bytes recovery kept as corrupt: never skip over them to the
                // next segment, which would hide the gap from the consumer.
                if parts.is_empty() && fetch_offset < max_offset {
                    return Err(LogError::CorruptRecord(self.ctx(format!(
                        "offset {fetch_offset} lies in a corrupt region of {} from position {} (offsets {}..{}), kept on disk by recovery",
                        seg.log_path().display(),
                        corrupt.position,
                        corrupt.first_offset,
                        seg.next_offset
                    ))));
                }
                break 'segments;
            }
            if done {
                break 'segments;
            }
        }
        Ok(match parts.len() {
            0 => Bytes::new(),
            1 => parts.pop().expect("one part"),
            _ => {
                let mut out = BytesMut::with_capacity(taken as usize);
                parts.iter().for_each(|p| out.extend_from_slice(p));
                out.freeze()
            }
        })
    }

    /// ListOffsets by timestamp: the earliest offset whose record timestamp is >= `timestamp_ms`,
    /// with that record's timestamp; `None` if every record is older.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        for (base, seg) in &self.segments {
            if seg.is_empty() || seg.max_timestamp < timestamp_ms {
                continue;
            }
            let read_err = || storage_err(self.ctx(format!("reading segment {base}")));
            let mut pos = seg.lookup_time_position(timestamp_ms);
            while let Some(hbuf) = seg.header_at(pos).map_err(read_err())? {
                let h = BatchHeader::parse(&hbuf)?;
                let size = h.total_size().unwrap_or(0);
                if size < HEADER_LEN {
                    break;
                }
                if h.max_timestamp() >= timestamp_ms && h.last_offset() >= self.log_start_offset {
                    let data = seg.read(pos, size).map_err(read_err())?;
                    let exact = first_record_at_or_after(
                        &data,
                        |_, ts| ts >= timestamp_ms,
                        self.log_start_offset,
                    );
                    return Ok(Some(exact.unwrap_or((
                        h.base_offset().max(self.log_start_offset),
                        h.max_timestamp(),
                    ))));
                }
                pos += size as u64;
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: the offset and timestamp of the first record carrying the
    /// largest timestamp in the log; `None` for an empty log.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, LogError> {
        let mut best: Option<(&Segment, u64, i64)> = None;
        for seg in self.segments.values() {
            if let Some((pos, _)) = seg.max_timestamp_batch {
                if best.is_none_or(|(_, _, ts)| seg.max_timestamp > ts) {
                    best = Some((seg, pos, seg.max_timestamp));
                }
            }
        }
        let Some((seg, pos, max_ts)) = best else { return Ok(None) };
        let read_err = || storage_err(self.ctx(format!("reading segment {}", seg.base_offset)));
        let hbuf = seg.header_at(pos).map_err(read_err())?.ok_or_else(|| {
            LogError::CorruptRecord(self.ctx("max timestamp batch beyond segment end"))
        })?;
        let h = BatchHeader::parse(&hbuf)?;
        let data = seg.read(pos, h.total_size().unwrap_or(HEADER_LEN)).map_err(read_err())?;
        let exact = first_record_at_or_after(&data, |_, ts| ts == max_ts, i64::MIN);
        Ok(Some(exact.unwrap_or((h.last_offset(), max_ts))))
    }

    /// DeleteRecords: move the log start offset up to `offset` (never down), persist it, and
    /// delete segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        let leo = self.log_end_offset();
        if offset > leo || offset < 0 {
            return Err(LogError::OffsetOutOfRange(self.ctx(format!(
                "cannot delete records before offset {offset}: log end offset is {leo}"
            ))));
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        // Persist first: once the checkpoint is durable, deleting files is just cleanup.
        write_checkpoint(self.storage.as_ref(), &self.dir, offset)?;
        self.log_start_offset = offset;
        self.epochs.truncate_from_start(offset)?;
        self.delete_segments_below_log_start()?;
        Ok(self.log_start_offset)
    }

    /// Retention: roll the active segment if `segment_ms` elapsed, then delete sealed
    /// segments whose newest record is older than `retention_ms`, and oldest sealed segments
    /// while the log exceeds `retention_bytes` by at least their size.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<RetentionOutcome, LogError> {
        self.last_now_ms = now_ms;
        let mut outcome = RetentionOutcome::default();
        let active = self.active();
        if !active.is_empty()
            && active
                .rolling_base_ms
                .is_some_and(|t| now_ms.saturating_sub(t) >= self.config.segment_ms)
        {
            let leo = self.log_end_offset();
            self.roll_to(leo)?;
            outcome.rolled = true;
        }
        if self.config.retention_ms >= 0 {
            while self.segments.len() > 1 {
                let (&base, seg) = self.segments.iter().next().expect("non-empty");
                if now_ms.saturating_sub(seg.max_timestamp) <= self.config.retention_ms {
                    break;
                }
                self.delete_oldest_segment(base)?;
                outcome.deleted_segments += 1;
            }
        }
        if self.config.retention_bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - self.config.retention_bytes;
            while self.segments.len() > 1 {
                let (&base, seg) = self.segments.iter().next().expect("non-empty");
                if excess - (seg.size as i64) < 0 {
                    break;
                }
                excess -= seg.size as i64;
                self.delete_oldest_segment(base)?;
                outcome.deleted_segments += 1;
            }
        }
        outcome.log_start_offset = self.log_start_offset;
        Ok(outcome)
    }

    /// Records that `leader_epoch` starts at the log end offset, as a new leader does before
    /// it appends (Kafka's `maybeAssignEpochStartOffset`).
    pub fn assign_epoch_start(&mut self, leader_epoch: i32) -> Result<(), LogError> {
        let leo = self.log_end_offset();
        self.epochs.assign(leader_epoch, leo)
    }

    /// OffsetForLeaderEpoch's answer from the leader-epoch cache: the largest epoch not above
    /// `leader_epoch` and where it ends (Kafka's `endOffsetForEpoch`).
    pub fn end_offset_for_epoch(&self, leader_epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(leader_epoch, self.log_end_offset())
    }

    /// The leader epochs and their start offsets, oldest first.
    pub fn leader_epochs(&self) -> &[leader_epoch::EpochEntry] {
        self.epochs.entries()
    }

    /// fsync everything written so far.
    pub fn flush(&mut self) -> Result<(), LogError> {
        let ctx = self.ctx("flushing");
        for seg in self.segments.values_mut() {
            seg.sync(self.storage.as_ref()).map_err(storage_err(&ctx))?;
        }
        self.unflushed_messages = 0;
        self.last_flush_ms = self.last_now_ms;
        let leo = self.log_end_offset();
        debug_assert!(self.recovery_point <= leo, "the recovery point never passes the log end");
        self.recovery_point = leo;
        Ok(())
    }

    /// Apply the time-based flush policy: fsync if there are unflushed records and
    /// `flush_interval_ms` passed since the last flush.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.last_now_ms = now_ms;
        if self.unflushed_messages > 0
            && now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_interval_ms
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Delete the partition: remove its directory.
    pub fn delete(self) -> Result<(), LogError> {
        let ctx = self.ctx("deleting the partition directory");
        self.storage.remove_dir_all(&self.dir).map_err(storage_err(ctx))
    }
}

/// Decode a batch and return the first record (offset, timestamp) with offset >= `min_offset`
/// matching `pred`; `None` if decoding fails or nothing matches.
fn first_record_at_or_after(
    batch: &[u8],
    pred: impl Fn(i64, i64) -> bool,
    min_offset: i64,
) -> Option<(i64, i64)> {
    let mut buf = Bytes::copy_from_slice(batch);
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).ok()?;
    set.records
        .iter()
        .find(|r| r.offset >= min_offset && pred(r.offset, r.timestamp))
        .map(|r| (r.offset, r.timestamp))
}

fn read_checkpoint(storage: &dyn Storage, dir: &Path) -> Result<Option<i64>, LogError> {
    let path = dir.join(LOG_START_OFFSET_CHECKPOINT);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let ctx = || format!("reading {}", path.display());
    let file = storage.open(&path, false).map_err(storage_err(ctx()))?;
    let mut buf = vec![0u8; file.len().map_err(storage_err(ctx()))? as usize];
    file.read_exact_at(0, &mut buf).map_err(storage_err(ctx()))?;
    let text = String::from_utf8_lossy(&buf);
    match text.trim().parse::<i64>() {
        Ok(v) => Ok(Some(v)),
        Err(_) => {
            // Written via rename, so a bad file means outside interference; the segments
            // still bound the log start offset from below.
            tracing::warn!(path = %path.display(), "ignoring unparsable log start offset checkpoint");
            Ok(None)
        }
    }
}

fn write_checkpoint(storage: &dyn Storage, dir: &Path, offset: i64) -> Result<(), LogError> {
    let path = dir.join(LOG_START_OFFSET_CHECKPOINT);
    let tmp = dir.join(format!("{LOG_START_OFFSET_CHECKPOINT}.tmp"));
    let ctx = || format!("writing {}", path.display());
    let mut f = storage.open(&tmp, true).map_err(storage_err(ctx()))?;
    f.truncate(0).map_err(storage_err(ctx()))?;
    f.append(format!("{offset}\n").as_bytes()).map_err(storage_err(ctx()))?;
    f.sync().map_err(storage_err(ctx()))?;
    drop(f);
    storage.rename(&tmp, &path).map_err(storage_err(ctx()))
}

/// A read-ahead window over one segment's `.log` file, so that walking batch headers costs
/// one read per window rather than one per batch.
/// What a read skipping batches before the fetch offset takes at a time: enough for the
/// headers of the small batches between two index entries (`index.interval.bytes`, 4 KiB by
/// default), far less than one of librdkafka's 1 MB batches.
const SEEK_WINDOW: u64 = 8 << 10;

struct ReadAhead<'a> {
    segment: &'a Segment,
    window: u64,
    start: u64,
    data: Bytes,
}

impl<'a> ReadAhead<'a> {
    fn new(segment: &'a Segment, window: u64) -> Self {
        Self { segment, window, start: 0, data: Bytes::new() }
    }

    fn covers(&self, position: u64, len: u64) -> bool {
        position >= self.start && position + len <= self.start + self.data.len() as u64
    }

    /// The header at `position` without filling the window from there: from the window if it
    /// holds it, else by a read of the header alone.
    fn header_only_at(&mut self, position: u64) -> io::Result<Option<[u8; HEADER_LEN]>> {
        if position + HEADER_LEN as u64 > self.segment.readable_size() {
            return Ok(None);
        }
        if !self.covers(position, HEADER_LEN as u64) {
            let len = SEEK_WINDOW.min(self.segment.readable_size() - position);
            self.data = Bytes::from(self.segment.read(position, len as usize)?);
            self.start = position;
        }
        self.header_at(position)
    }

    /// Replaces the window with `window` bytes (or what is readable) from `position`, unless
    /// it already starts there.
    fn fill_from(&mut self, position: u64) -> io::Result<()> {
        let len = self.window.min(self.segment.readable_size().saturating_sub(position));
        if self.covers(position, len) {
            return Ok(());
        }
        self.data = Bytes::from(self.segment.read(position, len as usize)?);
        self.start = position;
        Ok(())
    }

    fn header_at(&mut self, position: u64) -> io::Result<Option<[u8; HEADER_LEN]>> {
        let readable = self.segment.readable_size();
        if position + HEADER_LEN as u64 > readable {
            return Ok(None);
        }
        if !self.covers(position, HEADER_LEN as u64) {
            self.fill_from(position)?;
        }
        let at = (position - self.start) as usize;
        Ok(Some(self.data[at..at + HEADER_LEN].try_into().expect("a full header is in the window")))
    }

    /// `len` bytes at `position`: a zero-copy slice when the window holds them.
    fn bytes(&self, position: u64, len: u64) -> io::Result<Bytes> {
        if self.covers(position, len) {
            let at = (position - self.start) as usize;
            return Ok(self.data.slice(at..at + len as usize));
        }
        Ok(Bytes::from(self.segment.read(position, len as usize)?))
    }
}

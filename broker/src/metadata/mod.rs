//! Cluster metadata as KRaft keeps it: an ordered log of [`MetadataRecord`]s, persisted in
//! `<log.dirs>/__cluster_metadata-0/` and applied to an in-memory [`MetadataImage`].
//!
//! Architecture invariant: the image changes only by applying records that were first made
//! durable in the log, so replaying the log on start rebuilds exactly the image that was served.
//! A later Raft quorum replaces [`MetadataStore::commit`]'s local append; nothing else changes.

pub(crate) mod delta;
mod image;
pub(crate) mod records;
pub mod snapshot;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

pub use delta::{MetadataDelta, RemovedTopic};

pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use records::{
    BrokerEndpoint, BrokerFeature, BrokerRegistrationChangeRecord, ConfigResource, MetadataRecord,
    PartitionChangeRecord, PartitionRecord, RegisterBrokerRecord, NO_LEADER, NO_LEADER_CHANGE,
};
pub use snapshot::SnapshotId;

use crate::internal_records::encode_batch;
use crate::log::checkpoint::{HighWatermarks, RecoveryPoints};
use crate::log::{BatchHeader, LogConfig, LogError, PartitionLog};
use crate::storage::Storage;

/// Directory name of the metadata log inside the log directory, as KRaft names it.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";

/// The metadata log's topic name, as KRaft names it (its one partition is 0).
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The metadata records of `stored` (read back from the metadata log, or about to go there).
fn decode_all(
    stored: &[crate::internal_records::StoredRecord],
) -> Result<Vec<MetadataRecord>, LogError> {
    stored
        .iter()
        .map(|s| {
            records::decode(s.value.as_deref().unwrap_or_default()).map_err(|e| {
                LogError::InvalidRecord(format!(
                    "metadata record at offset {} is invalid: {e}",
                    s.offset
                ))
            })
        })
        .collect()
}

/// The metadata log and the image it produces.
pub struct MetadataStore {
    /// Shared so that a request can hold a consistent snapshot without copying it.
    image: Arc<MetadataImage>,
    log: PartitionLog,
    recovery_points: Arc<RecoveryPoints>,
    /// The delta from the empty image to the replayed one: what start-up publishes. Its removed
    /// topics name the partition directories that are deletions to finish, not strays.
    replayed: MetadataDelta,
    /// Every record below this offset is applied to `image`.
    applied_offset: i64,
    /// On the quorum's leader, the image with its own records not yet committed applied too,
    /// and the log end offset it covers: what the controller computes new records from, so two
    /// changes in flight never contradict each other (Kafka's controller keeps its state ahead
    /// of the commit the same way). `None` when nothing appended is uncommitted.
    speculative: Option<(Arc<MetadataImage>, i64)>,
    /// Where `applied_offset` is checkpointed after every commit, on a node whose log may
    /// hold records never committed (a voter of several, an observer); `None` on a sole
    /// voter, whose every record is committed.
    committed_checkpoint: Option<Arc<HighWatermarks>>,
    storage: Arc<dyn Storage>,
    snapshot_policy: SnapshotPolicy,
    /// The snapshot the log starts at (Kafka's earliest snapshot): there whenever the log
    /// starts past 0, since the records below its start are only in it.
    start_snapshot: Option<SnapshotId>,
    /// The newest snapshot, loaded, written or fetched.
    latest_snapshot: Option<SnapshotId>,
    /// Record bytes applied since the latest snapshot.
    bytes_since_snapshot: u64,
    /// When the latest snapshot was written (or the store opened).
    last_snapshot_ms: i64,
    /// When the retention was last weighed: after every snapshot, else once a minute (a
    /// snapshot ages without commits), so a commit does not list and read the snapshots.
    last_clean_check_ms: i64,
}

/// How often retention is weighed between snapshots (`metadata.max.retention.ms` ages them).
const CLEAN_CHECK_INTERVAL_MS: i64 = 60_000;

/// When the metadata image is snapshotted and the log cleaned below its snapshots, as Kafka's
/// settings say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// `metadata.log.max.record.bytes.between.snapshots`: record bytes applied since the last
    /// snapshot that trigger the next (Kafka's default 20 MiB).
    pub max_bytes_between: u64,
    /// `metadata.log.max.snapshot.interval.ms`: the longest a committed record waits to be in
    /// a snapshot, 0 for no limit (Kafka's default 1 hour).
    pub max_interval_ms: i64,
    /// `metadata.max.retention.bytes`: the log and its snapshots above this size have the
    /// oldest snapshot and the log below the next one removed; negative for no limit (Kafka's
    /// default 100 MiB).
    pub retention_bytes: i64,
    /// `metadata.max.retention.ms`: a snapshot whose last record is older than this is
    /// removed with the log below the next one; negative for no limit (Kafka's default 7 days).
    pub retention_ms: i64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            max_bytes_between: 20 * 1024 * 1024,
            max_interval_ms: 3_600_000,
            retention_bytes: 100 * 1024 * 1024,
            retention_ms: 7 * 24 * 3_600_000,
        }
    }
}

/// Removes a superseded snapshot; a failure is logged (the file is only in the way).
fn remove_snapshot(storage: &dyn Storage, dir: &Path, id: SnapshotId) {
    let path = snapshot::path(dir, id);
    match storage.remove_file(&path) {
        Ok(()) => tracing::info!(file = %path.display(), "removed a superseded metadata snapshot"),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "could not remove a superseded metadata snapshot")
        }
    }
}

/// Checks each of `records` against `image` and applies it, recording the change in `delta`;
/// a record that does not fit fails with `describe(why)` and the advice to restore.
fn replay_checked(
    image: &mut MetadataImage,
    delta: &mut MetadataDelta,
    records: &[MetadataRecord],
    describe: impl Fn(String) -> String,
) -> Result<(), LogError> {
    for record in records {
        image.check(record).map_err(|why| {
            LogError::InvalidRecord(format!(
                "{}; the metadata log is inconsistent, restore {METADATA_LOG_DIR} from a backup",
                describe(why)
            ))
        })?;
        delta.replay(image, record);
    }
    Ok(())
}

impl MetadataStore {
    /// Opens the metadata log under `log_dir` (created empty on a freshly formatted directory)
    /// and replays it, recovering above its checkpointed recovery point. A record that cannot
    /// be read below the recovery point fails the open: serving an image without the records
    /// after it would make topics, ACLs and users silently disappear.
    ///
    /// With `committed_checkpoint` (a node whose log may end in records the quorum never
    /// committed), only the records below the offset checkpointed there are replayed — those
    /// this node knew committed —, and the tail waits for the leader's high watermark, which
    /// may truncate it instead; without an entry there (a log a sole voter wrote) the whole
    /// log is replayed.
    pub fn open(
        storage: Arc<dyn Storage>,
        log_dir: &Path,
        now_ms: i64,
        recovery_points: Arc<RecoveryPoints>,
        committed_checkpoint: Option<Arc<HighWatermarks>>,
    ) -> Result<Self, LogError> {
        let config = LogConfig {
            // Metadata must never be lost or expire: flush every write, keep everything.
            flush_interval_messages: 1,
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        };
        let mut log = PartitionLog::open_at_recovery_point(
            storage.clone(),
            log_dir.join(METADATA_LOG_DIR),
            config,
            now_ms,
            recovery_points.get(METADATA_TOPIC, 0),
        )?;
        let dir = log_dir.join(METADATA_LOG_DIR);
        let mut image = MetadataImage::default();
        let mut replayed = MetadataDelta::default();
        let committed = committed_checkpoint.as_ref().and_then(|c| c.get(METADATA_TOPIC, 0));
        let until = match committed {
            Some(offset) => offset.clamp(log.log_start_offset(), log.log_end_offset()),
            None => log.log_end_offset(),
        };
        // The newest snapshot that loads and that the log continues from: the image up to its
        // end offset, so only the log after it is replayed.
        let mut from = log.log_start_offset();
        let mut latest_snapshot = None;
        let start = log.log_start_offset();
        let usable = |id: &&SnapshotId| id.end_offset >= start && id.end_offset <= until;
        let snapshots = snapshot::list(storage.as_ref(), &dir)?;
        for &id in snapshots.iter().rev().filter(usable) {
            match snapshot::read(storage.as_ref(), &dir, id) {
                Ok(records) => {
                    replay_checked(&mut image, &mut replayed, &records, |why| {
                        format!(
                            "a record of the metadata snapshot {} does not fit the records \
                             before it: {why}",
                            snapshot::path(&dir, id).display()
                        )
                    })?;
                    tracing::info!(
                        file = %snapshot::path(&dir, id).display(),
                        records = records.len(),
                        "loaded the metadata snapshot; replaying the log after it"
                    );
                    from = id.end_offset;
                    latest_snapshot = Some(id);
                    break;
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "a metadata snapshot does not load (kept as it is): trying an older snapshot, \
                     else the whole log"
                ),
            }
        }
        if latest_snapshot.is_none() && log.log_start_offset() > 0 {
            return Err(LogError::InvalidRecord(format!(
                "{} starts at offset {} and no snapshot in it loads: the records below that \
                 offset are only in a snapshot",
                dir.display(),
                log.log_start_offset()
            )));
        }
        // The snapshot the log starts at; one that does not load still names the epoch there
        // (the newer one loaded covers the records).
        let mut start_snapshot = snapshots.iter().copied().find(|s| s.end_offset == start);
        if start > 0 && start_snapshot.is_none() {
            // Removed by hand: the snapshot loaded holds every record below its end, so the
            // log starts there.
            let loaded = latest_snapshot.expect("checked above: a snapshot loaded");
            tracing::warn!(
                log_start_offset = start,
                snapshot = %loaded.file_name(),
                "no snapshot ends at the metadata log's start; the log now starts at the \
                 snapshot loaded"
            );
            log.delete_records_before(loaded.end_offset)?;
            start_snapshot = Some(loaded);
        }
        let start = log.log_start_offset();
        for old in snapshots.iter().filter(|s| s.end_offset < start) {
            // Superseded: the log start moved past them (removed at the cleaning, unless a
            // crash came between).
            remove_snapshot(storage.as_ref(), &dir, *old);
        }
        let (stored_records, applied_offset) =
            crate::internal_records::read_batches_below(&log, from, until)?;
        if applied_offset < log.log_end_offset() {
            tracing::info!(
                applied_offset,
                log_end_offset = log.log_end_offset(),
                "the metadata log's tail above the last offset known committed waits for the \
                 quorum's leader"
            );
        }
        let bytes_since_snapshot =
            stored_records.iter().map(|s| s.value.as_ref().map_or(0, |v| v.len() as u64)).sum();
        for stored in stored_records {
            let value = stored.value.as_deref().unwrap_or_default();
            let record = records::decode(value).map_err(|e| {
                LogError::InvalidRecord(format!(
                    "metadata record at offset {} is invalid: {e}",
                    stored.offset
                ))
            })?;
            replay_checked(&mut image, &mut replayed, std::slice::from_ref(&record), |why| {
                format!(
                    "metadata record at offset {} of {} does not fit the records before it: \
                     {why}",
                    stored.offset,
                    log.dir().display()
                )
            })?;
        }
        Ok(Self {
            image: Arc::new(image),
            log,
            recovery_points,
            replayed,
            applied_offset,
            speculative: None,
            committed_checkpoint,
            storage,
            snapshot_policy: SnapshotPolicy::default(),
            start_snapshot: start_snapshot.filter(|_| start > 0),
            latest_snapshot,
            bytes_since_snapshot,
            last_snapshot_ms: now_ms,
            last_clean_check_ms: i64::MIN,
        })
    }

    /// Up to `max_bytes` of snapshot `id` from `position`, with the snapshot's size (FetchSnapshot);
    /// `None` when this node has no such snapshot.
    pub fn snapshot_chunk(
        &self,
        id: SnapshotId,
        position: u64,
        max_bytes: usize,
    ) -> Result<Option<(u64, Bytes)>, LogError> {
        snapshot::read_chunk(self.storage.as_ref(), self.log.dir(), id, position, max_bytes)
    }

    /// Sets when this store snapshots its image (Kafka's `metadata.log.max.*` settings).
    pub fn set_snapshot_policy(&mut self, policy: SnapshotPolicy) {
        self.snapshot_policy = policy;
    }

    /// The newest snapshot of the image, loaded at start or written since.
    pub fn latest_snapshot(&self) -> Option<SnapshotId> {
        self.latest_snapshot
    }

    /// Writes a snapshot of the committed image at the applied offset (a no-op if the latest
    /// snapshot is there already). Returns the snapshot and its size.
    pub fn snapshot_now(&mut self, now_ms: i64) -> Result<Option<(SnapshotId, u64)>, LogError> {
        let end_offset = self.applied_offset;
        if end_offset == 0 || self.latest_snapshot.is_some_and(|s| s.end_offset >= end_offset) {
            return Ok(None);
        }
        let epoch = self
            .log
            .leader_epochs()
            .iter()
            .take_while(|e| e.start_offset < end_offset)
            .last()
            .map_or(0, |e| e.epoch);
        let id = SnapshotId { end_offset, epoch };
        let dir = self.log.dir().to_owned();
        let size = snapshot::write(self.storage.as_ref(), &dir, id, &self.image, now_ms)?;
        self.latest_snapshot = Some(id);
        self.bytes_since_snapshot = 0;
        self.last_snapshot_ms = now_ms;
        tracing::info!(end_offset, epoch, bytes = size, "wrote a metadata snapshot");
        Ok(Some((id, size)))
    }

    /// Cleans the log below its snapshots as Kafka's `KafkaMetadataLog.maybeClean` does: while
    /// the oldest snapshot is older than `metadata.max.retention.ms`, or the log and the
    /// snapshots together exceed `metadata.max.retention.bytes`, the log start moves up to the
    /// next snapshot and the older ones go. The newest snapshot, and the log after it, always
    /// stay; only committed records are cleaned. Returns whether the log start moved.
    pub fn maybe_clean(&mut self, now_ms: i64) -> Result<bool, LogError> {
        let policy = self.snapshot_policy;
        if policy.retention_bytes < 0 && policy.retention_ms < 0 {
            return Ok(false);
        }
        let dir = self.log.dir().to_owned();
        let start = self.log.log_start_offset();
        let snapshots: Vec<SnapshotId> = snapshot::list(self.storage.as_ref(), &dir)?
            .into_iter()
            .filter(|s| s.end_offset >= start && s.end_offset <= self.applied_offset)
            .collect();
        let mut sizes = Vec::with_capacity(snapshots.len());
        for id in &snapshots {
            sizes.push(snapshot::size_and_timestamp(self.storage.as_ref(), &dir, *id)?);
        }
        let mut total: i64 = sizes.iter().map(|(size, _)| *size as i64).sum();
        let mut cleaned = false;
        for i in 0..snapshots.len().saturating_sub(1) {
            let (size, timestamp) = sizes[i];
            let expired = policy.retention_ms >= 0
                && timestamp.is_some_and(|t| now_ms - t > policy.retention_ms);
            let too_big = policy.retention_bytes >= 0
                && self.log.size_bytes() as i64 + total > policy.retention_bytes;
            if !(expired || too_big) {
                break;
            }
            let next = snapshots[i + 1];
            self.delete_before_snapshot(next)?;
            total -= size as i64;
            cleaned = true;
        }
        Ok(cleaned)
    }

    /// Kafka's `deleteBeforeSnapshot`: the log starts at snapshot `id` (committed), and the
    /// snapshots before it go — the records they hold are all in `id` too.
    fn delete_before_snapshot(&mut self, id: SnapshotId) -> Result<(), LogError> {
        assert!(id.end_offset <= self.applied_offset, "only committed records are cleaned");
        let before = self.log.log_start_offset();
        self.log.delete_records_before(id.end_offset)?;
        self.start_snapshot = Some(id);
        self.remove_snapshots_before(id)?;
        tracing::info!(
            old_log_start_offset = before,
            log_start_offset = id.end_offset,
            snapshot = %id.file_name(),
            "cleaned the metadata log below a snapshot"
        );
        Ok(())
    }

    /// Removes the snapshots older than `id`, which the log now starts at: every record they
    /// hold is in `id` too.
    fn remove_snapshots_before(&self, id: SnapshotId) -> Result<(), LogError> {
        let dir = self.log.dir();
        for old in snapshot::list(self.storage.as_ref(), dir)?.into_iter().filter(|s| *s < id) {
            remove_snapshot(self.storage.as_ref(), dir, old);
        }
        Ok(())
    }

    /// The snapshot the log starts at (`None` while it starts at 0).
    pub fn start_snapshot(&self) -> Option<SnapshotId> {
        self.start_snapshot
    }

    /// Writes a chunk of snapshot `id` being fetched from the quorum's leader at `position`.
    pub fn write_snapshot_chunk(
        &mut self,
        id: SnapshotId,
        position: u64,
        chunk: &[u8],
    ) -> Result<(), LogError> {
        snapshot::write_chunk(self.storage.as_ref(), self.log.dir(), id, position, chunk)
    }

    /// Loads snapshot `id`, fetched whole from the quorum's leader, in place of this node's
    /// log and image (Kafka's `truncateFullyAndStartAt` and `handleLoadSnapshot`): the
    /// snapshot is made durable and checked whole first — a bad one changes nothing —, then
    /// the log starts empty at its end offset and the image is the snapshot's. Returns what
    /// changed from the old image, for the publisher.
    pub fn load_fetched_snapshot(
        &mut self,
        id: SnapshotId,
        now_ms: i64,
    ) -> Result<MetadataDelta, LogError> {
        assert!(id.end_offset > self.applied_offset, "a fetched snapshot is past what is applied");
        let dir = self.log.dir().to_owned();
        snapshot::freeze(self.storage.as_ref(), &dir, id)?;
        let records = snapshot::read(self.storage.as_ref(), &dir, id)?;
        let mut image = MetadataImage::default();
        replay_checked(&mut image, &mut MetadataDelta::default(), &records, |why| {
            format!(
                "a record of the fetched metadata snapshot {} does not fit: {why}",
                id.file_name()
            )
        })?;
        let delta = MetadataDelta::between(&self.image, &image);
        self.log.truncate_fully_and_start_at(id.end_offset)?;
        self.applied_offset = id.end_offset;
        self.speculative = None;
        self.start_snapshot = Some(id);
        self.latest_snapshot = Some(id);
        self.bytes_since_snapshot = 0;
        self.last_snapshot_ms = now_ms;
        self.install(image);
        if let Some(checkpoint) = &self.committed_checkpoint {
            checkpoint.update([((METADATA_TOPIC.to_owned(), 0), id.end_offset)])?;
        }
        self.remove_snapshots_before(id)?;
        tracing::info!(
            snapshot = %snapshot::path(&dir, id).display(),
            records = records.len(),
            "loaded the metadata snapshot fetched from the quorum's leader; the log continues \
             after it"
        );
        Ok(delta)
    }

    /// Snapshots when the policy says so: enough record bytes since the last snapshot, or
    /// committed records older than the interval. A failed write is logged and retried at a
    /// later commit: the log still holds everything. Returns whether a snapshot was written.
    fn maybe_snapshot(&mut self, now_ms: i64) -> bool {
        let policy = self.snapshot_policy;
        let due = self.bytes_since_snapshot >= policy.max_bytes_between
            || (self.bytes_since_snapshot > 0
                && policy.max_interval_ms > 0
                && now_ms - self.last_snapshot_ms >= policy.max_interval_ms);
        if !due {
            return false;
        }
        match self.snapshot_now(now_ms) {
            Ok(written) => written.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "could not write a metadata snapshot; the log keeps every record");
                false
            }
        }
    }

    /// What replaying the log changed from the empty image, handed out once: start-up
    /// publishes it, so the logs are opened by the same path as at run time.
    pub fn take_replayed(&mut self) -> MetadataDelta {
        std::mem::take(&mut self.replayed)
    }

    /// The offset the next committed record gets: a new broker registration's epoch.
    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// The current image.
    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// Makes `records` durable as one batch at the log's latest epoch and applies them at once:
    /// what a sole writer that commits by writing does (tests, the fuzz targets). A node of
    /// the quorum appends through Raft instead ([`append_as_leader`](Self::append_as_leader),
    /// then [`apply_committed`](Self::apply_committed) when the high watermark passes).
    pub fn commit(
        &mut self,
        records: Vec<MetadataRecord>,
        now_ms: i64,
    ) -> Result<MetadataDelta, LogError> {
        if records.is_empty() {
            return Ok(MetadataDelta::default());
        }
        let batch = self.encode_checked(&records)?;
        self.append_as_leader(batch, self.latest_epoch().max(0), now_ms)?;
        self.apply_committed(self.log.log_end_offset(), now_ms)
    }

    /// The image the controller computes records from: the committed one with this leader's
    /// own uncommitted records applied.
    pub fn controller_image(&self) -> &Arc<MetadataImage> {
        self.speculative.as_ref().map_or(&self.image, |(image, _)| image)
    }

    /// Forgets the uncommitted records' image (the leadership is lost: they may never commit).
    pub fn revert_speculative(&mut self) {
        self.speculative = None;
    }

    /// `records` as one batch, once they are checked in order against a copy of the
    /// controller's image: a record that does not fit is refused before it reaches the log.
    /// The batch's base offset is assigned by the append.
    pub fn encode_checked(&self, records: &[MetadataRecord]) -> Result<Vec<u8>, LogError> {
        let mut scratch = MetadataImage::clone(self.controller_image());
        for record in records {
            scratch.check(record).map_err(|why| {
                LogError::InvalidRecord(format!("metadata record refused: {why}"))
            })?;
            MetadataDelta::default().replay(&mut scratch, record);
        }
        let entries: Vec<_> = records.iter().map(|r| (None, Some(records::encode(r)))).collect();
        Ok(encode_batch(&entries, 0).to_vec())
    }

    /// Appends the quorum leader's batch at `epoch`, durably, without applying it: it applies
    /// once committed. Returns the batch's base offset.
    pub fn append_as_leader(
        &mut self,
        mut batch: Vec<u8>,
        epoch: i32,
        now_ms: i64,
    ) -> Result<i64, LogError> {
        let stored = crate::internal_records::decode_records(Bytes::copy_from_slice(&batch))
            .map_err(|e| {
                LogError::InvalidRecord(format!("a metadata batch does not decode: {e}"))
            })?;
        let records = decode_all(&stored)?;
        let mut next = MetadataImage::clone(self.controller_image());
        for record in &records {
            MetadataDelta::default().replay(&mut next, record);
        }
        let info = self.log.append(&mut batch, epoch, now_ms)?;
        self.speculative = Some((Arc::new(next), self.log.log_end_offset()));
        Ok(info.base_offset)
    }

    /// Appends a new quorum leader's first record, Kafka's `LeaderChangeMessage` control
    /// record, at `epoch`: once it commits, everything before it has.
    pub fn append_leader_change(
        &mut self,
        epoch: i32,
        leader_id: i32,
        voters: &std::collections::BTreeSet<i32>,
        now_ms: i64,
    ) -> Result<i64, LogError> {
        let mut batch = crate::internal_records::encode_leader_change(leader_id, voters, now_ms);
        let info = self.log.append(&mut batch, epoch, now_ms)?;
        Ok(info.base_offset)
    }

    /// Applies the committed records not yet applied, up to `high_watermark`, to the served
    /// image: the one way records reach it at run time. Returns what they changed.
    pub fn apply_committed(
        &mut self,
        high_watermark: i64,
        now_ms: i64,
    ) -> Result<MetadataDelta, LogError> {
        let high_watermark = high_watermark.min(self.log.log_end_offset());
        let (stored, offset) = crate::internal_records::read_batches_below(
            &self.log,
            self.applied_offset,
            high_watermark,
        )?;
        let records = decode_all(&stored)?;
        if offset == self.applied_offset {
            return Ok(MetadataDelta::default());
        }
        self.bytes_since_snapshot +=
            stored.iter().map(|s| s.value.as_ref().map_or(0, |v| v.len() as u64)).sum::<u64>();
        let (next, delta) =
            self.replay_onto_scratch(&records, "committed metadata record refused")?;
        self.applied_offset = offset;
        self.install(next);
        if let Some(checkpoint) = &self.committed_checkpoint {
            // Before the effects are published: a restart replays no less than was served.
            checkpoint.update([((METADATA_TOPIC.to_owned(), 0), offset)])?;
        }
        if self.speculative.as_ref().is_some_and(|(_, end)| *end <= offset) {
            // Everything this leader appended is committed: the two images are one again.
            self.speculative = None;
        }
        let snapshotted = self.maybe_snapshot(now_ms);
        if snapshotted || now_ms.saturating_sub(self.last_clean_check_ms) >= CLEAN_CHECK_INTERVAL_MS
        {
            self.last_clean_check_ms = now_ms;
            if let Err(e) = self.maybe_clean(now_ms) {
                tracing::warn!(error = %e, "could not clean the metadata log below its snapshots; it keeps every record");
            }
        }
        Ok(delta)
    }

    /// The offset below which every record is applied to the image.
    pub fn applied_offset(&self) -> i64 {
        self.applied_offset
    }

    /// The log as the quorum's state machine sees it: start, end and each epoch's start.
    pub fn log_view(&self) -> crate::raft::client::LogView {
        let epochs = self.log.leader_epochs().iter().map(|e| (e.epoch, e.start_offset)).collect();
        let id = |s: SnapshotId| crate::raft::client::OffsetAndEpoch {
            offset: s.end_offset,
            epoch: s.epoch,
        };
        crate::raft::client::LogView::new(
            self.log.log_start_offset(),
            self.log.log_end_offset(),
            epochs,
        )
        .with_snapshots(self.start_snapshot.map(id), self.latest_snapshot.map(id))
    }

    /// Appends batches fetched from the quorum's leader (a broker follows `__cluster_metadata`
    /// as KRaft's observers do), with the leader's offsets and epochs, without applying them:
    /// what the leader serves may not be committed yet; [`apply_committed`](Self::apply_committed)
    /// applies them once its high watermark passes. The batches must start at this log's end
    /// offset and decode.
    pub fn append_replicated(&mut self, batches: &[u8], now_ms: i64) -> Result<(), LogError> {
        if batches.is_empty() {
            return Ok(());
        }
        let first = BatchHeader::parse(batches)?.base_offset();
        let end = self.log.log_end_offset();
        if first != end {
            return Err(LogError::InvalidRecord(format!(
                "the controller's metadata batches start at offset {first}, but this node's \
                 metadata log ends at {end}"
            )));
        }
        crate::internal_records::decode_records(Bytes::copy_from_slice(batches)).map_err(|e| {
            LogError::InvalidRecord(format!("fetched metadata batches do not decode: {e}"))
        })?;
        let mut copy = batches.to_vec();
        let info = self.log.append_as_follower(&mut copy, now_ms)?;
        debug_assert_eq!(info.base_offset, first, "a follower append keeps the leader's offsets");
        Ok(())
    }

    /// Removes the records at and above `offset`, a tail the quorum's leader does not have
    /// (its DivergingEpoch). Only records not yet applied can go: applied ones were committed,
    /// and a leader that lacks them lost committed metadata — refused, with the reason.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        if offset < self.applied_offset {
            return Err(LogError::InvalidRecord(format!(
                "the quorum's leader diverges at offset {offset}, below the {} committed records \
                 this node applied: the leader lost committed metadata",
                self.applied_offset
            )));
        }
        self.speculative = None;
        if self.log.truncate_to(offset)? {
            tracing::info!(offset, "truncated the metadata log's uncommitted tail");
            let point = ((METADATA_TOPIC.to_owned(), 0), self.log.recovery_point());
            if let Err(e) = self.recovery_points.update([point], &[]) {
                tracing::warn!(error = %e, "could not checkpoint the metadata log's recovery point");
            }
        }
        Ok(())
    }

    /// Checks `records` in order against a copy of the image and applies them there, so a bad
    /// record never reaches the log or the served image.
    fn replay_onto_scratch(
        &self,
        records: &[MetadataRecord],
        refused: &str,
    ) -> Result<(MetadataImage, MetadataDelta), LogError> {
        let mut delta = MetadataDelta::default();
        let mut next = MetadataImage::clone(&self.image);
        for record in records {
            next.check(record)
                .map_err(|why| LogError::InvalidRecord(format!("{refused}: {why}")))?;
            delta.replay(&mut next, record);
        }
        Ok((next, delta))
    }

    /// Serves the image the durable records produced and checkpoints the log's recovery point.
    fn install(&mut self, next: MetadataImage) {
        self.image = Arc::new(next);
        // The batch is durable (flushed by the append); checkpointing it keeps recovery from
        // treating committed metadata as a torn tail. The commit stands if this fails: the
        // next checkpoint catches up.
        let point = ((METADATA_TOPIC.to_owned(), 0), self.log.recovery_point());
        if let Err(e) = self.recovery_points.update([point], &[]) {
            tracing::warn!(error = %e, "could not checkpoint the metadata log's recovery point");
        }
    }

    /// Whole batches of the metadata log from `offset`, up to `max_bytes` (at least one batch):
    /// what the quorum's leader serves to a node fetching `__cluster_metadata`.
    pub fn read(&self, offset: i64, max_bytes: u32) -> Result<Bytes, LogError> {
        self.log.read(offset, max_bytes)
    }

    /// The leader epoch of the metadata log's last batch — of the snapshot it starts at when
    /// it is empty after one —; `-1` for an empty log.
    pub fn latest_epoch(&self) -> i32 {
        let last = self.log.leader_epochs().last().map(|e| e.epoch);
        last.or(self.start_snapshot.map(|s| s.epoch)).unwrap_or(-1)
    }

    /// The metadata log's first offset.
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// The largest epoch not above `epoch` and where it ends in the metadata log (a fetching
    /// node's divergence check, KIP-595).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.log.end_offset_for_epoch(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorizer::{
        AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType,
    };
    use crate::storage::MemoryStorage;
    use uuid::Uuid;

    /// A metadata log holding `records` as one batch, as a hand edit or a buggy writer could
    /// leave it (the batch's CRC is valid).
    fn log_with(records: &[MetadataRecord]) -> Arc<dyn Storage> {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let config = LogConfig { flush_interval_messages: 1, ..LogConfig::default() };
        let dir = Path::new("/data").join(METADATA_LOG_DIR);
        let mut log = PartitionLog::open(storage.clone(), dir, config, 0).unwrap();
        let entries: Vec<_> = records.iter().map(|r| (None, Some(records::encode(r)))).collect();
        log.append(&mut encode_batch(&entries, 0), 0, 0).unwrap();
        storage
    }

    /// The metadata store of `/data` on `storage`, as the broker opens it.
    fn open_at(storage: Arc<dyn Storage>) -> Result<MetadataStore, LogError> {
        let points = Arc::new(RecoveryPoints::read(storage.clone(), Path::new("/data"))?);
        MetadataStore::open(storage, Path::new("/data"), 0, points, None)
    }

    /// A data directory of an earlier kafka-lab holds JSON records: it opens with the same
    /// topics, new commits are in Kafka's binary form after them, and both replay.
    #[test]
    fn a_metadata_log_of_json_records_opens_and_grows_in_kafkas_form() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let config = LogConfig { flush_interval_messages: 1, ..LogConfig::default() };
        let dir = Path::new("/data").join(METADATA_LOG_DIR);
        let mut log = PartitionLog::open(storage.clone(), dir, config, 0).unwrap();
        let id = Uuid::from_u128(3);
        let json = [
            format!(r#"{{"type":"Topic","name":"old","topic_id":"{id}"}}"#),
            format!(
                r#"{{"type":"Partition","topic_id":"{id}","partition":0,"leader":1,"leader_epoch":0,"replicas":[1]}}"#
            ),
        ];
        let entries: Vec<_> =
            json.iter().map(|j| (None, Some(bytes::Bytes::from(j.clone())))).collect();
        log.append(&mut encode_batch(&entries, 0), 0, 0).unwrap();
        drop(log);

        let mut store = open_at(storage.clone()).unwrap();
        let old = store.image().topic("old").expect("the JSON topic is read").clone();
        assert_eq!((old.topic_id, old.partitions[&0].isr.clone()), (id, vec![1]));
        let new = MetadataRecord::Topic { name: "new".into(), topic_id: Uuid::from_u128(4) };
        store.commit(vec![new], 0).unwrap();
        let served = MetadataImage::clone(store.image());
        drop(store);
        assert_eq!(**open_at(storage).unwrap().image(), served);
    }

    /// Found by the `metadata_records` fuzz target: a record that does not fit the records
    /// before it (a partition of a topic never created, …) panicked in `MetadataImage::apply`
    /// and aborted the broker's start; it must be refused with the offset and what to do.
    #[test]
    fn an_inconsistent_metadata_log_is_refused_with_a_reason_not_a_panic() {
        let topic_id = Uuid::from_u128(1);
        let topic = |name: &str| MetadataRecord::Topic { name: name.into(), topic_id };
        let acl_id = Uuid::from_u128(9);
        let acl = MetadataRecord::AccessControlEntry {
            id: acl_id,
            acl: AclBinding {
                resource_type: ResourceType::Topic,
                resource_name: "t".into(),
                pattern_type: PatternType::Literal,
                principal: "User:a".into(),
                host: "*".into(),
                operation: AclOperation::Read,
                permission: AclPermissionType::Allow,
            },
        };
        let producer_ids = |next_producer_id| MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: -1,
            next_producer_id,
        };
        let cases = [
            (
                vec![MetadataRecord::Partition(PartitionRecord::new(topic_id, 0, vec![1]))],
                "partition 0 of unknown topic id",
            ),
            (vec![topic("t"), topic("t")], "topic `t` is created twice"),
            (vec![topic("t"), topic("u")], "already names `t`"),
            (
                vec![MetadataRecord::Config {
                    resource: ConfigResource::Topic("x".into()),
                    name: "retention.ms".into(),
                    value: Some("1".into()),
                }],
                "config `retention.ms` of unknown topic `x`",
            ),
            (vec![MetadataRecord::RemoveTopic { topic_id }], "removal of unknown topic"),
            (vec![producer_ids(2000), producer_ids(1000)], "next producer id 1000 is below 2000"),
            (vec![acl.clone(), acl], "is created twice"),
            (
                vec![MetadataRecord::RemoveAccessControlEntry { id: acl_id }],
                "removal of unknown ACL",
            ),
        ];
        for (records, expected) in cases {
            let err = match open_at(log_with(&records)) {
                Ok(_) => panic!("{records:?} opened"),
                Err(e) => e.to_string(),
            };
            let offset = format!("at offset {}", records.len() - 1);
            assert!(err.contains(expected) && err.contains(&offset), "{records:?}: {err}");
            assert!(err.contains("restore __cluster_metadata-0 from a backup"), "{err}");

            // The same records through `commit` are refused, not a panic, and change nothing.
            let mut store = open_at(Arc::new(MemoryStorage::new())).unwrap();
            let before = MetadataImage::clone(store.image());
            let err = store.commit(records, 0).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert_eq!(**store.image(), before);
        }
    }
}

#[cfg(test)]
mod replication_tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use uuid::Uuid;

    fn open_store() -> MetadataStore {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        storage.create_dir_all(Path::new("/data")).unwrap();
        let points = Arc::new(RecoveryPoints::read(storage.clone(), Path::new("/data")).unwrap());
        MetadataStore::open(storage, Path::new("/data"), 0, points, None).unwrap()
    }

    fn topic(name: &str, id: u128) -> MetadataRecord {
        MetadataRecord::Topic { name: name.into(), topic_id: Uuid::from_u128(id) }
    }

    /// The leader's controller computes from its own uncommitted records too: a second topic
    /// of one name is refused before the first commits; the served image moves at the commit.
    #[test]
    fn the_controller_image_runs_ahead_of_the_commit_and_the_served_one_does_not() {
        let mut leader = open_store();
        let batch = leader.encode_checked(&[topic("a", 1)]).unwrap();
        leader.append_as_leader(batch, 1, 0).unwrap();
        assert!(leader.controller_image().topic("a").is_some());
        assert!(leader.image().topic("a").is_none(), "not committed yet");
        let again = leader.encode_checked(&[topic("a", 3)]).unwrap_err().to_string();
        assert!(again.contains("refused"), "{again}");
        leader.apply_committed(1, 0).unwrap();
        assert!(leader.image().topic("a").is_some());
        assert!(Arc::ptr_eq(leader.controller_image(), leader.image()), "one image again");

        let batch = leader.encode_checked(&[topic("b", 2)]).unwrap();
        leader.append_as_leader(batch, 1, 0).unwrap();
        leader.revert_speculative();
        assert!(leader.controller_image().topic("b").is_none(), "a lost leadership forgets it");
    }

    /// A follower of the quorum holds what the leader served but applies only what is
    /// committed; an uncommitted tail can be truncated, a committed one cannot.
    #[test]
    fn replicated_records_apply_at_the_high_watermark_and_only_unapplied_ones_truncate() {
        let mut leader = open_store();
        leader.commit(vec![topic("a", 1)], 0).unwrap();
        leader.commit(vec![topic("b", 2)], 0).unwrap();
        let served = leader.read(0, 1 << 20).unwrap();

        let mut follower = open_store();
        follower.append_replicated(&served, 0).unwrap();
        assert_eq!(follower.log_end_offset(), 2);
        assert!(follower.image().topic("a").is_none(), "nothing applied before it commits");
        let delta = follower.apply_committed(1, 0).unwrap();
        assert!(!delta.is_empty());
        assert!(follower.image().topic("a").is_some() && follower.image().topic("b").is_none());
        assert_eq!(follower.applied_offset(), 1);

        follower.truncate_to(1).unwrap();
        assert_eq!(follower.log_end_offset(), 1, "the uncommitted tail went");
        let why = follower.truncate_to(0).unwrap_err().to_string();
        assert!(why.contains("lost committed metadata"), "{why}");
        assert!(follower.image().topic("a").is_some());
    }

    /// A node that is not the sole voter checkpoints what it applied: restarted, it replays
    /// only that, and a tail it never knew committed waits for the leader — which may
    /// truncate it (the leader that wrote it died before a majority had it).
    #[test]
    fn a_restart_replays_only_what_was_known_committed() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        storage.create_dir_all(Path::new("/data")).unwrap();
        let open = || {
            let data = Path::new("/data");
            let points = Arc::new(RecoveryPoints::read(storage.clone(), data).unwrap());
            let committed = Arc::new(HighWatermarks::read(storage.clone(), data).unwrap());
            MetadataStore::open(storage.clone(), data, 0, points, Some(committed)).unwrap()
        };
        let mut voter = open();
        let batch = voter.encode_checked(&[topic("a", 1)]).unwrap();
        voter.append_as_leader(batch, 1, 0).unwrap();
        voter.apply_committed(1, 0).unwrap();
        let batch = voter.encode_checked(&[topic("b", 2)]).unwrap();
        voter.append_as_leader(batch, 1, 0).unwrap();
        drop(voter);
        // Without the checkpoint (a log its sole voter wrote), the whole log is replayed.
        let points = Arc::new(RecoveryPoints::read(storage.clone(), Path::new("/data")).unwrap());
        let whole = MetadataStore::open(storage.clone(), Path::new("/data"), 0, points, None);
        assert_eq!(whole.unwrap().applied_offset(), 2);

        let mut restarted = open();
        assert_eq!((restarted.applied_offset(), restarted.log_end_offset()), (1, 2));
        assert!(restarted.image().topic("a").is_some());
        assert!(restarted.image().topic("b").is_none(), "never known committed");
        restarted.truncate_to(1).unwrap();
        assert_eq!(restarted.log_end_offset(), 1, "the new leader's log has no `b`");
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use uuid::Uuid;

    fn open(storage: &Arc<dyn Storage>) -> MetadataStore {
        let data = Path::new("/data");
        storage.create_dir_all(data).unwrap();
        let points = Arc::new(RecoveryPoints::read(storage.clone(), data).unwrap());
        MetadataStore::open(storage.clone(), data, 0, points, None).unwrap()
    }

    fn topic(i: u128) -> MetadataRecord {
        MetadataRecord::Topic { name: format!("t{i}"), topic_id: Uuid::from_u128(i + 1) }
    }

    fn snapshot_files(storage: &Arc<dyn Storage>) -> Vec<String> {
        let mut names = storage.list_dir(&Path::new("/data").join(METADATA_LOG_DIR)).unwrap();
        names.retain(|n| SnapshotId::parse(n).is_some() || n.ends_with(".checkpoint.part"));
        names.sort();
        names
    }

    /// The policy snapshots once enough record bytes are committed; a restart loads the
    /// newest snapshot and replays only the log after it, into the same image and the same
    /// start-up delta; under the retention limits every snapshot is kept.
    #[test]
    fn a_restart_loads_the_newest_snapshot_and_replays_the_tail() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let mut store = open(&storage);
        store.set_snapshot_policy(SnapshotPolicy {
            max_bytes_between: 200,
            max_interval_ms: 0,
            ..SnapshotPolicy::default()
        });
        for i in 0..40 {
            store.commit(vec![topic(i)], 0).unwrap();
        }
        let latest = store.latest_snapshot().expect("the byte limit was passed");
        assert!(latest.end_offset > 0 && latest.end_offset < 40, "{latest:?}");
        assert!(snapshot_files(&storage).len() > 2, "{:?}", snapshot_files(&storage));
        assert_eq!(store.log_start_offset(), 0, "nothing cleaned under the retention limits");
        let served = MetadataImage::clone(store.image());
        drop(store);

        let mut restarted = open(&storage);
        assert_eq!(restarted.latest_snapshot(), Some(latest));
        assert_eq!(**restarted.image(), served);
        assert_eq!(restarted.applied_offset(), 40);
        let delta = restarted.take_replayed();
        assert_eq!(delta.created_topics().len(), 40, "start-up publishes every topic");
    }

    /// A damaged newest snapshot is passed over (kept, with a warning) for an older one or the
    /// log; a `.part` file, an interrupted write, is removed.
    #[test]
    fn a_damaged_snapshot_is_passed_over_and_an_interrupted_one_removed() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let mut store = open(&storage);
        for i in 0..10 {
            store.commit(vec![topic(i)], 0).unwrap();
        }
        let (id, _) = store.snapshot_now(0).unwrap().unwrap();
        let served = MetadataImage::clone(store.image());
        drop(store);
        let dir = Path::new("/data").join(METADATA_LOG_DIR);
        let mut file = storage.open(&snapshot::path(&dir, id), false).unwrap();
        let len = file.len().unwrap();
        file.truncate(len - 5).unwrap();
        drop(file);
        storage.open(&dir.join("00000000000000000003-0000000000.checkpoint.part"), true).unwrap();

        let restarted = open(&storage);
        assert_eq!(restarted.latest_snapshot(), None, "the torn snapshot is not loaded");
        assert_eq!(**restarted.image(), served, "the whole log rebuilt the image");
        assert_eq!(snapshot_files(&storage), vec![id.file_name()], "kept; the .part removed");
    }

    /// Past `metadata.max.retention.bytes` the log is cleaned up to the newest snapshot (the
    /// older snapshots go, the newest and the log after it stay); a fetch from below the new
    /// log start is sent to the snapshot; a restart starts from the snapshot at the log start.
    #[test]
    fn past_the_retention_the_log_is_cleaned_below_the_newest_snapshot() {
        use crate::raft::client::FetchPosition;
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let mut store = open(&storage);
        store.set_snapshot_policy(SnapshotPolicy {
            max_bytes_between: 200,
            max_interval_ms: 0,
            retention_bytes: 0,
            retention_ms: -1,
        });
        for i in 0..40 {
            store.commit(vec![topic(i)], 0).unwrap();
        }
        let latest = store.latest_snapshot().unwrap();
        let start = store.start_snapshot().expect("the log was cleaned");
        assert_eq!(start, latest, "cleaned up to the newest snapshot");
        assert_eq!(store.log_start_offset(), latest.end_offset);
        assert_eq!(snapshot_files(&storage), vec![latest.file_name()], "the older ones went");
        let view = store.log_view();
        assert_eq!(
            view.validate(0, 0),
            FetchPosition::Snapshot(latest.into()),
            "a new node is sent the snapshot"
        );
        assert_eq!(
            view.validate(store.log_end_offset(), store.latest_epoch()),
            FetchPosition::Valid
        );
        let served = MetadataImage::clone(store.image());
        drop(store);

        let restarted = open(&storage);
        assert_eq!(restarted.log_start_offset(), latest.end_offset);
        assert_eq!(restarted.start_snapshot(), Some(latest));
        assert_eq!(**restarted.image(), served);
    }

    /// A node behind the leader's log start loads the leader's snapshot, fetched in chunks:
    /// its image becomes the snapshot's, the delta names what it lacked and what it had that
    /// the snapshot has not, the log starts empty at the snapshot, and a restart keeps it. A
    /// torn download is refused and changes nothing.
    #[test]
    fn a_fetched_snapshot_replaces_the_log_and_the_image() {
        let leader_storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let mut leader = open(&leader_storage);
        for i in 0..30 {
            leader.commit(vec![topic(i)], 0).unwrap();
        }
        leader
            .commit(vec![MetadataRecord::RemoveTopic { topic_id: Uuid::from_u128(1) }], 0)
            .unwrap();
        let (id, size) = leader.snapshot_now(0).unwrap().unwrap();

        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let mut node = open(&storage);
        node.commit(vec![topic(0)], 0).unwrap();
        let before = MetadataImage::clone(node.image());

        // A download cut short is no snapshot.
        let (_, head) = leader.snapshot_chunk(id, 0, 100).unwrap().unwrap();
        node.write_snapshot_chunk(id, 0, &head).unwrap();
        assert!(node.load_fetched_snapshot(id, 0).is_err(), "a torn snapshot is refused");
        assert_eq!(**node.image(), before, "and changes nothing");
        assert_eq!(node.applied_offset(), 1);

        let mut position = 0;
        while position < size {
            let (_, chunk) = leader.snapshot_chunk(id, position, 333).unwrap().unwrap();
            node.write_snapshot_chunk(id, position, &chunk).unwrap();
            position += chunk.len() as u64;
        }
        let delta = node.load_fetched_snapshot(id, 0).unwrap();
        assert_eq!(**node.image(), **leader.image());
        assert_eq!(delta.created_topics().len(), 29, "t1..t29 are new here");
        assert_eq!(delta.removed_topics().len(), 1, "t0 is gone in the snapshot");
        assert_eq!(
            (node.log_start_offset(), node.log_end_offset()),
            (id.end_offset, id.end_offset)
        );
        assert_eq!(node.applied_offset(), id.end_offset);
        assert_eq!(node.latest_epoch(), id.epoch, "an empty log continues the snapshot's epoch");
        drop(node);

        let restarted = open(&storage);
        assert_eq!(**restarted.image(), **leader.image());
        assert_eq!(restarted.start_snapshot(), Some(id));
    }
}

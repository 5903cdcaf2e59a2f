//! Cluster metadata as KRaft keeps it: an ordered log of [`MetadataRecord`]s, persisted in
//! `<log.dirs>/__cluster_metadata-0/` and applied to an in-memory [`MetadataImage`].
//!
//! Architecture invariant: the image changes only by applying records that were first made
//! durable in the log, so replaying the log on start rebuilds exactly the image that was served.
//! A later Raft quorum replaces [`MetadataStore::commit`]'s local append; nothing else changes.

mod image;
mod records;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

pub use image::{MetadataImage, PartitionImage, TopicImage};
pub use records::{ConfigResource, MetadataRecord};

use crate::internal_records::{encode_batch, read_all};
use crate::log::checkpoint::RecoveryPoints;
use crate::log::{LogConfig, LogError, PartitionLog};
use crate::storage::Storage;

/// Directory name of the metadata log inside the log directory, as KRaft names it.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";

/// The metadata log's topic name, as KRaft names it (its one partition is 0).
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The metadata log and the image it produces.
pub struct MetadataStore {
    /// Shared so that a request can hold a consistent snapshot without copying it.
    image: Arc<MetadataImage>,
    log: PartitionLog,
    recovery_points: Arc<RecoveryPoints>,
    /// Topic ids whose removal the replayed log records: a partition directory of one of them is
    /// a deletion to finish, not a stray.
    removed_topic_ids: BTreeSet<Uuid>,
}

impl MetadataStore {
    /// Opens the metadata log under `log_dir` (created empty on a freshly formatted directory)
    /// and replays it, recovering above its checkpointed recovery point. A record that cannot
    /// be read below the recovery point fails the open: serving an image without the records
    /// after it would make topics, ACLs and users silently disappear.
    pub fn open(
        storage: Arc<dyn Storage>,
        log_dir: &Path,
        now_ms: i64,
        recovery_points: Arc<RecoveryPoints>,
    ) -> Result<Self, LogError> {
        let config = LogConfig {
            // Metadata must never be lost or expire: flush every write, keep everything.
            flush_interval_messages: 1,
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        };
        let log = PartitionLog::open_at_recovery_point(
            storage,
            log_dir.join(METADATA_LOG_DIR),
            config,
            now_ms,
            recovery_points.get(METADATA_TOPIC, 0),
        )?;
        let mut image = MetadataImage::default();
        let mut removed_topic_ids = BTreeSet::new();
        for stored in read_all(&log)? {
            let value = stored.value.as_deref().unwrap_or_default();
            let record: MetadataRecord = serde_json::from_slice(value).map_err(|e| {
                LogError::InvalidRecord(format!(
                    "metadata record at offset {} is invalid: {e}",
                    stored.offset
                ))
            })?;
            if let MetadataRecord::RemoveTopic { topic_id } = &record {
                removed_topic_ids.insert(*topic_id);
            }
            image.apply(&record);
        }
        Ok(Self { image: Arc::new(image), log, recovery_points, removed_topic_ids })
    }

    /// Topic ids the replayed log removed.
    pub fn removed_topic_ids(&self) -> &BTreeSet<Uuid> {
        &self.removed_topic_ids
    }

    /// The current image.
    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// Makes `records` durable as one batch, then applies them: all or nothing.
    pub fn commit(&mut self, records: Vec<MetadataRecord>, now_ms: i64) -> Result<(), LogError> {
        if records.is_empty() {
            return Ok(());
        }
        // Validate against a scratch image first so a bad record never reaches the log.
        let mut next = MetadataImage::clone(&self.image);
        records.iter().for_each(|r| next.apply(r));
        let entries: Vec<_> = records
            .iter()
            .map(|r| (None, Some(Bytes::from(serde_json::to_vec(r).expect("records serialize")))))
            .collect();
        let mut batch = encode_batch(&entries, now_ms);
        self.log.append(&mut batch, 0, now_ms)?;
        self.image = Arc::new(next);
        // The batch is durable (flushed by the append); checkpointing it keeps recovery from
        // treating committed metadata as a torn tail. The commit stands if this fails: the
        // next checkpoint catches up.
        let point = ((METADATA_TOPIC.to_owned(), 0), self.log.recovery_point());
        if let Err(e) = self.recovery_points.update([point], &[]) {
            tracing::warn!(error = %e, "could not checkpoint the metadata log's recovery point");
        }
        Ok(())
    }
}

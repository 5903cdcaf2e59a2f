//! Cluster metadata as KRaft keeps it: an ordered log of [`MetadataRecord`]s, persisted in
//! `<log.dirs>/__cluster_metadata-0/` and applied to an in-memory [`MetadataImage`].
//!
//! Architecture invariant: the image changes only by applying records that were first made
//! durable in the log, so replaying the log on start rebuilds exactly the image that was served.
//! A later Raft quorum replaces [`MetadataStore::commit`]'s local append; nothing else changes.

mod image;
mod records;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

pub use image::{MetadataImage, PartitionImage, TopicImage};
pub use records::{ConfigResource, MetadataRecord};

use crate::internal_records::{encode_batch, read_all};
use crate::log::{LogConfig, LogError, PartitionLog};
use crate::storage::Storage;

/// Directory name of the metadata log inside the log directory, as KRaft names it.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";

/// The metadata log and the image it produces.
pub struct MetadataStore {
    /// Shared so that a request can hold a consistent snapshot without copying it.
    image: Arc<MetadataImage>,
    log: PartitionLog,
}

impl MetadataStore {
    /// Opens (or creates) the metadata log under `log_dir` and replays it.
    pub fn open(storage: Arc<dyn Storage>, log_dir: &Path, now_ms: i64) -> Result<Self, LogError> {
        let config = LogConfig {
            // Metadata must never be lost or expire: flush every write, keep everything.
            flush_interval_messages: 1,
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(storage, log_dir.join(METADATA_LOG_DIR), config, now_ms)?;
        let mut image = MetadataImage::default();
        for stored in read_all(&log)? {
            let value = stored.value.as_deref().unwrap_or_default();
            let record: MetadataRecord = serde_json::from_slice(value).map_err(|e| {
                LogError::InvalidRecord(format!(
                    "metadata record at offset {} is invalid: {e}",
                    stored.offset
                ))
            })?;
            image.apply(&record);
        }
        Ok(Self { image: Arc::new(image), log })
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
        Ok(())
    }
}

//! Idempotent producer state, after Kafka's `ProducerStateManager`: per producer id, the
//! current epoch and the metadata of the last few batches, used to drop retried duplicates
//! and to reject sequence gaps.

use std::collections::{BTreeMap, VecDeque};

use super::batch::{next_sequence, BatchHeader};
use super::LogError;

/// How many recent batches per producer are remembered for duplicate detection; matches the
/// producer's `max.in.flight.requests.per.connection` limit of 5 for idempotence.
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// Metadata of one appended batch of an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of the first record.
    pub first_seq: i32,
    /// Sequence of the last record.
    pub last_seq: i32,
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Largest record timestamp of the batch.
    pub max_timestamp: i64,
}

/// State of one producer id.
#[derive(Debug, Clone, Default)]
pub struct ProducerEntry {
    /// Current producer epoch.
    pub epoch: i16,
    /// The most recent batches, oldest first.
    pub batches: VecDeque<BatchMetadata>,
}

/// Outcome of checking one batch against the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Accept,
    /// A retry of an already-appended batch; answer with these original offsets.
    Duplicate(BatchMetadata),
}

/// Producer state of one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerStateTable {
    producers: BTreeMap<i64, ProducerEntry>,
}

impl ProducerStateTable {
    /// The state of one producer, if known.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Replace the state of one producer (used to commit staged updates after a write).
    pub fn insert(&mut self, producer_id: i64, entry: ProducerEntry) {
        self.producers.insert(producer_id, entry);
    }

    /// The largest producer id with state in this partition.
    pub fn max_producer_id(&self) -> Option<i64> {
        self.producers.keys().next_back().copied()
    }

    /// Record an appended batch whose offsets are assigned.
    pub fn update(&mut self, h: &BatchHeader<'_>) {
        let entry = self.producers.entry(h.producer_id()).or_default();
        entry.record(h.producer_epoch(), BatchMetadata::of(h, h.base_offset()));
    }
}

impl BatchMetadata {
    /// Metadata of `h` if it is (or will be) appended at `base_offset`.
    pub fn of(h: &BatchHeader<'_>, base_offset: i64) -> Self {
        BatchMetadata {
            first_seq: h.base_sequence(),
            last_seq: h.last_sequence(),
            first_offset: base_offset,
            last_offset: base_offset + i64::from(h.last_offset_delta()),
            max_timestamp: h.max_timestamp(),
        }
    }
}

impl ProducerEntry {
    /// Record an appended batch. A different epoch resets the history.
    pub fn record(&mut self, epoch: i16, batch: BatchMetadata) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        self.batches.push_back(batch);
        while self.batches.len() > NUM_BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
    }
}

/// Check a batch (before offsets are assigned) against the producer's state (`None` when the
/// producer id is unknown).
pub fn check_sequence(
    entry: Option<&ProducerEntry>,
    h: &BatchHeader<'_>,
) -> Result<SequenceCheck, LogError> {
    let pid = h.producer_id();
    let epoch = h.producer_epoch();
    let first_seq = h.base_sequence();
    let Some(entry) = entry else {
        if first_seq != 0 {
            return Err(LogError::UnknownProducerId(format!(
                "producer {pid} (epoch {epoch}) is unknown and its first sequence is \
                 {first_seq}, not 0"
            )));
        }
        return Ok(SequenceCheck::Accept);
    };
    if epoch < entry.epoch {
        return Err(LogError::InvalidProducerEpoch(format!(
            "producer {pid} epoch {epoch} is older than the current epoch {}",
            entry.epoch
        )));
    }
    if epoch == entry.epoch {
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == h.last_sequence())
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        let last_seq = entry.batches.back().map_or(-1, |b| b.last_seq);
        if first_seq != next_sequence(last_seq, 1) {
            return Err(LogError::OutOfOrderSequence(format!(
                "producer {pid} epoch {epoch}: expected sequence {}, got {first_seq}",
                next_sequence(last_seq, 1)
            )));
        }
    } else if first_seq != 0 {
        return Err(LogError::OutOfOrderSequence(format!(
            "producer {pid} bumped its epoch to {epoch} but starts at sequence {first_seq}, \
             not 0"
        )));
    }
    Ok(SequenceCheck::Accept)
}

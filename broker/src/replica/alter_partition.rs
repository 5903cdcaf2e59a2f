//! The leader's ISR proposals on their way to the controller, after Kafka's
//! `DefaultAlterPartitionManager`: a [`Partition`] that expands or shrinks its ISR queues one
//! [`AlterPartitionItem`] (at most one per partition; a second is refused with
//! OPERATION_NOT_ATTEMPTED, as Kafka's `submit`), [`AlterPartitionManager::take_pending_request`]
//! turns the queue into one `AlterPartitionRequest` (one in flight at a time), and
//! [`AlterPartitionManager::handle_response`] gives each sent partition its result.
//!
//! Who carries the request to the controller is not this module's business: the caller takes
//! the request, sends it, and hands the response (or nothing, on a failed send:
//! [`AlterPartitionManager::request_failed`]) back.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, Weak};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};
use uuid::Uuid;

use super::Partition;
use crate::log::manager::PartitionKey;

/// An ISR change as the leader proposes it (Kafka's `LeaderAndIsr` sent in AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    /// The leader epoch the change is made at.
    pub leader_epoch: i32,
    /// The partition epoch the change is based on (the controller's compare-and-set).
    pub partition_epoch: i32,
    /// The proposed ISR with each member's broker epoch, -1 where unknown; the leader's own
    /// entry is filled with the sender's broker epoch when the request is built.
    pub new_isr_with_epochs: Vec<(i32, i64)>,
    /// The leader recovery state (0 recovered).
    pub leader_recovery_state: i8,
}

/// What the controller answered for one partition: the partition's new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedIsr {
    /// The leader epoch.
    pub leader_epoch: i32,
    /// The ISR now committed.
    pub isr: Vec<i32>,
    /// The leader recovery state.
    pub leader_recovery_state: i8,
    /// The partition epoch of the committed state.
    pub partition_epoch: i32,
}

/// One queued proposal: the partition it is for and what it proposes.
#[derive(Debug, Clone)]
pub struct AlterPartitionItem {
    /// The topic's id.
    pub topic_id: Uuid,
    /// The topic's name (the queue's key, as Kafka keys by topic-partition).
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The proposed change.
    pub proposal: IsrProposal,
    /// The partition to give the result to; gone if it was deleted meanwhile.
    pub target: Weak<Partition>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Proposals not yet answered, by (topic, partition); sent ones stay until answered.
    unsent: BTreeMap<PartitionKey, AlterPartitionItem>,
    /// The partitions of the request in flight, if one is.
    inflight: Option<Vec<PartitionKey>>,
}

/// The queue of ISR proposals of this node's partitions (Kafka's `AlterPartitionManager`).
#[derive(Debug, Default)]
pub struct AlterPartitionManager {
    queue: Mutex<Queue>,
    /// Woken when a proposal is queued or a request is answered: the sender
    /// (`controller_channel`) has something to send.
    ready: tokio::sync::Notify,
}

impl AlterPartitionManager {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().expect("alter partition queue poisoned")
    }

    /// Queues `item`; false (Kafka's OPERATION_NOT_ATTEMPTED) when the partition already has a
    /// proposal queued or in flight.
    pub fn submit(&self, item: AlterPartitionItem) -> bool {
        let mut queue = self.lock();
        let key = (item.topic.clone(), item.partition);
        if queue.unsent.contains_key(&key) {
            return false;
        }
        queue.unsent.insert(key, item);
        drop(queue);
        self.ready.notify_one();
        true
    }

    /// Resolves when there may be a request to send (a proposal queued since the last call).
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    /// The proposals queued, in (topic, partition) order (sent ones included until answered).
    pub fn pending_items(&self) -> Vec<AlterPartitionItem> {
        self.lock().unsent.values().cloned().collect()
    }

    /// The next AlterPartition request from `broker_id` at `broker_epoch`, with every queued
    /// proposal; `None` while a request is in flight or nothing is queued. The leader's own
    /// ISR entry carries `broker_epoch` (Kafka's `localBrokerEpochSupplier`).
    pub fn take_pending_request(
        &self,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Option<AlterPartitionRequest> {
        let mut queue = self.lock();
        if queue.inflight.is_some() || queue.unsent.is_empty() {
            return None;
        }
        let mut topics: BTreeMap<Uuid, Vec<PartitionData>> = BTreeMap::new();
        for item in queue.unsent.values() {
            let isr = item
                .proposal
                .new_isr_with_epochs
                .iter()
                .map(|&(id, epoch)| {
                    let epoch = if id == broker_id { broker_epoch } else { epoch };
                    BrokerState::default().with_broker_id(BrokerId(id)).with_broker_epoch(epoch)
                })
                .collect();
            topics.entry(item.topic_id).or_default().push(
                PartitionData::default()
                    .with_partition_index(item.partition)
                    .with_leader_epoch(item.proposal.leader_epoch)
                    .with_new_isr_with_epochs(isr)
                    .with_leader_recovery_state(item.proposal.leader_recovery_state)
                    .with_partition_epoch(item.proposal.partition_epoch),
            );
        }
        queue.inflight = Some(queue.unsent.keys().cloned().collect());
        let topics = topics
            .into_iter()
            .map(|(topic_id, partitions)| {
                TopicData::default().with_topic_id(topic_id).with_partitions(partitions)
            })
            .collect();
        Some(
            AlterPartitionRequest::default()
                .with_broker_id(BrokerId(broker_id))
                .with_broker_epoch(broker_epoch)
                .with_topics(topics),
        )
    }

    /// The request in flight got no response (the send failed): its proposals stay queued for
    /// the next request, as Kafka retries them.
    pub fn request_failed(&self) {
        self.lock().inflight = None;
    }

    /// Applies the controller's answer to the request in flight (Kafka's
    /// `handleAlterPartitionResponse`). A top-level error (STALE_BROKER_EPOCH, NOT_CONTROLLER,
    /// ...) keeps every proposal queued for a retry; otherwise each answered partition leaves
    /// the queue and its partition gets the committed state or the error — a retriable error
    /// queues the same proposal again —, and a partition missing from the response stays
    /// queued. Returns the top-level error, if any.
    pub fn handle_response(&self, response: &AlterPartitionResponse) -> Option<ResponseError> {
        let answered: Vec<(AlterPartitionItem, Result<CommittedIsr, ResponseError>)> = {
            let mut queue = self.lock();
            let Some(inflight) = queue.inflight.take() else {
                tracing::warn!("AlterPartition response with no request in flight");
                return None;
            };
            if let Some(error) = kafka_protocol::ResponseError::try_from_code(response.error_code) {
                tracing::warn!(%error, "the controller refused AlterPartition; retrying");
                return Some(error);
            }
            let mut results = BTreeMap::new();
            for topic in &response.topics {
                for p in &topic.partitions {
                    let result = match ResponseError::try_from_code(p.error_code) {
                        Some(error) => Err(error),
                        None => Ok(CommittedIsr {
                            leader_epoch: p.leader_epoch,
                            isr: p.isr.iter().map(|id| id.0).collect(),
                            leader_recovery_state: p.leader_recovery_state,
                            partition_epoch: p.partition_epoch,
                        }),
                    };
                    results.insert((topic.topic_id, p.partition_index), result);
                }
            }
            let mut answered = Vec::new();
            for key in inflight {
                let Some(item) = queue.unsent.get(&key) else { continue };
                match results.remove(&(item.topic_id, item.partition)) {
                    Some(result) => {
                        let item = queue.unsent.remove(&key).expect("looked up above");
                        answered.push((item, result));
                    }
                    None => tracing::warn!(
                        topic = key.0,
                        partition = key.1,
                        "partition sent in AlterPartition but not in the response"
                    ),
                }
            }
            answered
        };
        // Without the queue's lock: a partition's lock comes first (it submits under it).
        for (item, result) in answered {
            let Some(partition) = item.target.upgrade() else { continue };
            if partition.handle_alter_partition_result(&item.proposal, result) {
                // Kafka resubmits the same proposal after an unexpected error.
                if !self.submit(item.clone()) {
                    partition.handle_alter_partition_result(
                        &item.proposal,
                        Err(ResponseError::OperationNotAttempted),
                    );
                }
            }
        }
        None
    }
}

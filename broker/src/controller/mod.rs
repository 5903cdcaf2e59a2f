//! The controller's cluster logic, after Kafka's `ClusterControlManager`,
//! `BrokerHeartbeatManager`, `ReplicationControlManager`, `PartitionChangeBuilder` and
//! `StripedReplicaPlacer`: pure functions over the metadata image (and the controller's
//! in-memory broker sessions) that return the records to commit and the response to give.
//!
//! Architecture invariant: nothing here commits or performs effects. `Broker` runs these under
//! the metadata lock and commits what they return through `commit_and_publish`, so the node
//! that replays the records (here, or a follower later) does exactly what the controller
//! decided.
//!
//! - `placement.rs`: where new replicas go.
//! - `partition_change.rs`: one partition's leader election and ISR change.
//! - `replication.rs`: leaders and ISRs when a broker is fenced, unfenced or shuts down;
//!   AlterPartition.
//! - `cluster_control.rs`: BrokerRegistration, broker epochs, finalized features.
//! - `heartbeats.rs`: broker sessions, BrokerHeartbeat's state machine, session expiry.

pub mod cluster_control;
pub mod heartbeats;
pub mod partition_change;
pub mod placement;
pub mod replication;

use crate::metadata::{MetadataImage, MetadataRecord};

/// What a controller operation decided: the records to commit (all or nothing) and the
/// answer to give once they are committed (Kafka's `ControllerResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerResult<T> {
    /// Records to commit, in order, as one batch.
    pub records: Vec<MetadataRecord>,
    /// The response.
    pub response: T,
}

/// Registered, unfenced and not in controlled shutdown: may lead and join ISRs (Kafka's
/// `ClusterControlManager.isActive`).
pub fn is_active(image: &MetadataImage, broker_id: i32) -> bool {
    image.brokers().get(&broker_id).is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
}

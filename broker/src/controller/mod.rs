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
//! - `election.rs`: ElectLeaders (PREFERRED, UNCLEAN) and the periodic leader rebalance.
//! - `reassignment.rs`: AlterPartitionReassignments and ListPartitionReassignments.
//! - `replication.rs`: leaders and ISRs when a broker is fenced, unfenced or shuts down;
//!   AlterPartition.
//! - `cluster_control.rs`: BrokerRegistration, broker epochs, finalized features.
//! - `heartbeats.rs`: broker sessions, BrokerHeartbeat's state machine, session expiry.

pub mod cluster_control;
pub mod election;
pub mod heartbeats;
pub mod partition_change;
pub mod placement;
pub mod reassignment;
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

#[cfg(test)]
pub(crate) mod test_support {
    use uuid::Uuid;

    use crate::metadata::{
        BrokerEndpoint, MetadataImage, MetadataRecord, PartitionRecord, RegisterBrokerRecord,
    };

    /// Topic `t`'s id in [`cluster`].
    pub const TOPIC_ID: Uuid = Uuid::from_u128(0x7);

    /// The registration of broker `id` at epoch `id * 10`, unfenced.
    pub fn registration(id: i32) -> RegisterBrokerRecord {
        RegisterBrokerRecord {
            broker_id: id,
            incarnation_id: Uuid::from_u128(id as u128),
            broker_epoch: i64::from(id) * 10,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9090 + id as u16,
                security_protocol: 0,
            }],
            features: Vec::new(),
            rack: None,
            fenced: false,
            in_controlled_shutdown: false,
        }
    }

    /// Brokers 1, 2, 3 (epochs 10, 20, 30) unfenced; topic `t` with one partition per entry of
    /// `partitions` on those replicas, all in sync, the first leading.
    pub fn cluster(partitions: &[&[i32]]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=3 {
            image.apply(&MetadataRecord::RegisterBroker(registration(id)));
        }
        image.apply(&MetadataRecord::Topic { name: "t".into(), topic_id: TOPIC_ID });
        for (index, replicas) in partitions.iter().enumerate() {
            let record = PartitionRecord::new(TOPIC_ID, index as i32, replicas.to_vec());
            image.apply(&MetadataRecord::Partition(record));
        }
        image
    }

    /// `image` with `records` applied.
    pub fn applied(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
        let mut next = image.clone();
        for record in records {
            next.check(record).unwrap();
            next.apply(record);
        }
        next
    }
}

//! Partition reassignments: AlterPartitionReassignments and ListPartitionReassignments as
//! Kafka's admin client sends them, for `kafka-reassign-partitions.sh`'s counterpart.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest, TopicName,
};

use crate::client::{check, s, AdminClient, AdminError, BrokerError};

/// How long the controller may take (Kafka's admin client's default request timeout).
const REASSIGNMENT_TIMEOUT_MS: i32 = 30_000;

/// A topic partition: (topic, partition).
pub type TopicPartition = (String, i32);

/// Each partition's outcome: `Ok` once the controller accepted its change.
pub type ReassignmentResults = BTreeMap<TopicPartition, Result<(), BrokerError>>;

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    /// The replicas now: the target ones, then those being removed.
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding: Vec<i32>,
    /// Replicas being removed.
    pub removing: Vec<i32>,
}

fn ids(list: &[BrokerId]) -> Vec<i32> {
    list.iter().map(|b| b.0).collect()
}

impl AdminClient {
    /// AlterPartitionReassignments: per partition, its target replicas (`None` cancels). The
    /// outcome per partition, or a request-wide refusal. Without
    /// `allow_replication_factor_change` a target of another size is refused per partition
    /// (KIP-860, v1; a broker without v1 makes this an unsupported version, as in Kafka).
    pub fn alter_partition_reassignments(
        &mut self,
        targets: &BTreeMap<TopicPartition, Option<Vec<i32>>>,
        allow_replication_factor_change: bool,
    ) -> Result<Result<ReassignmentResults, BrokerError>, AdminError> {
        let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
        for ((topic, partition), replicas) in targets {
            by_topic.entry(topic).or_default().push(
                ReassignablePartition::default().with_partition_index(*partition).with_replicas(
                    replicas.as_ref().map(|r| r.iter().copied().map(BrokerId).collect()),
                ),
            );
        }
        let topics = by_topic
            .into_iter()
            .map(|(name, partitions)| {
                ReassignableTopic::default()
                    .with_name(TopicName(s(name)))
                    .with_partitions(partitions)
            })
            .collect();
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(REASSIGNMENT_TIMEOUT_MS)
            .with_allow_replication_factor_change(allow_replication_factor_change)
            .with_topics(topics);
        let lowest = if allow_replication_factor_change { 0 } else { 1 };
        let version = self.version::<AlterPartitionReassignmentsRequest>((lowest, 1))?;
        let response = self.send(version, &request)?;
        if let Err(e) = check(response.error_code, response.error_message.as_ref()) {
            return Ok(Err(e));
        }
        let mut results = BTreeMap::new();
        for topic in &response.responses {
            for p in &topic.partitions {
                let outcome = check(p.error_code, p.error_message.as_ref());
                results.insert((topic.name.0.to_string(), p.partition_index), outcome);
            }
        }
        Ok(Ok(results))
    }

    /// ListPartitionReassignments of every partition.
    pub fn list_partition_reassignments(
        &mut self,
    ) -> Result<Result<BTreeMap<TopicPartition, OngoingReassignment>, BrokerError>, AdminError>
    {
        let request = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(REASSIGNMENT_TIMEOUT_MS)
            .with_topics(None);
        let version = self.version::<ListPartitionReassignmentsRequest>((0, 0))?;
        let response = self.send(version, &request)?;
        if let Err(e) = check(response.error_code, response.error_message.as_ref()) {
            return Ok(Err(e));
        }
        let mut ongoing = BTreeMap::new();
        for topic in &response.topics {
            for p in &topic.partitions {
                ongoing.insert(
                    (topic.name.0.to_string(), p.partition_index),
                    OngoingReassignment {
                        replicas: ids(&p.replicas),
                        adding: ids(&p.adding_replicas),
                        removing: ids(&p.removing_replicas),
                    },
                );
            }
        }
        Ok(Ok(ongoing))
    }
}

//! Partition reassignment at the controller, after Kafka's `PartitionReassignmentReplicas`,
//! `PartitionReassignmentRevert` and `ReplicationControlManager.alterPartitionReassignments`
//! / `listPartitionReassignments`: the PartitionChangeRecords a reassignment writes and the
//! answers of AlterPartitionReassignments (45) and ListPartitionReassignments (46). On the
//! brokers, the publisher makes an added replica a follower and deletes the copy of a replica
//! that left.
//!
//! A reassignment goes through Kafka's stages: (1) one PartitionChangeRecord puts the target
//! replicas and the ones being removed in the replica list (target first) and records the
//! adding and removing replicas; (2) the adding replicas fetch, catch up and join the ISR
//! through the leader's AlterPartition; (3) once the ISR holds every target replica, the
//! `PartitionChangeBuilder` completing that AlterPartition also writes the final assignment,
//! the removed replicas out of the replicas and the ISR, a new leader if the old one left.
//! A reassignment that only reorders replicas already in sync completes at once.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::partition_change::{Election, PartitionChangeBuilder};
use super::{is_active, ControllerResult};
use crate::config::BrokerConfig;
use crate::error::ApiError;
use crate::metadata::{MetadataImage, MetadataRecord, PartitionChangeRecord, PartitionImage};
use crate::topic_config;

/// A partition's replicas during a reassignment (Kafka's `PartitionReassignmentReplicas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignmentReplicas {
    /// Replicas the reassignment removes (current, not target).
    pub removing: Vec<i32>,
    /// Replicas the reassignment adds (target, not current).
    pub adding: Vec<i32>,
    /// The replica list while it runs: the target replicas, then the removing ones.
    pub replicas: Vec<i32>,
}

impl PartitionReassignmentReplicas {
    /// The reassignment from `current` to `target` replicas (sets in ascending order, as
    /// Kafka's `TreeSet` difference).
    pub fn new(current: &[i32], target: &[i32]) -> Self {
        let difference = |a: &[i32], b: &[i32]| {
            let mut out: Vec<i32> = a.iter().copied().filter(|r| !b.contains(r)).collect();
            out.sort_unstable();
            out.dedup();
            out
        };
        let removing = difference(current, target);
        let adding = difference(target, current);
        let mut replicas = target.to_vec();
        replicas.extend(&removing);
        Self { removing, adding, replicas }
    }

    /// Whether a reassignment is in progress.
    pub fn is_in_progress(&self) -> bool {
        !self.removing.is_empty() || !self.adding.is_empty()
    }

    /// Kafka's `maybeCompleteReassignment`: the final (replicas, ISR) once `isr` holds every
    /// replica that stays; `None` while it does not, or when nothing would remain.
    pub fn maybe_complete_reassignment(&self, isr: &[i32]) -> Option<(Vec<i32>, Vec<i32>)> {
        if !self.is_in_progress() {
            return None;
        }
        let staying = |list: &[i32]| -> Vec<i32> {
            list.iter().copied().filter(|r| !self.removing.contains(r)).collect()
        };
        let new_isr = staying(isr);
        let new_replicas = staying(&self.replicas);
        if new_isr.is_empty() || new_replicas.is_empty() {
            return None;
        }
        new_replicas.iter().all(|r| new_isr.contains(r)).then_some((new_replicas, new_isr))
    }

    /// The replicas before the reassignment (the adding ones taken out).
    pub fn original_replicas(&self) -> Vec<i32> {
        self.replicas.iter().copied().filter(|r| !self.adding.contains(r)).collect()
    }
}

fn ongoing(partition: &PartitionImage) -> PartitionReassignmentReplicas {
    PartitionReassignmentReplicas {
        removing: partition.removing_replicas.clone(),
        adding: partition.adding_replicas.clone(),
        replicas: partition.replicas.clone(),
    }
}

/// Whether `partition` is being reassigned.
pub fn is_reassignment_in_progress(partition: &PartitionImage) -> bool {
    ongoing(partition).is_in_progress()
}

/// One partition of AlterPartitionReassignments (Kafka's `alterPartitionReassignment`):
/// `target` replicas start (or replace) a reassignment, `None` cancels the one in progress.
/// UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT (empty, duplicates, unregistered
/// brokers, a cancellation that would need an unclean election it may not have),
/// NO_REASSIGNMENT_IN_PROGRESS; INVALID_REPLICATION_FACTOR when the target's replica count
/// differs from the partition's (its ongoing reassignment's target, if any) and
/// `allow_replication_factor_change` is off (KIP-860); `Ok(None)` when nothing changes.
pub fn alter_partition_reassignment(
    image: &MetadataImage,
    config: &BrokerConfig,
    topic_name: &str,
    partition_id: i32,
    target: Option<&[i32]>,
    allow_replication_factor_change: bool,
) -> Result<Option<PartitionChangeRecord>, ApiError> {
    let unknown = |message: String| ApiError::new(ResponseError::UnknownTopicOrPartition, message);
    let topic = image
        .topic(topic_name)
        .ok_or_else(|| unknown(format!("Unable to find a topic named {topic_name}.")))?;
    let partition = topic
        .partitions
        .get(&partition_id)
        .ok_or_else(|| unknown(format!("Unable to find partition {topic_name}:{partition_id}.")))?;
    let acceptable = |r: i32| is_active(image, r);
    let builder = PartitionChangeBuilder::new(partition, topic.topic_id, partition_id, &acceptable);
    let Some(target) = target else {
        // Kafka's cancelPartitionReassignment with PartitionReassignmentRevert.
        let reassignment = ongoing(partition);
        if !reassignment.is_in_progress() {
            return Err(ApiError::new(
                ResponseError::NoReassignmentInProgress,
                "No partition reassignment is in progress.",
            ));
        }
        let replicas = reassignment.original_replicas();
        let mut isr: Vec<i32> =
            partition.isr.iter().copied().filter(|r| !reassignment.adding.contains(r)).collect();
        let unclean_allowed = topic_config::unclean_leader_election_enable(config, &topic.configs);
        if isr.is_empty() {
            if !unclean_allowed {
                return Err(ApiError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Unable to revert partition assignment for {topic_name}:{partition_id} \
                         because it would require an unclean leader election."
                    ),
                ));
            }
            isr.extend(replicas.first());
        }
        let election = if unclean_allowed { Election::Unclean } else { Election::Online };
        return Ok(builder
            .election(election)
            .target_isr(isr)
            .target_replicas(replicas)
            .target_removing(Vec::new())
            .target_adding(Vec::new())
            .build());
    };
    validate_manual_partition_assignment(image, target)?;
    if !allow_replication_factor_change {
        let ongoing = ongoing(partition);
        let current = if ongoing.is_in_progress() {
            partition.replicas.len() - ongoing.removing.len()
        } else {
            partition.replicas.len()
        };
        if current != target.len() {
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor,
                format!("The replication factor is changed from {current} to {}", target.len()),
            ));
        }
    }
    let reassignment = PartitionReassignmentReplicas::new(&partition.replicas, target);
    let mut builder = builder;
    if reassignment.replicas != partition.replicas {
        builder = builder.target_replicas(reassignment.replicas.clone());
    }
    if !reassignment.removing.is_empty() {
        builder = builder.target_removing(reassignment.removing.clone());
    }
    if !reassignment.adding.is_empty() {
        builder = builder.target_adding(reassignment.adding.clone());
    }
    Ok(builder.build())
}

/// AlterPartitionReassignments (Kafka's `alterPartitionReassignments`): each partition's
/// change or its error, the records committed together (Kafka's `atomicOf`).
pub fn alter_partition_reassignments(
    image: &MetadataImage,
    config: &BrokerConfig,
    request: &AlterPartitionReassignmentsRequest,
) -> ControllerResult<AlterPartitionReassignmentsResponse> {
    let mut records = Vec::new();
    let mut responses = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let mut response = ReassignableTopicResponse::default().with_name(topic.name.clone());
        for partition in &topic.partitions {
            let target: Option<Vec<i32>> =
                partition.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
            let outcome = alter_partition_reassignment(
                image,
                config,
                &name,
                partition.partition_index,
                target.as_deref(),
                request.allow_replication_factor_change,
            );
            let mut result = ReassignablePartitionResponse::default()
                .with_partition_index(partition.partition_index);
            match outcome {
                Ok(change) => records.extend(change.map(MetadataRecord::PartitionChange)),
                Err(e) => {
                    tracing::info!(
                        topic = name,
                        partition = partition.partition_index,
                        "unable to alter the partition reassignment: {}",
                        e.message
                    );
                    result = result
                        .with_error_code(e.code())
                        .with_error_message(Some(StrBytes::from_string(e.message)));
                }
            }
            response.partitions.push(result);
        }
        responses.push(response);
    }
    let response = AlterPartitionReassignmentsResponse::default().with_responses(responses);
    ControllerResult { records, response }
}

/// ListPartitionReassignments (Kafka's `listPartitionReassignments`): every reassigning
/// partition (topics `null`), or those of the partitions asked for; unknown topics and
/// partitions not being reassigned are left out.
pub fn list_partition_reassignments(
    image: &MetadataImage,
    request: &ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let ids = |list: &[i32]| list.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let describe = |topic: &crate::metadata::TopicImage, wanted: Option<&[i32]>| {
        let partitions: Vec<OngoingPartitionReassignment> = topic
            .partitions
            .iter()
            .filter(|(id, p)| {
                wanted.is_none_or(|w| w.contains(id)) && is_reassignment_in_progress(p)
            })
            .map(|(id, p)| {
                OngoingPartitionReassignment::default()
                    .with_partition_index(*id)
                    .with_replicas(ids(&p.replicas))
                    .with_adding_replicas(ids(&p.adding_replicas))
                    .with_removing_replicas(ids(&p.removing_replicas))
            })
            .collect();
        (!partitions.is_empty()).then(|| {
            OngoingTopicReassignment::default()
                .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
                .with_partitions(partitions)
        })
    };
    let topics = match &request.topics {
        None => image.topics().filter_map(|t| describe(t, None)).collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|w| {
                image.topic(w.name.0.as_str()).and_then(|t| describe(t, Some(&w.partition_indexes)))
            })
            .collect(),
    };
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

/// Kafka's `validateManualPartitionAssignment` for a reassignment's target.
fn validate_manual_partition_assignment(
    image: &MetadataImage,
    replicas: &[i32],
) -> Result<(), ApiError> {
    let invalid =
        |message: String| Err(ApiError::new(ResponseError::InvalidReplicaAssignment, message));
    if replicas.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    for (index, broker) in replicas.iter().enumerate() {
        if replicas[..index].contains(broker) {
            return invalid(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            ));
        }
        if !image.brokers().contains_key(broker) {
            return invalid(format!(
                "The manual partition assignment includes broker {broker}, but no such broker \
                 is registered."
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_support::{applied, cluster, TOPIC_ID};
    use crate::metadata::{MetadataRecord, NO_LEADER_CHANGE};

    fn partition_of(image: &MetadataImage) -> PartitionImage {
        image.topic("t").unwrap().partitions[&0].clone()
    }

    fn isr_change(isr: &[i32]) -> MetadataRecord {
        let mut change = PartitionChangeRecord::new(TOPIC_ID, 0);
        change.isr = Some(isr.to_vec());
        MetadataRecord::PartitionChange(change)
    }

    #[test]
    fn replicas_during_a_reassignment_are_kafkas() {
        let r = PartitionReassignmentReplicas::new(&[1, 2, 3], &[3, 4, 5]);
        assert_eq!((r.removing.clone(), r.adding.clone()), (vec![1, 2], vec![4, 5]));
        assert_eq!(r.replicas, vec![3, 4, 5, 1, 2]);
        assert_eq!(r.original_replicas(), vec![3, 1, 2]);
        assert_eq!(r.maybe_complete_reassignment(&[1, 2, 3, 4]), None, "5 not in sync yet");
        let done = r.maybe_complete_reassignment(&[1, 2, 3, 4, 5]);
        assert_eq!(done, Some((vec![3, 4, 5], vec![3, 4, 5])));
        // A reorder only: nothing in progress, nothing to complete.
        let reorder = PartitionReassignmentReplicas::new(&[1, 2, 3], &[3, 1, 2]);
        assert!(!reorder.is_in_progress());
    }

    /// Broker 4 joins, 1 leaves, 1 led: stage 1 records the interim assignment; the ISR
    /// growth that brings 4 in completes it — 1 out of replicas and ISR, a new leader.
    #[test]
    fn a_reassignment_completes_when_the_target_replicas_are_in_sync() {
        let mut image = cluster(&[&[1, 2, 3]]);
        let four = crate::controller::test_support::registration(4);
        image = applied(&image, &[MetadataRecord::RegisterBroker(four)]);
        let config = BrokerConfig::default();
        let start = alter_partition_reassignment(&image, &config, "t", 0, Some(&[4, 2, 3]), true)
            .unwrap()
            .unwrap();
        assert_eq!(start.replicas, Some(vec![4, 2, 3, 1]));
        assert_eq!(
            (start.adding_replicas.clone(), start.removing_replicas.clone()),
            (Some(vec![4]), Some(vec![1]))
        );
        // Every current replica is still in the interim list: no new leader epoch yet.
        assert_eq!(start.leader, NO_LEADER_CHANGE);
        let during = applied(&image, &[MetadataRecord::PartitionChange(start)]);
        assert!(is_reassignment_in_progress(&partition_of(&during)));

        // The leader's AlterPartition adds 4 to the ISR: the builder completes the reassignment.
        let p = partition_of(&during);
        let alive = |r: i32| is_active(&during, r);
        let done = PartitionChangeBuilder::new(&p, TOPIC_ID, 0, &alive)
            .target_isr(vec![1, 2, 3, 4])
            .build()
            .unwrap();
        let after = applied(&during, &[MetadataRecord::PartitionChange(done)]);
        let p = partition_of(&after);
        assert_eq!((p.replicas.clone(), p.isr.clone()), (vec![4, 2, 3], vec![2, 3, 4]));
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
        assert_eq!(p.leader, 4, "1 left: the first in-sync target replica in replica order leads");
        assert_eq!(p.leader_epoch, partition_of(&during).leader_epoch + 1);
        assert!(!is_reassignment_in_progress(&p));
    }

    #[test]
    fn reassignments_are_refused_and_cancelled_as_kafka_does() {
        let image = cluster(&[&[1, 2]]);
        let config = BrokerConfig::default();
        let error = |target: Option<&[i32]>, topic: &str| {
            alter_partition_reassignment(&image, &config, topic, 0, target, true).unwrap_err().error
        };
        assert_eq!(error(Some(&[1, 9]), "t"), ResponseError::InvalidReplicaAssignment);
        assert_eq!(error(Some(&[1, 1]), "t"), ResponseError::InvalidReplicaAssignment);
        assert_eq!(error(Some(&[]), "t"), ResponseError::InvalidReplicaAssignment);
        assert_eq!(error(Some(&[1]), "nope"), ResponseError::UnknownTopicOrPartition);
        assert_eq!(error(None, "t"), ResponseError::NoReassignmentInProgress);
        // Same replicas: nothing to write. A reorder of in-sync replicas: done at once.
        assert!(alter_partition_reassignment(&image, &config, "t", 0, Some(&[1, 2]), true)
            .unwrap()
            .is_none());
        let reorder = alter_partition_reassignment(&image, &config, "t", 0, Some(&[2, 1]), true)
            .unwrap()
            .unwrap();
        assert_eq!(
            (reorder.replicas.clone(), reorder.adding_replicas.clone()),
            (Some(vec![2, 1]), None)
        );

        // Cancelled before 3 caught up: back to [1, 2], 3 out.
        let start = alter_partition_reassignment(&image, &config, "t", 0, Some(&[3, 2]), true)
            .unwrap()
            .unwrap();
        let during = applied(&image, &[MetadataRecord::PartitionChange(start)]);
        assert_eq!(partition_of(&during).replicas, vec![3, 2, 1]);
        let cancel =
            alter_partition_reassignment(&during, &config, "t", 0, None, true).unwrap().unwrap();
        let reverted = partition_of(&applied(&during, &[MetadataRecord::PartitionChange(cancel)]));
        assert_eq!((reverted.replicas, reverted.isr), (vec![2, 1], vec![1, 2]));
        assert!(reverted.adding_replicas.is_empty() && reverted.removing_replicas.is_empty());

        // Only the adding replica in sync: reverting needs an unclean election.
        let only_3 = applied(&during, &[isr_change(&[3])]);
        let refused =
            alter_partition_reassignment(&only_3, &config, "t", 0, None, true).unwrap_err();
        assert_eq!(refused.error, ResponseError::InvalidReplicaAssignment);
    }

    /// KIP-860: with `allow_replication_factor_change` off, a target of another size is
    /// refused as Kafka refuses it; during a reassignment the size that counts is its target's.
    #[test]
    fn a_replication_factor_change_is_refused_unless_allowed() {
        let image = cluster(&[&[1, 2]]);
        let config = BrokerConfig::default();
        let guarded = |image: &MetadataImage, target: &[i32]| {
            alter_partition_reassignment(image, &config, "t", 0, Some(target), false)
        };
        let refused = guarded(&image, &[1, 2, 3]).unwrap_err();
        assert_eq!(refused.error, ResponseError::InvalidReplicationFactor);
        assert_eq!(refused.message, "The replication factor is changed from 2 to 3");
        assert_eq!(
            guarded(&image, &[1]).unwrap_err().message,
            "The replication factor is changed from 2 to 1"
        );
        let start = guarded(&image, &[3, 2]).unwrap().unwrap();
        let during = applied(&image, &[MetadataRecord::PartitionChange(start)]);
        assert_eq!(partition_of(&during).replicas, vec![3, 2, 1]);
        assert!(guarded(&during, &[2, 3]).is_ok(), "the ongoing target has two replicas");
        assert_eq!(
            guarded(&during, &[1, 2, 3]).unwrap_err().message,
            "The replication factor is changed from 2 to 3"
        );
    }
}
